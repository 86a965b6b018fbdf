"""Fix: ``DeleteCertificate`` refuses as AWS does, sees attachments still propagating, and cleans up on force.

AWS: "A certificate cannot be deleted if it has a policy or IoT thing attached to it or if its status is set to
ACTIVE"; ``forceDelete`` "Forces the deletion of a certificate if it is inactive and is not attached to an IoT
thing" (API reference, DeleteCertificate). Modelled errors: ``CertificateStateException`` (406) and
``DeleteConflictException`` (409, "You can't delete the resource because it is attached to one or more
resources").

moto 5.2.5 already uses those codes, but finds attachments by resolving the principal of every attachment in the
region (a scan that also breaks on non-certificate principals), and a forced delete leaves the certificate's
policy attachments behind (``ListTargetsForPolicy`` keeps naming a deleted certificate). Here:

* ``ACTIVE`` -> ``CertificateStateException``;
* a thing attached, including one whose ``DetachThingPrincipal`` has not propagated yet
  (``iot_detach_propagation``) -> ``DeleteConflictException``, with or without ``forceDelete``;
* a policy attached and no ``forceDelete`` -> ``DeleteConflictException``;
* otherwise the certificate is deleted, and with ``forceDelete`` its policy attachments with it.
"""
from __future__ import annotations

from typing import Any

from ..patching import Patch

NAME = "iot_delete_certificate"
PATCH = Patch(NAME)


def apply() -> None:
    from ..compat.moto.iot import CertificateStateException, DeleteConflictException, IoTBackend

    def delete_certificate(self: Any, certificate_id: str, force_delete: bool) -> None:
        certificate = self.describe_certificate(certificate_id)  # ResourceNotFoundException
        if certificate.status == "ACTIVE":
            raise CertificateStateException(
                "Certificate must be deactivated (not ACTIVE) before deletion.", certificate_id
            )
        arn = certificate.arn
        if self.list_principal_things(arn):
            raise DeleteConflictException(f"Things must be detached before deletion (arn: {arn})")
        policies = self.list_principal_policies(arn)
        if policies and not force_delete:
            raise DeleteConflictException(f"Certificate policies must be detached before deletion (arn: {arn})")
        for policy in policies:
            self.principal_policies.pop((arn, policy.name), None)
        del self.certificates[certificate_id]

    PATCH.set(IoTBackend, "delete_certificate", delete_certificate)


def revert() -> None:
    PATCH.undo()
