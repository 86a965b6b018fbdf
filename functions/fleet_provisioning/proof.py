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
``provisioning_api.authenticity``) over ``contract.proofs.fleet_message``: a fixed label, the serial, the
timestamp, the nonce and the SHA-256 of the CSR key's SubjectPublicKeyInfo (the wire format is
``contract/proofs.py``'s; this module reads and writes it in a CSR). So a proof names one serial and one key: whoever holds the claim but
not the device's enrolled key gets no certificate, and a captured proof certifies nothing but the device's own key.

Every certificate the provider issues carries the certificate policy ``contract.fleet.FLEET_POLICY_OID`` (an OID in
the UUID arc 2.25, ITU-T X.667, which needs no registration; :func:`fleet_policy`): the JITR inspector refuses to
activate such a certificate unless the inventory already names it, i.e. the pre-provisioning hook admitted it
(``certificate_inspector/inspector.py``; both read the mark with ``contract.fleet.is_fleet_issued``).

Pure: cryptography and the standard library only (the Lambdas import it as ``fleet_provisioning.proof``; the device
tool as ``functions.fleet_provisioning.proof``).
"""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import AttributeOID, NameOID

from contract import fleet, proofs

#: The certificate policy of every certificate the fleet certificate provider issues (2.25 = UUID arc, X.667).
FLEET_POLICY_OID = x509.ObjectIdentifier(fleet.FLEET_POLICY_OID)


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
    try:
        return Proof(*proofs.parse_fleet_proof(text))
    except ValueError as error:
        raise ProofError(str(error)) from None


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
    signature = sign(signing_key, proofs.fleet_message(serial, timestamp, nonce,
                                                       public_key_digest(tls_key.public_key())))
    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, serial)]))
               .add_attribute(AttributeOID.CHALLENGE_PASSWORD,
                              proofs.encode_fleet_proof(timestamp, nonce, signature).encode())
               .sign(tls_key, hashes.SHA256()))
    return request.public_bytes(serialization.Encoding.PEM).decode()


def fleet_policy() -> x509.CertificatePolicies:
    """The certificate policies extension marking a fleet-issued certificate (``contract.fleet.is_fleet_issued``)."""
    return x509.CertificatePolicies([x509.PolicyInformation(FLEET_POLICY_OID, None)])
