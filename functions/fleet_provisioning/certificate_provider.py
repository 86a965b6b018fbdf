"""The certificate provider Lambda: AWS IoT calls it for every CreateCertificateFromCsr of fleet provisioning once
the account's certificate provider names it; it returns the device certificate signed by our intermediate CA, whose
key signs through KMS (``kms:Sign``; the key never leaves KMS) exactly as the provisioning API's
(``provisioning_api/issuer.py``).

Input: the CSR in ``certificateSigningRequest``; output ``{"certificatePem": ...}``
(https://docs.aws.amazon.com/iot/latest/developerguide/provisioning-cert-provider.html). Nothing else of the input is
relied on: the device's proof travels in the CSR itself (``proof.py``).

Every claim holder can call CreateCertificateFromCsr, so a certificate of our CA is issued only when, in order:

1. the CSR is well formed, self-signed, its CN a thing name (the serial) and not a reserved one (``contract.names``);
2. it carries an enrolment proof (``proof.read``: challengePassword ``v1.<timestamp>.<nonce>.<signature>``) no
   older or newer than ``contract.proofs.MAX_AGE_SECONDS``;
3. the serial's allow-list entry (``<application>-allow-list``, consistent read in this region: the primary's) exists,
   is ``unprovisioned`` or ``issuing`` (not with a more recent proof), and its ``VerifyingKey`` verifies the proof,
   which covers the serial, the timestamp, the nonce and the CSR key's digest. Exactly one verification is made
   whatever the entry says (a dummy key of the signature's shape when there is no usable entry:
   ``authenticity.key_for``), so neither the answer nor its time reveals enrolment;
4. the entry is moved to ``issuing`` for this very certificate by one conditional write (``admission.record_issue``),
   superseding a certificate issued before it that the hook has not admitted.

The certificate carries the fleet policy OID (``contract.fleet.FLEET_POLICY_OID``): the JITR inspector never activates such a
certificate the hook has not admitted. Anything else raises, and AWS rejects the request on
``$aws/certificates/create-from-csr/json/rejected``; the exception's message is the same for an unknown serial, a bad
proof and a provisioned serial (the reason is logged), so the claim cannot list the enrolled serials.

Environment: ``CA_SIGNING_KEY_ARN`` (the KMS key holding the intermediate's key), ``CA_CERTIFICATE_PEM`` (the
intermediate, registered in IoT), ``ALLOW_LIST_TABLE``. ``AWS_REGION`` is Lambda's.
"""
from __future__ import annotations

import datetime as dt
import functools
import os
import time
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Mapping

import boto3
from cryptography import x509
from cryptography.x509.oid import NameOID

from contract import allow_list, metrics, names, proofs

from . import admission, proof

# The provisioning API's key checks and certificate issuer (cryptography, so not contract material): one folder up
# in tests and the local cloud (``functions.provisioning_api``), a top-level package at the root of the Lambda zip.
try:
    from ..provisioning_api import authenticity, issuer
except ImportError:  # "attempted relative import beyond top-level package": the Lambda zip's layout
    from provisioning_api import authenticity, issuer  # the zip's layout only

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

    serial: str = ""  # for the log record only (_refuse)
    reason: str = ""


def subject_name(csr_pem: str) -> str:
    """The CSR's CN, which must be a thing name."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except (ValueError, TypeError, AttributeError) as error:
        raise CertificateRequestRefused(f"certificateSigningRequest is not a PEM CSR ({error})") from None
    common_names = [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if len(common_names) != 1 or not names.is_thing_name(common_names[0]):
        raise CertificateRequestRefused(f"the CSR's CN must be the device's serial (a thing name), got {common_names}")
    reserved = names.refusal(common_names[0])  # no certificate of our CA for a canary's name, ever
    if reserved:
        raise CertificateRequestRefused(f"the CSR's CN {reserved}")
    return common_names[0]


def _refuse(serial: str, reason: str) -> CertificateRequestRefused:
    """The one answer every refused claim holder gets; the serial and the reason travel to the log record only."""
    refused = CertificateRequestRefused(NOT_CERTIFIED)
    refused.serial, refused.reason = serial, reason
    return refused


def certify(event: Mapping[str, Any], signer: issuer.Signer, entries: AllowList,
            clock: Callable[[], float] = time.time, *, emit: Callable[..., Any] | None = None) -> dict[str, str]:
    """The provider's answer for one CreateCertificateFromCsr (see the module docstring for the checks). Each answer
    is handed to ``emit`` (the handler's: ``contract.metrics.emit``, one ``FleetCertificateRequests`` line with the
    serial and, for a refusal, why; None: nothing is written)."""
    emit = emit or (lambda *args, **kwargs: None)
    try:
        answer, fields = _certify(event, signer, entries, clock)
    except CertificateRequestRefused as refused:
        serial = getattr(refused, "serial", None)
        emit([(metrics.FLEET_CERTIFICATES, 1)], dimensions={"Verdict": "Refused"}, fields={
            "level": "WARNING", "message": "certificate request refused",
            "thingName": serial if isinstance(serial, str) else None,
            "reason": getattr(refused, "reason", None) or str(refused)})
        raise
    emit([(metrics.FLEET_CERTIFICATES, 1)], dimensions={"Verdict": "Certified"}, fields=fields)
    return answer


def _certify(event: Mapping[str, Any], signer: issuer.Signer, entries: AllowList,
             clock: Callable[[], float]) -> tuple[dict[str, str], dict[str, Any]]:
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
    if abs(now - found.timestamp) > proofs.MAX_AGE_SECONDS:
        raise _refuse(name, f"the proof is {int(now - found.timestamp)} s from the provider's clock")
    entry = allow_list.read(entries.dynamodb, entries.table, name)
    status = entry.get("Status") if entry else None
    if entry is None:
        refusal = "not on the allow-list"
    elif status not in (allow_list.UNPROVISIONED, allow_list.ISSUING):
        refusal = f"the entry is {status}"
    elif status == allow_list.ISSUING and int(entry.get("ProofTimestamp") or 0) > found.timestamp:
        refusal = "a more recent proof was recorded already"
    else:
        refusal = ""
    key_digest = proof.public_key_digest(key)
    # Exactly one verification whatever the entry says, with the enrolled key or a dummy of the signature's shape
    # (authenticity.key_for), so the refusal's latency does not tell an enrolled serial from an unknown one.
    verifying_key, enrolled = authenticity.key_for(None if refusal or entry is None else entry.get("VerifyingKey"), found.signature)
    try:
        authenticity.verify(verifying_key, proofs.fleet_message(name, found.timestamp, found.nonce, key_digest),
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
    certificate_id = issuer.certificate_id(pem)
    try:
        superseded = admission.record_issue(
            entries.dynamodb, entries.table, name, verifying_key=verifying_key, certificate_id=certificate_id,
            nonce=found.nonce, timestamp=found.timestamp, key_digest=key_digest, region=entries.region,
            now=dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    except admission.NotAdmitted as refused:
        raise _refuse(name, str(refused)) from None
    return {"certificatePem": pem}, {"level": "INFO", "message": "certificate issued", "thingName": name,
                                     "certificateId": certificate_id, "supersedes": superseded}


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
                   AllowList(_dynamodb(region), env["ALLOW_LIST_TABLE"], region), emit=metrics.emit)
