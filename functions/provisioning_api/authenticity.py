"""Is the request the enrolled device's, and fresh? Signature with the per-device verifying key, timestamp window.

The verifying key is the device's own (recorded on the allow-list at manufacturing), never a key shared by every
device: one leaked device key then provisions one device, not the fleet. Ed25519, or ECDSA on P-256/P-384 with
SHA-256 (DER-encoded signature, as ``openssl dgst -sha256 -sign`` writes it).

:func:`authentic` is what the provisioning API asks, and it answers a name that is not enrolled exactly as it
answers a bad signature for an enrolled one, after the same work (issue 21): exactly one verification, with the
enrolled key when it is of the kind the signature looks like (64 bytes: Ed25519; a DER ECDSA signature: P-256 or
P-384), else with a dummy key of that kind, so neither the answer nor its time tells an enrolled serial from an
unknown one. The fleet certificate provider does the same (:func:`key_for`).
"""
from __future__ import annotations

from cryptography.exceptions import InvalidSignature

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from contract import proofs


class NotAuthentic(Exception):
    """The signature does not verify with the enrolled key (or the key is unusable)."""


class Stale(Exception):
    """The timestamp is outside the accepted window."""


def load_verifying_key(pem: str) -> ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey:
    """An enrolled verifying key: Ed25519, or EC on P-256 / P-384."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as error:
        raise NotAuthentic(f"the enrolled verifying key is not a PEM public key ({error})") from None
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in ("secp256r1", "secp384r1"):
        return key
    raise NotAuthentic(f"the enrolled verifying key is a {type(key).__name__}; only Ed25519 and EC P-256/P-384 "
                       "keys are accepted")


VerifyingKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


def _public_pem(key: VerifyingKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


#: One throwaway key per kind, made per container: no one holds their private halves, so nothing verifies with them.
_DUMMY_PEMS = {
    "ed25519": _public_pem(ed25519.Ed25519PrivateKey.generate().public_key()),
    "p256": _public_pem(ec.generate_private_key(ec.SECP256R1()).public_key()),
    "p384": _public_pem(ec.generate_private_key(ec.SECP384R1()).public_key()),
}


def _shape(signature: bytes) -> str:
    """The kind of key ``signature`` looks made by: Ed25519's are 64 bytes; DER ECDSA P-256 at most 72, P-384 104."""
    if len(signature) == 64:
        return "ed25519"
    return "p256" if len(signature) <= 80 else "p384"


def _kind(key: VerifyingKey) -> str:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    return "p384" if key.curve.key_size >= 384 else "p256"


def _verify(key: VerifyingKey, message: bytes, signature: bytes) -> bool:
    """One signature verification (the unit of work :func:`authentic` keeps equal for every name)."""
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        else:
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):  # ValueError: bytes that are not a signature of this kind at all
        return False
    return True


def key_for(verifying_key_pem: str | None, signature: bytes) -> tuple[str, bool]:
    """The PEM to verify ``signature`` with, and whether it is the enrolled key: the enrolled key when it is usable
    and of the kind the signature's shape shows, else the dummy of that shape. Either way exactly one verification
    with a key of the signature's shape follows, so its cost does not depend on enrolment (issue 21)."""
    shape = _shape(signature)
    if verifying_key_pem:
        try:
            if _kind(load_verifying_key(verifying_key_pem)) == shape:
                return verifying_key_pem, True
        except NotAuthentic:
            pass
    return _DUMMY_PEMS[shape], False


def authentic(verifying_key_pem: str | None, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is the enrolled key's signature of ``message``; ``verifying_key_pem`` is None (or
    unusable) for a name that is not enrolled. Exactly one verification, always with a key of the signature's shape
    (:func:`key_for`): the enrolled key, or the dummy when there is none or it is of another kind. A genuine ECDSA
    signature whose DER happens to be 64 bytes long (odds below 2^-40) is then refused; the device's next request,
    signed anew, passes."""
    pem, enrolled = key_for(verifying_key_pem, signature)
    verified = _verify(load_verifying_key(pem), message, signature)
    return verified and enrolled


def verify(verifying_key_pem: str, message: bytes, signature: bytes) -> None:
    """Raise ``NotAuthentic`` unless ``signature`` is the enrolled key's signature of ``message``."""
    if not _verify(load_verifying_key(verifying_key_pem), message, signature):
        raise NotAuthentic("the signature does not verify with the device's enrolled key")


def check_fresh(timestamp: int, now: float, max_age: int = proofs.MAX_AGE_SECONDS) -> None:
    if abs(now - timestamp) > max_age:
        raise Stale(f"the request's timestamp is {int(now - timestamp)} s from the server's clock; requests are "
                    f"accepted within {max_age} s: sign a new request with the current time")
