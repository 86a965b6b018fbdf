"""Fix: a device certificate knows its registered CA, and ``DescribeCertificate`` says which.

moto 5.2.5 links a certificate to a CA only when ``RegisterCertificate`` carries the CA's exact PEM, and
``DescribeCertificate`` never returns ``caCertificateId``. AWS links the certificate to the registered CA that
signed it (``caCertificatePem`` is only needed to disambiguate CAs with the same subject) and returns
``caCertificateId`` and ``certificateMode``. Here: if no CA was matched by PEM, the registered CA whose subject is
the certificate's issuer *and* whose key verifies the signature is linked.
"""
from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from ._patching import Ledger

NAME = "iot_ca_link"
LEDGER = Ledger(NAME)


def signing_ca(backend: Any, certificate: x509.Certificate) -> Any | None:
    """The CA registered in ``backend`` that issued and signed ``certificate``, or None."""
    for ca in backend.ca_certificates.values():
        try:
            ca_certificate = x509.load_pem_x509_certificate(ca.certificate_pem.encode("utf-8"))
            if ca_certificate.subject != certificate.issuer:
                continue
            certificate.verify_directly_issued_by(ca_certificate)
        except (ValueError, TypeError, InvalidSignature):  # not this CA (other issuer, key type or signature)
            continue
        return ca
    return None


def signing_ca_id(backend: Any, certificate_pem: str) -> str | None:
    """Id of the CA registered in ``backend`` that issued and signed ``certificate_pem``, or None."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode("utf-8"))
    except ValueError:
        return None
    ca = signing_ca(backend, certificate)
    return ca.certificate_id if ca is not None else None


def apply() -> None:
    from moto.iot.models import FakeCaCertificate, FakeCertificate, IoTBackend

    original_register = IoTBackend.register_certificate
    original_description = FakeCertificate.to_description_dict

    def register_certificate(self: Any, certificate_pem: str, ca_certificate_pem: str | None, set_as_active: bool, status: str) -> Any:
        certificate = original_register(self, certificate_pem, ca_certificate_pem, set_as_active, status)
        if certificate.ca_certificate_id is None:
            certificate.ca_certificate_id = signing_ca_id(self, certificate_pem)
        return certificate

    def to_description_dict(self: Any) -> dict[str, Any]:
        description = original_description(self)
        if not isinstance(self, FakeCaCertificate):
            if self.ca_certificate_id:
                description["caCertificateId"] = self.ca_certificate_id
            description.setdefault("certificateMode", getattr(self, "certificate_mode", "DEFAULT"))
        return description

    LEDGER.set(IoTBackend, "register_certificate", register_certificate)
    LEDGER.set(FakeCertificate, "to_description_dict", to_description_dict)


def revert() -> None:
    LEDGER.revert()
