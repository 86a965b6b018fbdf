"""Pure logic of the certificate inspector: decide what a just-in-time-registered certificate is.

Given the IoT JITR event, with injected boto3 clients (``iot``, ``dynamodb``) of the Lambda's own region, it

0. takes the certificate's registration lease when a lease table is configured (``lease.py``): a duplicate
   execution (IoT repeats the event while the certificate is PENDING_ACTIVATION) stops here with
   ``RegistrationInProgress`` before any IoT call,
1. describes the certificate (PEM, ARN, issuing CA) and checks the CA is the one we registered,
2. reads the certificate's CN, which must be a valid thing name,
3. reads the device inventory item of that thing name from the local replica (consistent read),
4. decides a verdict and claims the thing name with a conditional write (``claim.py``, the commit point of JITR),
5. returns the verdict and the item's values as written:

- ``NEW``: no item; the device is registered here first (``OriginRegion`` = this region).
- ``KNOWN``: the item already holds this certificate (the device reached this region before replication, or a
  repeated registration event): nothing is written, so DynamoDB emits no stream record.
- ``ROTATION``: the item's ``PendingCertificateId`` is this certificate (an operator authorised a successor):
  the write makes it current and moves the old id to ``PreviousCertificateId``.

or raises a named error that the state machine catches by name:
``ThingNameClaimedByAnotherCertificate`` (impostor), ``InvalidThingName``, ``UnexpectedIssuer``,
``DeviceDecommissioned`` (the item is REVOKED), ``FleetCertificateNotAdmitted`` (a fleet-issued certificate with
verdict NEW: only the pre-provisioning hook admits those; left PENDING_ACTIVATION), ``InvalidJitrEvent`` (before the
lease), ``CertificateIdMismatch`` (after it: the lease is released), ``RegistrationInProgress`` (a duplicate);
``claim.ClaimLost`` when the item changed under the write in a way only a fresh registration event can decide (the
machine leaves the certificate PENDING_ACTIVATION, so the device's next connection retries).
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from contract import fleet, items, names

from . import checks, claim, lease

CERTIFICATE_ID = re.compile(r"[0-9a-f]{64}")


class InspectionError(Exception):
    """Base of the errors the JITR state machine catches by (class) name."""


class InvalidJitrEvent(InspectionError):
    """The input is not a JITR event (missing/ill-formed certificateId)."""


class CertificateIdMismatch(InspectionError):
    """The event's certificateId is not the SHA-256 of the certificate IoT describes for it. Raised after the lease
    is taken, so the machine's catch-all releases the lease (unlike ``InvalidJitrEvent``, refused before it)."""


class UnexpectedIssuer(InspectionError):
    """The certificate was not issued by the CA this deployment registered."""


class InvalidThingName(InspectionError):
    """The certificate's CN is missing, repeated or not a valid thing name."""


class ThingNameClaimedByAnotherCertificate(InspectionError):
    """The inventory holds this thing name with a different certificate: an impostor.

    Its message is the claim as a JSON object (``contract.errors.IMPOSTOR_CLAIM_FIELDS``): the JITR machine's catch
    route has no inspector result, and reads the thing name back from it to re-check the inventory after the
    quarantine."""

    def __init__(self, thing_name: str, certificate_id: str, owner_certificate_id: str) -> None:
        self.thing_name, self.certificate_id, self.owner_certificate_id = thing_name, certificate_id, owner_certificate_id
        super().__init__(json.dumps({
            "ThingName": thing_name, "CertificateId": certificate_id, "OwnerCertificateId": owner_certificate_id,
            "Reason": f"thing {thing_name!r} belongs to certificate {owner_certificate_id}; certificate "
                      f"{certificate_id} claims the same name",
        }))


class FleetCertificateNotAdmitted(InspectionError):
    """A certificate the fleet certificate provider issued (its policy OID) that the inventory does not name: the
    pre-provisioning hook never admitted it (superseded, or never registered). Not activated; it stays
    PENDING_ACTIVATION (the machine's catch-all), so once replication brings the item that names it, the device's
    next connection activates it (KNOWN), and a certificate never admitted is deleted by AWS after an hour
    (fleet-provision-api.html, CreateCertificateFromCsr)."""


class DeviceDecommissioned(InspectionError):
    """The inventory marks this device REVOKED; its certificate must not be activated again."""


RegistrationInProgress = lease.RegistrationInProgress


@dataclass(frozen=True)
class InspectorConfig:
    inventory_table: str
    expected_ca_certificate_id: str
    region: str
    lease_table: str = ""  # REGISTRATION_LEASE_TABLE: the deployed program always sets it (components/registration.py)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> InspectorConfig:
        missing = [name for name in ("INVENTORY_TABLE", "EXPECTED_CA_CERTIFICATE_ID", "AWS_REGION") if not environ.get(name)]
        if missing:
            raise RuntimeError(f"environment variable(s) {', '.join(missing)} not set; the function's configuration must define them")
        return cls(environ["INVENTORY_TABLE"], environ["EXPECTED_CA_CERTIFICATE_ID"], environ["AWS_REGION"],
                   environ.get("REGISTRATION_LEASE_TABLE", ""))


