"""Provision a device in this region, and undo an attempt that did not commit, from what the registry holds now.

Shared by the provisioning API (``functions/provisioning_api/service.py``) and ``python -m ops allow-list reset``
(``ops/allow_list.py``), which must undo an attempt with exactly the same steps (was
``functions/provisioning_api/provisioner.py``). The boto3 clients are arguments: no SDK is imported here.

``run``: register the certificate (ACTIVE, with our CA), make the thing record it as its owner in the attribute
``certificateId`` (as JITR and the replicate machine do: docs/design.md "One owner per thing name"), attach the
device policy, attach the certificate to the thing, and the commit point: the inventory item, written with JITR's
conditional write (``contract/items.py`` CLAIM_EXPRESSION), so replication carries the device to
every region. The condition is NEW (no item yet) or, after ``python -m ops allow-list reset``, a replacement: the
item is ACTIVE and still names the certificate the reset recorded; the new item then names that one as
``PreviousCertificateId``, the inventory's rotation, which every region's replicate machine retires (revoked).
In that case the thing already records the replaced certificate and is handed over (UpdateThing with
``expectedVersion``: refused with VersionConflictException if anything changed it since it was read, API reference
UpdateThing) instead of created.

``clean`` undoes an attempt (certificate id) that did not commit. It reads the registry rather than trusting a
journal kept in memory, so the rollback, the next request (after an invocation died or a rollback was refused) and
``ops allow-list reset`` all run the same idempotent steps: detach the certificate from the thing and the device
policy, set it INACTIVE, delete the thing only if it records this certificate as its owner (else hand it back to
the certificate it replaced, or leave it: a thing that records another owner is never ours to take), delete the
certificate. Detaching propagates asynchronously ("It might take several seconds for the detachment to
propagate", DetachThingPrincipal) and DeleteThing is refused meanwhile (docs/emulator.md sections 1-2), so the
deletions are retried briefly; what still cannot go raises ``CleanupPending`` with the certificate revoked (never
left usable), and the attempt stays journaled on the allow-list entry for whoever comes next.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .items import ACTIVE, CLAIM_CONDITIONS, CLAIM_EXPRESSION, CLAIM_NAMES, OWNER_ATTRIBUTE, REPLACE_CONDITION


class ThingNameTaken(Exception):
    """The name belongs to another certificate (a device that arrived another way): the thing or the inventory
    item records it."""


class Busy(Exception):
    """Something else changed the thing while this attempt read it (UpdateThing's VersionConflictException)."""


class CleanupPending(Exception):
    """Part of an attempt could not be removed yet (a detach still propagating); its certificate is revoked."""


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
    #: Tries of each deletion while detaches propagate: 0.2 + 0.4 + 0.8 + 1.6 s of waiting, then ``CleanupPending``
    #: (the function has 30 s in all; the next request or a reset carries on).
    delete_attempts: int = 5

    # ---- provisioning ---------------------------------------------------------------------------------------------
    def run(self, thing_name: str, certificate_pem: str, certificate_id: str, registered_at: str,
            replaces: str | None = None) -> dict[str, str]:
        """Provision and commit; returns the inventory item as written. On an error, ``clean`` undoes the attempt.
        ``certificate_id``: the SHA-256 of the certificate's DER, as the caller computed it for the journal."""
        iot = self.iot
        response = iot.register_certificate(certificatePem=certificate_pem, caCertificatePem=self.ca_certificate_pem,
                                            status="ACTIVE")
        arn, cid = response["certificateArn"], response["certificateId"]
        if cid != certificate_id:  # the journal names the attempt by the id computed before
            self.clean(thing_name, cid)
            raise RuntimeError(f"IoT registered the certificate as {cid}, not as the SHA-256 of its DER")
        self._own_thing(thing_name, cid, replaces)
        iot.attach_policy(policyName=self.device_policy_name, target=arn)
        iot.attach_thing_principal(thingName=thing_name, principal=arn)
        item = {"ThingName": thing_name, "CertificateId": cid, "CertificatePem": certificate_pem,
                "CaCertificateId": self.ca_certificate_id, "OriginRegion": self.region, "RegisteredAt": registered_at,
                "PendingCertificateId": "", "PreviousCertificateId": replaces or ""}
        self._commit(item, replaces)
        return item

    def _own_thing(self, thing_name: str, cid: str, replaces: str | None) -> None:
        iot = self.iot
        try:
            iot.create_thing(thingName=thing_name, attributePayload={"attributes": {OWNER_ATTRIBUTE: cid}})
            return
        except iot.exceptions.ResourceAlreadyExistsException:
            pass
        thing = iot.describe_thing(thingName=thing_name)
        recorded = (thing.get("attributes") or {}).get(OWNER_ATTRIBUTE)
        if not replaces or recorded != replaces:
            raise ThingNameTaken(f"a thing named {thing_name!r} already exists here for another certificate")
        self._record_owner(thing_name, cid, thing["version"])

    def _record_owner(self, thing_name: str, cid: str, version: int) -> None:
        try:
            self.iot.update_thing(thingName=thing_name, expectedVersion=version,
                                  attributePayload={"attributes": {OWNER_ATTRIBUTE: cid}, "merge": True})
        except self.iot.exceptions.VersionConflictException:
            raise Busy(f"the thing {thing_name!r} changed while it was being handed over") from None

    def _commit(self, item: dict[str, str], replaces: str | None) -> None:
        """The inventory write (the commit point); a lost condition is decided again on a consistent read."""
        values = {":cid": item["CertificateId"], ":pem": item["CertificatePem"], ":ca": item["CaCertificateId"],
                  ":origin": item["OriginRegion"], ":at": item["RegisteredAt"], ":pending": "",
                  ":previous": item["PreviousCertificateId"], ":active": ACTIVE}
        if replaces:
            values[":replaces"] = replaces
        try:
            self.dynamodb.update_item(
                TableName=self.inventory_table, Key={"ThingName": {"S": item["ThingName"]}},
                UpdateExpression=CLAIM_EXPRESSION,
                ConditionExpression=REPLACE_CONDITION if replaces else CLAIM_CONDITIONS["NEW"],
                ExpressionAttributeNames=CLAIM_NAMES,
                ExpressionAttributeValues={name: {"S": value} for name, value in values.items()})
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            current = self.committed(item["ThingName"], item["CertificateId"])
            if current is None:
                raise ThingNameTaken(f"the inventory names another certificate for {item['ThingName']!r}") from None

    def committed(self, thing_name: str, cid: str) -> dict[str, str] | None:
        """The inventory item (consistent read) if it names ``cid``: that attempt reached its commit point."""
        item = self.dynamodb.get_item(TableName=self.inventory_table, Key={"ThingName": {"S": thing_name}},
                                      ConsistentRead=True).get("Item") or {}
        if item.get("CertificateId", {}).get("S") != cid:
            return None
        return {k: v["S"] for k, v in item.items() if "S" in v}

    # ---- undoing an attempt ---------------------------------------------------------------------------------------
    def clean(self, thing_name: str, cid: str, replaces: str | None = None) -> None:
        """Undo what an uncommitted attempt for ``cid`` left in this region (idempotent; see the module docstring).
        ``replaces``: the certificate the thing recorded before the attempt handed it over, if any."""
        iot = self.iot
        arn = self._certificate_arn(cid)
        thing = self._thing(thing_name)
        if arn:
            if thing is not None:
                self._quietly(lambda: iot.detach_thing_principal(thingName=thing_name, principal=arn))
            self._quietly(lambda: iot.detach_policy(policyName=self.device_policy_name, target=arn))
            self._set_status(cid, "INACTIVE")  # unusable from here on, whatever happens next
        try:
            if thing is not None and (thing.get("attributes") or {}).get(OWNER_ATTRIBUTE) == cid:
                if replaces:
                    try:
                        self._record_owner(thing_name, replaces, thing["version"])
                    except Busy as busy:
                        raise CleanupPending(str(busy)) from None
                else:
                    self._retry(lambda: iot.delete_thing(thingName=thing_name), f"the thing {thing_name!r}")
            if arn:
                self._retry(lambda: iot.delete_certificate(certificateId=cid), f"the certificate {cid}")
        except CleanupPending:
            if arn:
                self._set_status(cid, "REVOKED")  # revocation is final: it can never connect
            raise

    def _certificate_arn(self, cid: str) -> str | None:
        try:
            return self.iot.describe_certificate(certificateId=cid)["certificateDescription"]["certificateArn"]
        except self.iot.exceptions.ResourceNotFoundException:
            return None

    def _thing(self, thing_name: str) -> dict[str, Any] | None:
        try:
            return self.iot.describe_thing(thingName=thing_name)
        except self.iot.exceptions.ResourceNotFoundException:
            return None

    def _set_status(self, cid: str, status: str) -> None:
        try:
            self.iot.update_certificate(certificateId=cid, newStatus=status)
        except (self.iot.exceptions.CertificateStateException, self.iot.exceptions.ResourceNotFoundException):
            pass  # already REVOKED (final) or gone

    def _quietly(self, call: Callable[[], Any]) -> None:
        """A detach that may already be done (not attached, or gone)."""
        try:
            call()
        except (self.iot.exceptions.ResourceNotFoundException, self.iot.exceptions.InvalidRequestException):
            pass

    def _retry(self, call: Callable[[], Any], what: str) -> None:
        """A deletion refused until the detaches have propagated: retried with a short backoff, then
        ``CleanupPending``. Already gone counts as done."""
        iot = self.iot
        for attempt in range(self.delete_attempts):
            try:
                call()
                return
            except iot.exceptions.ResourceNotFoundException:
                return
            except (iot.exceptions.InvalidRequestException, iot.exceptions.DeleteConflictException,
                    iot.exceptions.CertificateStateException) as error:
                if attempt == self.delete_attempts - 1:
                    raise CleanupPending(f"{what} cannot be deleted yet ({type(error).__name__}): a detach is "
                                         "still propagating") from None
                self.sleep(min(0.2 * 2 ** attempt, 2.0))
