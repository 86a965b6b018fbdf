"""Fix: ``RegisterCACertificate`` keeps ``certificateMode`` and ``allowAutoRegistration``; describe returns them.

moto 5.2.5 drops both, so a deployer cannot prove the CA is SNI_ONLY with auto-registration (JITR) enabled.
``UpdateCACertificate``'s ``newAutoRegistrationStatus`` is honoured too.
"""
from __future__ import annotations

from typing import Any

from ..patching import Patch

NAME = "iot_ca_registration"
PATCH = Patch(NAME)


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def apply() -> None:
    from ..compat.moto.iot import FakeCaCertificate, IoTResponse

    original_register = IoTResponse.register_ca_certificate
    original_update = IoTResponse.update_ca_certificate
    original_description = FakeCaCertificate.to_description_dict

    def register_ca_certificate(self: Any) -> Any:
        result = original_register(self)
        pem = self._get_param("caCertificate")
        for ca in self.iot_backend.ca_certificates.values():
            if ca.certificate_pem == pem:
                ca.certificate_mode = self._get_param("certificateMode") or "DEFAULT"
                ca.auto_registration_status = "ENABLE" if _truthy(self._get_param("allowAutoRegistration")) else "DISABLE"
        return result

    def update_ca_certificate(self: Any) -> Any:
        result = original_update(self)
        status = self._get_param("newAutoRegistrationStatus")
        if status:
            self.iot_backend.describe_ca_certificate(self.path.split("/")[-1]).auto_registration_status = status
        return result

    def to_description_dict(self: Any) -> dict[str, Any]:
        description = original_description(self)
        description["certificateMode"] = getattr(self, "certificate_mode", "DEFAULT")
        description["autoRegistrationStatus"] = getattr(self, "auto_registration_status", "DISABLE")
        return description

    PATCH.set(IoTResponse, "register_ca_certificate", register_ca_certificate)
    PATCH.set(IoTResponse, "update_ca_certificate", update_ca_certificate)
    PATCH.set(FakeCaCertificate, "to_description_dict", to_description_dict)


def revert() -> None:
    PATCH.undo()