def _utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def thing_name_of(certificate: x509.Certificate) -> str:
    """The subject CN, validated as a thing name."""
    common_names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(common_names) != 1:
        raise InvalidThingName(f"certificate subject must have exactly one CN, found {len(common_names)}")
    name = str(common_names[0].value)
    if not names.is_thing_name(name):
        raise InvalidThingName(f"CN {name!r} is not a valid thing name (1-128 characters of a-z A-Z 0-9 : _ -)")
    reserved = names.refusal(name)  # canary-<region>: the program's own, never registered by JITR
    if reserved:
        raise InvalidThingName(f"CN {reserved}")
    return name


def _string(item: Mapping[str, Any] | None, attribute: str) -> str:
    return (item or {}).get(attribute, {}).get("S", "")


def verdict_for(item: Mapping[str, Any] | None, certificate_id: str, thing_name: str) -> str:
    """NEW / KNOWN / ROTATION for ``certificate_id`` given the inventory ``item`` (DynamoDB JSON) or raise."""
    if not item:
        return "NEW"
    current, pending = _string(item, "CertificateId"), _string(item, "PendingCertificateId")
    if certificate_id not in (current, pending):
        raise ThingNameClaimedByAnotherCertificate(thing_name, certificate_id, current)
    if _string(item, items.STATUS) == items.REVOKED:
        raise DeviceDecommissioned(f"thing {thing_name!r} is decommissioned (Status REVOKED); certificate {certificate_id} stays inactive")
    return "KNOWN" if certificate_id == current else "ROTATION"


def inspect(event: Mapping[str, Any], *, iot: Any, dynamodb: Any, config: InspectorConfig, now: str | None = None,
            lease_owner: str | None = None) -> dict[str, Any]:
    """Inspect the certificate of a JITR ``event``; see the module docstring for the result and errors.
    ``lease_owner`` is the JITR execution (its retries take the same lease again); by default a one-off owner."""
    certificate_id = event.get("certificateId") if isinstance(event, Mapping) else None
    if not isinstance(certificate_id, str) or not CERTIFICATE_ID.fullmatch(certificate_id):
        raise InvalidJitrEvent(f"event.certificateId must be a 64-hex-digit certificate id, got {certificate_id!r}")
    if config.lease_table:
        lease.take(dynamodb, config.lease_table, certificate_id, lease_owner or f"invocation-{uuid.uuid4()}")

    description = iot.describe_certificate(certificateId=certificate_id)["certificateDescription"]
    ca_certificate_id = description.get("caCertificateId") or event.get("caCertificateId") or ""
    if ca_certificate_id != config.expected_ca_certificate_id:
        raise UnexpectedIssuer(f"certificate {certificate_id} was issued by CA {ca_certificate_id or 'unknown'}, "
                               f"expected {config.expected_ca_certificate_id}")

    pem = description["certificatePem"]
    certificate = x509.load_pem_x509_certificate(pem.encode("utf-8"))
    der_id = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    if der_id != certificate_id:
        raise CertificateIdMismatch(f"certificate id {certificate_id} is not the SHA-256 of the described certificate "
                                    f"({der_id})")
    checks.check_certificate(certificate, now=checks.utc_now(), revocation_list=checks.revocation_list_from_environment(os.environ))
    thing_name = thing_name_of(certificate)
    fleet_issued = fleet.is_fleet_issued(certificate)

    read = lambda: dynamodb.get_item(
        TableName=config.inventory_table, Key={"ThingName": {"S": thing_name}}, ConsistentRead=True).get("Item")
    written_at = now or _utc_now()

    def decide(item: Mapping[str, Any] | None) -> dict[str, Any]:
        verdict = verdict_for(item, certificate_id, thing_name)
        if fleet_issued and verdict == "NEW":
            raise FleetCertificateNotAdmitted(
                f"certificate {certificate_id} for {thing_name!r} was issued by fleet provisioning and no inventory "
                "item names it: the pre-provisioning hook never admitted it")
        if verdict == "KNOWN":  # the item's own values: nothing to write
            origin, registered_at = _string(item, "OriginRegion"), _string(item, "RegisteredAt")
            pending, previous = _string(item, "PendingCertificateId"), _string(item, "PreviousCertificateId")
        elif verdict == "ROTATION":
            origin, registered_at, pending, previous = config.region, written_at, "", _string(item, "CertificateId")
        else:
            origin, registered_at, pending, previous = config.region, written_at, "", ""
        return {
            "ThingName": thing_name,
            "CertificateId": certificate_id,
            "CertificateArn": description["certificateArn"],
            "CertificatePem": pem,
            "CaCertificateId": ca_certificate_id,
            "Verdict": verdict,
            "OriginRegion": origin,
            "RegisteredAt": registered_at,
            "PendingCertificateId": pending,
            "PreviousCertificateId": previous,
        }

    try:
        return claim.claim(dynamodb, config.inventory_table, decide(read()), decide)
    except Exception as error:  # the handler's log record names the thing the refused certificate claims
        error.thing_name = thing_name  # pyright: ignore[reportAttributeAccessIssue]  # read by the handler's log record
        raise
