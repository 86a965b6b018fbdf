"""Fix: a device certificate knows its registered CA, and ``DescribeCertificate`` says which.

moto 5.2.5 links a certificate to a CA only when ``RegisterCertificate`` carries the CA's exact PEM, and
``DescribeCertificate`` never returns ``caCertificateId``. AWS links the certificate to the registered CA that
signed it (``caCertificatePem`` is only needed to disambiguate CAs with the same subject) and returns
``caCertificateId`` and ``certificateMode``. Here: if no CA was matched by PEM, the registered CA whose subject is
the certificate's issuer *and* whose key verifies the signature is linked (``localcloud.services.iot.ca_link``).
"""
from __future__ import annotations

from typing import Any

from ..patching import Patch

NAME = "iot_ca_link"
PATCH = Patch(NAME)


def apply() -> None:
    from ..compat.moto.iot import FakeCaCertificate, FakeCertificate, IoTBackend
    from ..services.iot.ca_link import signing_ca_id

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

    PATCH.set(IoTBackend, "register_certificate", register_certificate)
    PATCH.set(FakeCertificate, "to_description_dict", to_description_dict)


def revert() -> None:
    PATCH.undo()
