"""Throw-away X.509 material for the probes: a CA, device certificates it signs, keys and CSRs (EC P-256, SHA-256).

Nothing here is written to disk except, for a live MQTT connection, a private temporary folder that is removed at
once (``ssl`` loads certificates and keys from files only).
"""
from __future__ import annotations

import datetime
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

_VALID = datetime.timedelta(days=2)


@dataclass(frozen=True)
class Material:
    """A certificate and its private key, both PEM."""

    certificate_pem: str
    key_pem: str


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def new_ca(common_name: str) -> Material:
    """A self-signed CA (basic constraints CA, keyCertSign) valid for two days."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name)).issuer_name(_name(common_name))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + _VALID)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Material(certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"), _key_pem(key))


def _sign(ca: Material, subject: x509.Name, public_key: CertificatePublicKeyTypes) -> str:
    issuer = x509.load_pem_x509_certificate(ca.certificate_pem.encode("ascii"))
    signer = serialization.load_pem_private_key(ca.key_pem.encode("ascii"), password=None)
    if not isinstance(signer, ec.EllipticCurvePrivateKey):
        raise ValueError(f"the conformance CA's key is a {type(signer).__name__}, not the EC key new_ca() makes")
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer.subject)
        .public_key(public_key).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + _VALID)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
        .sign(signer, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def issue(ca: Material, common_name: str) -> Material:
    """A client certificate with CN ``common_name`` signed by ``ca`` (a new key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return Material(_sign(ca, _name(common_name), key.public_key()), _key_pem(key))


def new_csr(common_name: str) -> tuple[str, str]:
    """(CSR PEM, key PEM) for a new key with CN ``common_name``."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(_name(common_name)).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii"), _key_pem(key)


def sign_csr(ca: Material, csr_pem: str) -> str:
    """The certificate ``ca`` issues for ``csr_pem`` (a new serial each call)."""
    csr = x509.load_pem_x509_csr(csr_pem.encode("ascii"))
    return _sign(ca, csr.subject, csr.public_key())


@contextmanager
def files(material: Material, chain_pem: str = "") -> Iterator[tuple[Path, Path]]:
    """(certificate file, key file) in a private temporary folder for the block; the certificate file holds
    ``chain_pem`` after the certificate (e.g. its CA, sent in the handshake)."""
    with tempfile.TemporaryDirectory(prefix="iotmr-conf-") as folder:
        certificate, key = Path(folder, "cert.pem"), Path(folder, "key.pem")
        descriptor = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(material.key_pem)
        certificate.write_text(material.certificate_pem.rstrip("\n") + "\n" + chain_pem, encoding="ascii")
        yield certificate, key
