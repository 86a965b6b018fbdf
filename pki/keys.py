"""Private keys: generation by key type, PEM encoding (optionally encrypted), loading, matching.

Key types are named the way the CLI spells them (``ec-p256``, ``rsa-2048`` ...). EC P-256 is the
default for devices and the server: it is what AWS IoT handles fastest and it makes issuing
thousands of device keys a matter of seconds.
"""

from __future__ import annotations

import os
from typing import Literal, cast, get_args

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from pki.errors import PkiError

KeyType = Literal["ec-p256", "ec-p384", "rsa-2048", "rsa-4096"]
KEY_TYPES: tuple[str, ...] = get_args(KeyType)
DEFAULT_KEY_TYPE: KeyType = "ec-p256"

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

PASSPHRASE_ENV = "PKI_CA_PASSPHRASE"  # noqa: S105 - the variable's name, not a passphrase
"""Environment variable holding the CA keys' passphrase (never taken from the command line)."""

_CURVES = {"ec-p256": ec.SECP256R1, "ec-p384": ec.SECP384R1}
_RSA_BITS = {"rsa-2048": 2048, "rsa-4096": 4096}
_ACCEPTED_CURVES = {"secp256r1", "secp384r1"}


def check_key_type(key_type: str) -> KeyType:
    """Return ``key_type`` if it is supported, else raise a :class:`PkiError` listing the choices."""
    if key_type not in KEY_TYPES:
        raise PkiError(f"unknown key type {key_type!r}: choose one of {', '.join(KEY_TYPES)}")
    return cast(KeyType, key_type)


def generate_private_key(key_type: str = DEFAULT_KEY_TYPE) -> PrivateKey:
    """A fresh private key of ``key_type``."""
    check_key_type(key_type)
    if key_type in _CURVES:
        return ec.generate_private_key(_CURVES[key_type]())
    return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[key_type])


def signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    """The digest a CA with ``key`` signs with: SHA-384 for P-384, SHA-256 otherwise."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def check_public_key(public_key: object, what: str) -> PublicKey:
    """Accept the public keys AWS IoT accepts (EC P-256/P-384, RSA >= 2048), else raise."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name in _ACCEPTED_CURVES:
            return public_key
        raise PkiError(f"{what} uses curve {public_key.curve.name}: use EC P-256 or P-384")
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size >= 2048:
            return public_key
        raise PkiError(f"{what} is RSA-{public_key.key_size}: use at least RSA-2048")
    raise PkiError(f"{what} has an unsupported key type {type(public_key).__name__}: use EC P-256 or RSA")


def private_key_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM of ``key``, encrypted with ``passphrase`` when one is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def is_encrypted_pem(pem: bytes) -> bool:
    """True if ``pem`` holds an encrypted private key (PKCS#8 or legacy OpenSSL encryption)."""
    return b"ENCRYPTED PRIVATE KEY" in pem or b"Proc-Type: 4,ENCRYPTED" in pem


def load_private_key(pem: bytes, *, source: str, passphrase: bytes | None = None) -> PrivateKey:
    """Parse a PEM private key; ``source`` names it in error messages."""
    if is_encrypted_pem(pem) and not passphrase:
        raise PkiError(
            f"{source} is encrypted: set {PASSPHRASE_ENV} to its passphrase in the environment"
        )
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase if is_encrypted_pem(pem) else None)
    except (ValueError, TypeError) as exc:
        if is_encrypted_pem(pem):
            raise PkiError(f"cannot decrypt {source}: wrong passphrase in {PASSPHRASE_ENV}?") from exc
        raise PkiError(f"{source} is not a readable PEM private key ({exc})") from exc
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise PkiError(f"{source} holds a {type(key).__name__}: only EC and RSA keys are supported")
    return key


def public_key_der(key: CertificatePublicKeyTypes) -> bytes:
    """SubjectPublicKeyInfo DER, the form two keys are compared in."""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def keys_match(private_key: PrivateKey, public_key: CertificatePublicKeyTypes) -> bool:
    """True if ``private_key`` is the private half of ``public_key``."""
    return public_key_der(private_key.public_key()) == public_key_der(public_key)


def passphrase_from_env(env_var: str = PASSPHRASE_ENV) -> bytes | None:
    """The CA passphrase from ``env_var``, or None when it is unset. An empty value is an error."""
    value = os.environ.get(env_var)
    if value is None:
        return None
    if value == "":
        raise PkiError(
            f"{env_var} is set but empty: unset it for unencrypted CA keys or give it the passphrase"
        )
    return value.encode("utf-8")
