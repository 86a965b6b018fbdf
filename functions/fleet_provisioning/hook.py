"""The pre-provisioning hook of our fleet provisioning template: AWS IoT calls it on every RegisterThing, before the
template runs, and provisions only when it answers ``{"allowProvisioning": true}``; it has 5 seconds
(https://docs.aws.amazon.com/iot/latest/developerguide/pre-provisioning-hook.html). Input: ``claimCertificateId``,
``certificateId``, ``certificatePem``, ``templateArn``, ``clientId``, ``parameters``.

It admits a serial (template parameter ``SerialNumber``) when, in order:

1. the serial is a thing name and not a reserved one (``contract.names``: ``canary-``, ``claim-``), the MQTT client
   is one of the claim's (``clientId`` starts with ``claim-``: the claim's policy allows no other), and the new
   certificate is ``certificateId``, has CN = the serial, was signed by our CA and carries the fleet policy OID
   (the certificate provider issued it: ``contract.fleet.is_fleet_issued``);
2. the allow-list entry (``<application>-allow-list``, the one allow-list of every way in), **in the certificate
   provider's region** (``ALLOW_LIST_REGION``, the primary's: every fleet decision about a serial is taken on one
   replica) is ``issuing`` for exactly this certificate, which the provider recorded after checking the proof by the
   enrolled key, and moves to ``provisioned`` with one conditional write (``admission.admit``); or it is already
   ``provisioned`` for this same certificate (RegisterThing retried: the same answer). A superseded certificate, or
   any other, is refused;
3. the inventory item is written with JITR's conditional write (``contract/items.py``, verdict NEW:
   only if no item exists), the commit point that replication carries to every region; an item naming another
   certificate (the device arrived another way) is refused. After ``python -m ops allow-list reset`` the entry
   names the certificate the device lost as ``ReplacesCertificateId``: the item may then name that one (ACTIVE),
   and the write takes the name over from it as the API's provisioner does (``contract.items.REPLACE_CONDITION``,
   ``PreviousCertificateId`` = the replaced one): a rotation, which every region's replicate machine carries out
   (the old certificate is revoked, the thing's owner attribute handed over).

The inventory is read (consistent read) **before** step 2, so a serial whose item names another certificate is
refused with the entry untouched. Should the write of step 3 still lose (another way in wrote the item between the
read and the write), step 2 is undone by one conditional write (``admission.unadmit``: ``provisioned`` for this
certificate back to ``issuing`` for it, ``ReplacesCertificateId`` restored): a refused certificate never leaves
the entry ``provisioned`` (issue 21), and the device may prove itself again.

Why the hook writes the inventory, not the certificate-registered event or a post-provision step: a certificate
made by CreateCertificateFromCsr is not auto-registered on a connection, so the
``$aws/events/certificates/registered/<caId>`` event JITR and JITP rely on is not documented to fire for it; a
template has no step that can write DynamoDB; registry events are an account-wide setting we do not own. The hook is
the one piece of our code AWS runs synchronously in every fleet provisioning, with the certificate id and PEM in its
input. Writing before the template runs is safe because a template that then fails leaves the certificate
PENDING_ACTIVATION here (never usable) and the device's retry of RegisterThing is admitted again (step 2).

Environment: ``ALLOW_LIST_TABLE``, ``ALLOW_LIST_REGION`` (default: the function's own), ``INVENTORY_TABLE``,
``CA_CERTIFICATE_ID``, ``CA_CERTIFICATE_PEM``; ``AWS_REGION`` is Lambda's.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Mapping

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from contract import allow_list, fleet, items, metrics, names
from contract.fleet import SERIAL_NUMBER

from . import admission, proof

KEY_ORIGIN = admission.KEY_ORIGIN


@dataclass(frozen=True)
class Settings:
    region: str
    allow_list_table: str
    inventory_table: str
    ca_certificate_id: str
    ca_certificate_pem: str
    allow_list_region: str = ""  # the certificate provider's (primary's) region; "" = this region

    @property
    def decision_region(self) -> str:
        return self.allow_list_region or self.region


class Refused(Exception):
    """Provisioning refused; ``reason`` is logged (the device only sees AWS's rejection)."""


def _certificate(event: Mapping[str, Any], serial: str, settings: Settings) -> tuple[str, x509.Certificate]:
    """Check the new certificate (CN = serial, id = certificateId, signed by our CA, issued by the fleet provider)."""
    try:
        certificate = x509.load_pem_x509_certificate(str(event.get("certificatePem", "")).encode())
    except ValueError:
        raise Refused("certificatePem is not a PEM certificate") from None
    der = certificate.public_bytes(serialization.Encoding.DER)
    certificate_id = hashlib.sha256(der).hexdigest()
    if certificate_id != event.get("certificateId"):
        raise Refused("certificatePem is not the certificate certificateId names")
    common_names = [str(a.value) for a in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if common_names != [serial]:
        raise Refused(f"the certificate's CN {common_names} is not the serial {serial!r}")
    try:
        certificate.verify_directly_issued_by(x509.load_pem_x509_certificate(settings.ca_certificate_pem.encode()))
    except Exception:  # noqa: BLE001 - InvalidSignature, ValueError, TypeError: all mean not signed by our CA
        raise Refused("the certificate was not signed by our CA") from None
    if not fleet.is_fleet_issued(certificate):
        raise Refused("the certificate was not issued by the fleet certificate provider")
    return certificate_id, certificate


def replaced_certificate(dynamodb: Any, settings: Settings, serial: str, certificate_id: str) -> str:
    """The ``ReplacesCertificateId`` an operator's reset left on the entry this certificate was issued for, or ``""``."""
    entry = allow_list.read(dynamodb, settings.allow_list_table, serial) or {}
    if entry.get("Status") == allow_list.ISSUING and entry.get("IssuedCertificateId") == certificate_id:
        return str(entry.get(allow_list.REPLACES) or "")
    return ""


def _inventory_item(dynamodb: Any, settings: Settings, serial: str) -> dict[str, Any]:
    return dynamodb.get_item(TableName=settings.inventory_table, Key={"ThingName": {"S": serial}},
                             ConsistentRead=True).get("Item") or {}


def check_inventory(dynamodb: Any, settings: Settings, serial: str, certificate_id: str, replaces: str) -> None:
    """Before anything is written: the inventory (consistent read) has no item for ``serial``, or one naming this
    certificate (a retry), or, after a reset, the ACTIVE item still names the certificate it replaces."""
    item = _inventory_item(dynamodb, settings, serial)
    named = item.get("CertificateId", {}).get("S")
    if not item or named == certificate_id:
        return
    if replaces and named == replaces and item.get("Status", {}).get("S") == items.ACTIVE:
        return
    raise Refused(f"the inventory names another certificate for {serial!r}")


def claim_serial(dynamodb: Any, settings: Settings, serial: str, certificate: x509.Certificate, certificate_id: str,
                 certificate_pem: str, now: str, replaces: str = "") -> None:
    """``issuing`` for this certificate -> ``provisioned``, or already so for it; else ``Refused``."""
    try:
        admission.admit(dynamodb, settings.allow_list_table, serial, certificate_id=certificate_id,
                        certificate_pem=certificate_pem, key_digest=proof.public_key_digest(certificate.public_key()),
                        region=settings.region, now=now, replaces=replaces)
    except admission.NotAdmitted as refused:
        raise Refused(str(refused)) from None


def write_inventory(dynamodb: Any, settings: Settings, serial: str, certificate_id: str, certificate_pem: str,
                    now: str, replaces: str = "") -> dict[str, str]:
    """The commit point: NEW, or (``replaces``) the name taken over from the certificate a reset recorded."""
    item = {"ThingName": serial, "CertificateId": certificate_id, "CertificatePem": certificate_pem,
            "CaCertificateId": settings.ca_certificate_id, "OriginRegion": settings.region, "RegisteredAt": now,
            "PendingCertificateId": "", "PreviousCertificateId": replaces}
    values = {":cid": certificate_id, ":pem": certificate_pem, ":ca": settings.ca_certificate_id,
              ":origin": settings.region, ":at": now, ":pending": "", ":previous": replaces,
              ":active": items.ACTIVE}
    if replaces:
        values[":replaces"] = replaces
    try:
        dynamodb.update_item(
            TableName=settings.inventory_table, Key={"ThingName": {"S": serial}},
            UpdateExpression=items.CLAIM_EXPRESSION,
            ConditionExpression=items.REPLACE_CONDITION if replaces else items.CLAIM_CONDITIONS["NEW"],
            ExpressionAttributeNames=items.CLAIM_NAMES,
            ExpressionAttributeValues={name: {"S": value} for name, value in values.items()})
    except dynamodb.exceptions.ConditionalCheckFailedException:
        current = _inventory_item(dynamodb, settings, serial)
        if current.get("CertificateId", {}).get("S") != certificate_id:
            raise Refused(f"the inventory names another certificate for {serial!r}") from None
    return item


def decide(event: Mapping[str, Any], dynamodb: Any, settings: Settings,
           clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC), *,
           allow_list_dynamodb: Any = None, emit: Callable[..., Any] | None = None) -> dict[str, Any]:
    """The hook's answer for one RegisterThing. ``dynamodb`` is this region's (the inventory);
    ``allow_list_dynamodb`` the certificate provider's region's (default: ``dynamodb``). The answer is handed to
    ``emit`` (the handler's: ``contract.metrics.emit``, one ``FleetProvisioningVerdicts`` line)."""
    raw_parameters = event.get("parameters")
    parameters = raw_parameters if isinstance(raw_parameters, Mapping) else {}
    serial = parameters.get(SERIAL_NUMBER)
    try:
        if not isinstance(serial, str) or not names.is_thing_name(serial):
            raise Refused(f"parameter {SERIAL_NUMBER} {serial!r} is not a thing name")
        reserved = names.refusal(serial)  # before anything is read or written
        if reserved:
            raise Refused(f"parameter {SERIAL_NUMBER} {reserved}")
        client_id = event.get("clientId")
        if not isinstance(client_id, str) or not client_id.startswith(names.CLAIM_PREFIX):
            raise Refused(f"the MQTT client {client_id!r} is not one of the claim's ({names.CLAIM_PREFIX}...)")
        certificate_id, certificate = _certificate(event, serial, settings)
        now = clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        pem = str(event["certificatePem"])
        entries = allow_list_dynamodb or dynamodb
        replaces = replaced_certificate(entries, settings, serial, certificate_id)
        check_inventory(dynamodb, settings, serial, certificate_id, replaces)  # refused: the entry is untouched
        claim_serial(entries, settings, serial, certificate, certificate_id, pem, now, replaces)
        try:
            write_inventory(dynamodb, settings, serial, certificate_id, pem, now, replaces)
        except Refused:  # another way in wrote the item since the read: undo the admission
            admission.unadmit(entries, settings.allow_list_table, serial, certificate_id=certificate_id,
                              replaces=replaces)
            raise
    except Refused as refused:
        _record(emit, "Refused", serial, event, level="WARNING", reason=str(refused))
        return {"allowProvisioning": False}
    _record(emit, "Admitted", serial, event, level="INFO")
    return {"allowProvisioning": True}


def _record(emit: Callable[..., Any] | None, verdict: str, serial: Any, event: Mapping[str, Any], *, level: str,
            reason: str | None = None) -> None:
    """One ``FleetProvisioningVerdicts`` line (contract.metrics): the serial, the new certificate, the MQTT client
    and, for a refusal, why (the device only sees AWS's rejection)."""
    if emit is None:
        return
    certificate_id, client_id = event.get("certificateId"), event.get("clientId")
    emit([(metrics.FLEET_HOOK_VERDICTS, 1)], dimensions={"Verdict": verdict}, fields={
        "level": level, "message": f"RegisterThing {verdict.lower()}",
        "thingName": serial if isinstance(serial, str) else None,
        "certificateId": certificate_id if isinstance(certificate_id, str) else None,
        "clientId": client_id if isinstance(client_id, str) else None, "reason": reason})


def settings_from(env: Mapping[str, str]) -> Settings:
    return Settings(region=env["AWS_REGION"], allow_list_table=env["ALLOW_LIST_TABLE"],
                    inventory_table=env["INVENTORY_TABLE"], ca_certificate_id=env["CA_CERTIFICATE_ID"],
                    ca_certificate_pem=env["CA_CERTIFICATE_PEM"], allow_list_region=env.get("ALLOW_LIST_REGION", ""))


@functools.lru_cache(maxsize=4)
def _dynamodb(region: str) -> Any:
    return boto3.client("dynamodb", region_name=region)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = settings_from(os.environ)
    return decide(event, _dynamodb(settings.region), settings,
                  allow_list_dynamodb=_dynamodb(settings.decision_region), emit=metrics.emit)
