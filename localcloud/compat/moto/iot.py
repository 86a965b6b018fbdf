"""moto's IoT: the backends and their models, the response class, the exceptions."""
from __future__ import annotations

from . import internals

with internals():
    from moto.iot.exceptions import (
        CertificateStateException,
        DeleteConflictException,
        InvalidRequestException,
        IoTClientError,
        ResourceAlreadyExistsException,
        ResourceNotFoundException,
        ThingStillAttached,
    )
    from moto.iot.models import FakeCaCertificate, FakeCertificate, IoTBackend, iot_backends
    from moto.iot.responses import IoTResponse

__all__ = [
    "CertificateStateException",
    "DeleteConflictException",
    "FakeCaCertificate",
    "FakeCertificate",
    "InvalidRequestException",
    "IoTBackend",
    "IoTClientError",
    "IoTResponse",
    "ResourceAlreadyExistsException",
    "ResourceNotFoundException",
    "ThingStillAttached",
    "iot_backends",
]
