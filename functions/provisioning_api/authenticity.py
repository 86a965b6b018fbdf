"""Is the request the enrolled device's, and fresh? Signature with the per-device verifying key, timestamp window.

The verifying key is the device's own (recorded on the allow-list at manufacturing), never a key shared by every
device: one leaked device key then provisions one device, not the fleet. Ed25519, or ECDSA on P-256/P-384 with
SHA-256 (DER-encoded signature, as ``openssl dgst -sha256 -sign`` writes it).
"""
from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

#: A request older or further in the future than this is refused (clock skew of devices included).
MAX_AGE_SECONDS = 300


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


def verify(verifying_key_pem: str, message: bytes, signature: bytes) -> None:
    """Raise ``NotAuthentic`` unless ``signature`` is the enrolled key's signature of ``message``."""
    key = load_verifying_key(verifying_key_pem)
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        else:
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise NotAuthentic("the signature does not verify with the device's enrolled key") from None


def check_fresh(timestamp: int, now: float, max_age: int = MAX_AGE_SECONDS) -> None:
    if abs(now - timestamp) > max_age:
        raise Stale(f"the request's timestamp is {int(now - timestamp)} s from the server's clock; requests are "
                    f"accepted within {max_age} s: sign a new request with the current time")
