"""Fix: an IoT certificate id is the SHA-256 of the certificate's DER encoding, whatever moto's config says.

moto 5.2.5 hashes the PEM text unless ``config={"iot": {"use_valid_cert": True}}``; the same certificate must
have the same id in every region (the inventory relies on it). Input that is not a parseable certificate keeps
moto's PEM hash so moto's own dummy-certificate tests still work.
"""
from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..patching import Patch

NAME = "iot_certificate_ids"
PATCH = Patch(NAME)


def certificate_id(certificate_pem: str) -> str:
    """SHA-256 hex of the DER encoding of ``certificate_pem`` (AWS IoT's certificate id)."""
    der = x509.load_pem_x509_certificate(certificate_pem.encode("utf-8")).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def _compute_cert_id(self, certificate_pem: str) -> str:
    try:
        return certificate_id(certificate_pem)
    except ValueError:
        return self.compute_pem_cert_id(certificate_pem)


def apply() -> None:
    from ..compat.moto.iot import FakeCertificate

    PATCH.set(FakeCertificate, "compute_cert_id", _compute_cert_id)


def revert() -> None:
    PATCH.undo()
