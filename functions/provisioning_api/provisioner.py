"""Provision a device in this region, undoing every step already taken if a later one fails.

Steps (each recorded in a journal as it succeeds): register the certificate (ACTIVE, with our CA), create the
thing recording its owner certificate in the attribute ``certificateId`` (as JITR and the replicate machine do:
docs/design.md "One owner per thing name"), attach the device policy, attach the certificate to the thing, and the
commit point: the inventory item, written with JITR's conditional write (``certificate_inspector/claim.py``, verdict
NEW: only if no item exists), so replication carries the device to every region.

``rollback`` undoes the journal in reverse: detach, deactivate and delete the certificate, delete the thing it
created. Detaching propagates asynchronously in AWS IoT ("It might take several seconds"), so deletions are retried
for a while; what still cannot be deleted is revoked, so it can never connect, and named in the error.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization

try:  # a package in tests and in the Lambda zip (functions/ is the zip's root)
    from ..certificate_inspector import claim as inventory_claim
except (ImportError, ValueError):  # pragma: no cover - provisioning_api imported as a top-level package
    from certificate_inspector import claim as inventory_claim  # type: ignore[no-redef]

OWNER_ATTRIBUTE = "certificateId"  # = builders.asl.jitr.OWNER_ATTRIBUTE


class ThingNameTaken(Exception):
    """The inventory already names another certificate for this thing (a device that arrived another way)."""


class RollbackIncomplete(Exception):
    """Something created could not be deleted; it was revoked or is named here for an operator."""


def certificate_id(certificate_pem: str) -> str:
    """SHA-256 of the DER: the certificate's id in every region (as AWS IoT computes it)."""
    der = x509.load_pem_x509_certificate(certificate_pem.encode()).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


@dataclass
class Provisioning:
    iot: Any
    dynamodb: Any
    inventory_table: str
    device_policy_name: str
    region: str
    ca_certificate_id: str
    ca_certificate_pem: str
    sleep: Callable[[float], None] = time.sleep
    delete_attempts: int = 10
    journal: list[tuple[str, str]] = field(default_factory=list)

    def run(self, thing_name: str, certificate_pem: str, registered_at: str) -> dict[str, str]:
        """Provision and commit; returns the inventory item as written. Raises after ``rollback`` is needed."""
        iot = self.iot
        response = iot.register_certificate(certificatePem=certificate_pem, caCertificatePem=self.ca_certificate_pem,
                                            status="ACTIVE")
        arn, cid = response["certificateArn"], response["certificateId"]
        self.journal.append(("certificate", arn))
        try:
            iot.create_thing(thingName=thing_name, attributePayload={"attributes": {OWNER_ATTRIBUTE: cid}})
        except iot.exceptions.ResourceAlreadyExistsException:
            raise ThingNameTaken(f"a thing named {thing_name!r} already exists here for another certificate") from None
        self.journal.append(("thing", thing_name))
        iot.attach_policy(policyName=self.device_policy_name, target=arn)
        self.journal.append(("policy", arn))
        iot.attach_thing_principal(thingName=thing_name, principal=arn)
        self.journal.append(("attachment", arn))
        item = {"ThingName": thing_name, "CertificateId": cid, "CertificatePem": certificate_pem,
                "CaCertificateId": self.ca_certificate_id, "OriginRegion": self.region, "RegisteredAt": registered_at,
                "PendingCertificateId": "", "PreviousCertificateId": "", "Verdict": "NEW"}
        try:
            inventory_claim.write(self.dynamodb, self.inventory_table, item)
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            current = self.dynamodb.get_item(TableName=self.inventory_table, Key={"ThingName": {"S": thing_name}},
                                             ConsistentRead=True).get("Item") or {}
            if current.get("CertificateId", {}).get("S") != cid:
                raise ThingNameTaken(f"the inventory names another certificate for {thing_name!r}") from None
        self.journal.clear()  # committed: nothing is undone from here on
        return {k: v for k, v in item.items() if k != "Verdict"}

    def rollback(self) -> None:
        """Undo the journal in reverse; raise ``RollbackIncomplete`` naming what is left (revoked)."""
        iot, left = self.iot, []
        for kind, target in reversed(self.journal):
            try:
                if kind == "attachment":
                    iot.detach_thing_principal(thingName=self._thing(), principal=target)
                elif kind == "policy":
                    iot.detach_policy(policyName=self.device_policy_name, target=target)
                elif kind == "thing":
                    self._retry(lambda: iot.delete_thing(thingName=target))
                elif kind == "certificate":
                    cid = target.rsplit("/", 1)[-1]
                    iot.update_certificate(certificateId=cid, newStatus="INACTIVE")
                    try:
                        self._retry(lambda: iot.delete_certificate(certificateId=cid))
                    except Exception:
                        iot.update_certificate(certificateId=cid, newStatus="REVOKED")
                        raise
            except Exception as error:  # keep undoing the rest
                left.append(f"{kind} {target} ({type(error).__name__})")
        self.journal.clear()
        if left:
            raise RollbackIncomplete("left after rollback (certificates revoked): " + "; ".join(left))

    def _thing(self) -> str:
        return next(t for k, t in self.journal if k == "thing")

    def _retry(self, call: Callable[[], Any]) -> None:
        """Deletion right after a detach fails until the detach has propagated: retry with a short backoff."""
        for attempt in range(self.delete_attempts):
            try:
                call()
                return
            except (self.iot.exceptions.InvalidRequestException, self.iot.exceptions.DeleteConflictException,
                    self.iot.exceptions.CertificateStateException):
                if attempt == self.delete_attempts - 1:
                    raise
                self.sleep(min(0.2 * 2 ** attempt, 3.0))
