"""Fix: ``UpdateCertificate`` follows AWS's status rules instead of setting any status.

AWS: "Once a certificate is revoked, its status can't be changed. That is, the certificate status can't be
changed to Active or any other status" (developer guide, revoke-ca-cert.html); "Setting the status to
PENDING_TRANSFER or PENDING_ACTIVATION will result in an exception being thrown" (the ``newStatus`` member in
botocore's model); "This operation is idempotent" (the operation's documentation). moto 5.2.5 sets whatever
status it is given ("TODO: validate new_status").

Model (error codes from the operation's modelled errors):

* ``REVOKED`` -> anything but ``REVOKED``: ``CertificateStateException`` (HTTP 406, "The certificate operation
  is not allowed"), nothing changes;
* ``REVOKED`` -> ``REVOKED``: success, nothing changes (idempotent: revoking twice is not an error);
* any -> ``PENDING_ACTIVATION`` / ``PENDING_TRANSFER``: ``InvalidRequestException`` (HTTP 400). AWS documents
  that an exception is thrown, not which; the request names a status developers may not set, so the
  request-validation error is used. Unknown certificates still raise ``ResourceNotFoundException`` first.
"""
from __future__ import annotations

from typing import Any

from ..patching import Patch

NAME = "iot_certificate_status"
PATCH = Patch(NAME)

INTERNAL_STATUSES = ("PENDING_ACTIVATION", "PENDING_TRANSFER")


def apply() -> None:
    from ..compat.moto.iot import CertificateStateException, InvalidRequestException, IoTBackend

    original = IoTBackend.update_certificate

    def update_certificate(self: Any, certificate_id: str, new_status: str) -> None:
        certificate = self.describe_certificate(certificate_id)
        if new_status in INTERNAL_STATUSES:
            raise InvalidRequestException(
                f"Certificate status {new_status} is used internally by AWS IoT and cannot be set"
            )
        if certificate.status == "REVOKED":
            if new_status == "REVOKED":
                return None
            raise CertificateStateException(
                f"The certificate operation is not allowed: certificate is REVOKED and cannot become {new_status}.",
                certificate_id,
            )
        return original(self, certificate_id, new_status)

    PATCH.set(IoTBackend, "update_certificate", update_certificate)


def revert() -> None:
    PATCH.undo()
