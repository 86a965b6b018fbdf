"""The enrolment proof a device carries in its fleet provisioning CSR, and the mark of a fleet-issued certificate.

Why in the CSR: the certificate provider Lambda is documented to receive the CSR (``certificateSigningRequest``,
https://docs.aws.amazon.com/iot/latest/developerguide/provisioning-cert-provider.html); nothing else of the device's
request is relied on (docs/design.md, "Fleet provisioning by claim"). The proof goes in the CSR's PKCS#9
``challengePassword`` attribute (RFC 2985 section 5.4.1: "a password by which an entity may request certificate
revocation"; SCEP, RFC 8894 section 2.3, uses it to authorise enrolment), which the CSR's own signature covers: it
cannot be moved to another CSR, and ``openssl req`` can write it (``challengePassword`` in ``[req_attributes]``).

Value (ASCII, at most 255 characters as the attribute allows): ``v1.<timestamp>.<nonce>.<signature>``, where
``signature`` (base64url, no padding) is the device's enrolled signing key (the allow-list entry's
``VerifyingKey``: Ed25519, or ECDSA P-256/P-384 with SHA-256, as the provisioning API's
``provisioning_api.authenticity``) over :func:`message`: a fixed label, the serial, the timestamp, the nonce and the
SHA-256 of the CSR key's SubjectPublicKeyInfo. So a proof names one serial and one key: whoever holds the claim but
not the device's enrolled key gets no certificate, and a captured proof certifies nothing but the device's own key.

Every certificate the provider issues carries the certificate policy :data:`FLEET_POLICY_OID` (an OID in the UUID arc
2.25, ITU-T X.667, which needs no registration): the JITR inspector refuses to activate such a certificate unless the
inventory already names it, i.e. the pre-provisioning hook admitted it (``certificate_inspector/inspector.py``).

Pure: cryptography and the standard library only (the Lambdas import it as ``fleet_provisioning.proof``; the device
tool as ``functions.fleet_provisioning.proof``).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import AttributeOID, NameOID

LABEL = "iotmr-fleet-csr-v1"
VERSION = "v1"
#: A proof older or further in the future than this is refused (the provisioning API's window, device clock skew).
MAX_AGE_SECONDS = 300
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_VALUE = re.compile(r"v1\.([0-9]{1,12})\.([A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{40,200})")
#: The certificate policy of every certificate the fleet certificate provider issues (2.25 = UUID arc, X.667).
FLEET_POLICY_OID = x509.ObjectIdentifier("2.25.23466982737251781874461193425899130476")


class ProofError(Exception):
    """The CSR carries no readable proof (the message says what is wrong)."""


@dataclass(frozen=True)
class Proof:
    timestamp: int
    nonce: str
    signature: bytes


def public_key_digest(public_key: Any) -> str:
    """SHA-256 (hex) of the key's DER SubjectPublicKeyInfo."""
    return hashlib.sha256(public_key.public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def message(serial: str, timestamp: int, nonce: str, key_digest: str) -> bytes:
    """The bytes the enrolled signing key signs."""
    return "\n".join([LABEL, serial, str(int(timestamp)), nonce, key_digest]).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def encode(timestamp: int, nonce: str, signature: bytes) -> str:
    if not NONCE.fullmatch(nonce):
        raise ValueError("the nonce must be 16-64 URL-safe base64 characters")
    return f"{VERSION}.{int(timestamp)}.{nonce}.{_b64(signature)}"


def read(csr: x509.CertificateSigningRequest) -> Proof:
    """The proof in ``csr``'s challengePassword attribute; ``ProofError`` when there is none or it is malformed."""
    try:
        raw = csr.attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD).value
    except x509.AttributeNotFound:
        raise ProofError("the CSR has no challengePassword attribute carrying the enrolment proof") from None
    try:
        text = raw.decode("ascii")
    except (UnicodeDecodeError, AttributeError):
        raise ProofError("the CSR's challengePassword is not ASCII") from None
    found = _VALUE.fullmatch(text)
    if found is None:
        raise ProofError("the CSR's challengePassword is not an enrolment proof (v1.<timestamp>.<nonce>.<signature>)")
    try:
        signature = base64.urlsafe_b64decode(found.group(3) + "=" * (-len(found.group(3)) % 4))
    except (binascii.Error, ValueError):
        raise ProofError("the proof's signature is not base64url") from None
    return Proof(int(found.group(1)), found.group(2), signature)


def sign(signing_key: Any, data: bytes) -> bytes:
    """Sign with an enrolled signing key (Ed25519, or EC with SHA-256, DER-encoded as the verifier expects)."""
    if isinstance(signing_key, ed25519.Ed25519PrivateKey):
        return signing_key.sign(data)
    if isinstance(signing_key, ec.EllipticCurvePrivateKey):
        return signing_key.sign(data, ec.ECDSA(hashes.SHA256()))
    raise ValueError("the enrolled signing key must be Ed25519 or EC (PEM)")


def csr_pem(tls_key: Any, serial: str, signing_key: Any, *, timestamp: int | None = None,
            nonce: str | None = None) -> str:
    """A CSR (PEM) for the device's TLS key, CN = serial, carrying a fresh proof by its enrolled signing key."""
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    nonce = nonce or secrets.token_urlsafe(18)
    signature = sign(signing_key, message(serial, timestamp, nonce, public_key_digest(tls_key.public_key())))
    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, serial)]))
               .add_attribute(AttributeOID.CHALLENGE_PASSWORD, encode(timestamp, nonce, signature).encode())
               .sign(tls_key, hashes.SHA256()))
    return request.public_bytes(serialization.Encoding.PEM).decode()


def fleet_policy() -> x509.CertificatePolicies:
    """The certificate policies extension marking a fleet-issued certificate."""
    return x509.CertificatePolicies([x509.PolicyInformation(FLEET_POLICY_OID, None)])


def is_fleet_issued(certificate: x509.Certificate) -> bool:
    """Whether the fleet certificate provider issued ``certificate`` (it carries :data:`FLEET_POLICY_OID`)."""
    try:
        policies = certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound:
        return False
    return any(p.policy_identifier == FLEET_POLICY_OID for p in policies)
