"""The certificate provider Lambda: AWS IoT calls it for every CreateCertificateFromCsr of fleet provisioning once
the account's certificate provider names it; it returns the device certificate signed by our intermediate CA, whose
key signs through KMS (``kms:Sign``; the key never leaves KMS) exactly as the provisioning API's
(``provisioning_api/issuer.py``).

Input: the CSR in ``certificateSigningRequest``; output ``{"certificatePem": ...}``
(https://docs.aws.amazon.com/iot/latest/developerguide/provisioning-cert-provider.html). Nothing else of the input is
relied on: the device's proof travels in the CSR itself (``proof.py``).

Every claim holder can call CreateCertificateFromCsr, so a certificate of our CA is issued only when, in order:

1. the CSR is well formed, self-signed, its CN a thing name (the serial) and not a reserved one (``reserved_names``);
2. it carries an enrolment proof (``proof.read``: challengePassword ``v1.<timestamp>.<nonce>.<signature>``) no
   older or newer than ``proof.MAX_AGE_SECONDS``;
3. the serial's allow-list entry (``<application>-allow-list``, consistent read in this region: the primary's) exists,
   is ``unprovisioned`` or ``issuing`` (not with a more recent proof), and its ``VerifyingKey`` verifies the proof,
   which covers the serial, the timestamp, the nonce and the CSR key's digest. Exactly one verification is made
   whatever the entry says (a dummy key of the signature's shape when there is no usable entry:
   ``authenticity.key_for``), so neither the answer nor its time reveals enrolment;
4. the entry is moved to ``issuing`` for this very certificate by one conditional write (``admission.record_issue``),
   superseding a certificate issued before it that the hook has not admitted.

The certificate carries the fleet policy OID (``proof.FLEET_POLICY_OID``): the JITR inspector never activates such a
certificate the hook has not admitted. Anything else raises, and AWS rejects the request on
``$aws/certificates/create-from-csr/json/rejected``; the exception's message is the same for an unknown serial, a bad
proof and a provisioned serial (the reason is logged), so the claim cannot list the enrolled serials.

Environment: ``CA_SIGNING_KEY_ARN`` (the KMS key holding the intermediate's key), ``CA_CERTIFICATE_PEM`` (the
intermediate, registered in IoT), ``ALLOW_LIST_TABLE``. ``AWS_REGION`` is Lambda's.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

try:  # a package in tests and in the Lambda zip (functions/ is the zip's root)
    from .. import reserved_names
    from ..provisioning_api import allow_list, authenticity, issuer
    from ..provisioning_api.allow_list import UNPROVISIONED
    from ..provisioning_api.request import THING_NAME
    from . import admission, proof
except (ImportError, ValueError):  # pragma: no cover
    import reserved_names  # type: ignore[no-redef]
    from fleet_provisioning import admission, proof  # type: ignore[no-redef]
    from provisioning_api import allow_list, authenticity, issuer  # type: ignore[no-redef]
    from provisioning_api.allow_list import UNPROVISIONED  # type: ignore[no-redef]
    from provisioning_api.request import THING_NAME  # type: ignore[no-redef]

LOG = logging.getLogger(__name__)
#: What a refused claim holder is told, whatever the reason (the reason is logged): it reveals no enrolment.
NOT_CERTIFIED = ("no certificate: the CSR must carry a fresh enrolment proof (challengePassword) by the enrolled key "
                 "of a serial that is not provisioned yet")


@dataclass(frozen=True)
class AllowList:
    """Where the provider reads and claims the serial's entry: this region's replica (the primary's)."""

    dynamodb: Any
    table: str
    region: str


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
    reserved = reserved_names.refusal(names[0])  # no certificate of our CA for a canary's name, ever
    if reserved:
        raise CertificateRequestRefused(f"the CSR's CN {reserved}")
    return names[0]


def _refuse(serial: str, reason: str) -> CertificateRequestRefused:
    LOG.warning(json.dumps({"serial": serial, "certified": False, "reason": reason}))
    return CertificateRequestRefused(NOT_CERTIFIED)


def certify(event: Mapping[str, Any], signer: issuer.Signer, entries: AllowList,
            clock: Callable[[], float] = time.time) -> dict[str, str]:
    """The provider's answer for one CreateCertificateFromCsr (see the module docstring for the checks)."""
    csr_pem = event.get("certificateSigningRequest") if isinstance(event, Mapping) else None
    if not isinstance(csr_pem, str):
        raise CertificateRequestRefused("the event has no certificateSigningRequest")
    name = subject_name(csr_pem)
    try:
        key = issuer.check_csr(csr_pem, name)  # the CSR's self-signature covers the proof attribute
    except issuer.IssueError as error:
        raise CertificateRequestRefused(str(error)) from None
    try:
        found = proof.read(x509.load_pem_x509_csr(csr_pem.encode()))
    except proof.ProofError as error:
        raise _refuse(name, str(error)) from None
    now = clock()
    if abs(now - found.timestamp) > proof.MAX_AGE_SECONDS:
        raise _refuse(name, f"the proof is {int(now - found.timestamp)} s from the provider's clock")
    entry = allow_list.read(entries.dynamodb, entries.table, name)
    status = entry.get("Status") if entry else None
    if entry is None:
        refusal = "not on the allow-list"
    elif status not in (UNPROVISIONED, admission.ISSUING):
        refusal = f"the entry is {status}"
    elif status == admission.ISSUING and int(entry.get("ProofTimestamp") or 0) > found.timestamp:
        refusal = "a more recent proof was recorded already"
    else:
        refusal = ""
    key_digest = proof.public_key_digest(key)
    # Exactly one verification whatever the entry says, with the enrolled key or a dummy of the signature's shape
    # (authenticity.key_for), so the refusal's latency does not tell an enrolled serial from an unknown one.
    verifying_key, enrolled = authenticity.key_for(None if refusal else entry.get("VerifyingKey"), found.signature)
    try:
        authenticity.verify(verifying_key, proof.message(name, found.timestamp, found.nonce, key_digest),
                            found.signature)
        if not enrolled:
            refusal = refusal or "the enrolled verifying key is unusable or of another kind than the signature"
    except authenticity.NotAuthentic as error:
        refusal = refusal or str(error)
    if refusal:
        raise _refuse(name, refusal)
    try:
        pem = issuer.issue(signer, name, key, extensions=(proof.fleet_policy(),))
    except issuer.IssueError as error:
        raise CertificateRequestRefused(str(error)) from None
    certificate_id = hashlib.sha256(x509.load_pem_x509_certificate(pem.encode()).public_bytes(
        serialization.Encoding.DER)).hexdigest()
    try:
        superseded = admission.record_issue(
            entries.dynamodb, entries.table, name, verifying_key=verifying_key, certificate_id=certificate_id,
            nonce=found.nonce, timestamp=found.timestamp, key_digest=key_digest, region=entries.region,
            now=dt.datetime.fromtimestamp(now, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    except admission.NotAdmitted as refused:
        raise _refuse(name, str(refused)) from None
    LOG.info(json.dumps({"serial": name, "certified": True, "certificateId": certificate_id,
                         "supersedes": superseded}))
    return {"certificatePem": pem}


@functools.lru_cache(maxsize=4)
def _signer(region: str, key_arn: str, ca_pem: str) -> issuer.KmsSigner:
    return issuer.KmsSigner(boto3.client("kms", region_name=region), key_arn, ca_pem)


@functools.lru_cache(maxsize=4)
def _dynamodb(region: str) -> Any:
    return boto3.client("dynamodb", region_name=region)


def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    env = os.environ
    region = env["AWS_REGION"]
    return certify(event, _signer(region, env["CA_SIGNING_KEY_ARN"], env["CA_CERTIFICATE_PEM"]),
                   AllowList(_dynamodb(region), env["ALLOW_LIST_TABLE"], region))
