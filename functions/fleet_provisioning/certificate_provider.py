"""The certificate provider Lambda: AWS IoT calls it for every CreateCertificateFromCsr of fleet provisioning once
the account's certificate provider names it; it returns the device certificate signed by our intermediate CA, whose
key signs through KMS (``kms:Sign``; the key never leaves KMS) exactly as the provisioning API's
(``provisioning_api/issuer.py``).

Input: the CSR in ``certificateSigningRequest``; output ``{"certificatePem": ...}``
(https://docs.aws.amazon.com/iot/latest/developerguide/provisioning-cert-provider.html). The certificate's CN is
the CSR's CN, which must be a valid thing name: the device puts its serial there, and the pre-provisioning hook
admits the certificate only when that CN is the serial it provisions (so every device, however it arrived, has
CN = thing name, which JITR, replication and decommission rely on). Anything else raises: AWS then rejects the
request on ``$aws/certificates/create-from-csr/json/rejected``.

Environment: ``CA_SIGNING_KEY_ARN`` (the KMS key holding the intermediate's key), ``CA_CERTIFICATE_PEM`` (the
intermediate, registered in IoT). ``AWS_REGION`` is Lambda's.
"""
from __future__ import annotations

import functools
import os
from typing import Any, Mapping

import boto3
from cryptography import x509
from cryptography.x509.oid import NameOID

try:  # a package in tests and in the Lambda zip (functions/ is the zip's root)
    from ..provisioning_api import issuer
    from ..provisioning_api.request import THING_NAME
except (ImportError, ValueError):  # pragma: no cover
    from provisioning_api import issuer  # type: ignore[no-redef]
    from provisioning_api.request import THING_NAME  # type: ignore[no-redef]


class CertificateRequestRefused(Exception):
    """The CSR cannot be certified (the message says why; AWS answers the device with a rejection)."""


def subject_name(csr_pem: str) -> str:
    """The CSR's CN, which must be a thing name."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except (ValueError, TypeError, AttributeError) as error:
        raise CertificateRequestRefused(f"certificateSigningRequest is not a PEM CSR ({error})") from None
    names = [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if len(names) != 1 or not THING_NAME.fullmatch(names[0]):
        raise CertificateRequestRefused(f"the CSR's CN must be the device's serial (a thing name), got {names}")
    return names[0]


def certify(event: Mapping[str, Any], signer: issuer.Signer) -> dict[str, str]:
    """The provider's answer for one CreateCertificateFromCsr."""
    csr_pem = event.get("certificateSigningRequest") if isinstance(event, Mapping) else None
    if not isinstance(csr_pem, str):
        raise CertificateRequestRefused("the event has no certificateSigningRequest")
    name = subject_name(csr_pem)
    try:
        key = issuer.check_csr(csr_pem, name)
        return {"certificatePem": issuer.issue(signer, name, key)}
    except issuer.IssueError as error:
        raise CertificateRequestRefused(str(error)) from None


@functools.lru_cache(maxsize=4)
def _signer(region: str, key_arn: str, ca_pem: str) -> issuer.KmsSigner:
    return issuer.KmsSigner(boto3.client("kms", region_name=region), key_arn, ca_pem)


def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    env = os.environ
    return certify(event, _signer(env["AWS_REGION"], env["CA_SIGNING_KEY_ARN"], env["CA_CERTIFICATE_PEM"]))
