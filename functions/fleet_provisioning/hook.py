"""The pre-provisioning hook of our fleet provisioning template: AWS IoT calls it on every RegisterThing, before the
template runs, and provisions only when it answers ``{"allowProvisioning": true}``; it has 5 seconds
(https://docs.aws.amazon.com/iot/latest/developerguide/pre-provisioning-hook.html). Input: ``claimCertificateId``,
``certificateId``, ``certificatePem``, ``templateArn``, ``clientId``, ``parameters``.

It admits a serial (template parameter ``SerialNumber``) when, in order:

1. the serial is a thing name, the MQTT client is that serial (``clientId``) and the new certificate's CN is too,
   and the certificate is ``certificateId`` and was signed by our CA (the certificate provider's);
2. the allow-list entry (``<application>-allow-list``, the one allow-list of every way in) exists and is
   ``unprovisioned`` — claimed by one conditional UpdateItem that sets it ``provisioned`` with this certificate —
   or is already ``provisioned`` *for this same certificate* (RegisterThing retried after a failure of the
   template: the answer is the same). Any other certificate for that serial is a replay and is refused;
3. the inventory item is written with JITR's conditional write (``certificate_inspector/claim.py``, verdict NEW:
   only if no item exists), the commit point that replication carries to every region; an item naming another
   certificate (the device arrived another way) is refused.

Why the hook writes the inventory, not the certificate-registered event or a post-provision step: a certificate
made by CreateCertificateFromCsr is not auto-registered on a connection, so the
``$aws/events/certificates/registered/<caId>`` event JITR and JITP rely on is not documented to fire for it; a
template has no step that can write DynamoDB; registry events are an account-wide setting we do not own. The hook is
the one piece of our code AWS runs synchronously in every fleet provisioning, with the certificate id and PEM in its
input. Writing before the template runs is safe because a template that then fails leaves the certificate
PENDING_ACTIVATION here (never usable) and the device's retry of RegisterThing is admitted again (step 2).

Environment: ``ALLOW_LIST_TABLE``, ``INVENTORY_TABLE``, ``CA_CERTIFICATE_ID``, ``CA_CERTIFICATE_PEM``;
``AWS_REGION`` is Lambda's.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

try:  # a package in tests and in the Lambda zip (functions/ is the zip's root)
    from ..certificate_inspector import claim as inventory_claim
    from ..provisioning_api.allow_list import PROVISIONED, UNPROVISIONED
    from ..provisioning_api.request import THING_NAME
except (ImportError, ValueError):  # pragma: no cover
    from certificate_inspector import claim as inventory_claim  # type: ignore[no-redef]
    from provisioning_api.allow_list import PROVISIONED, UNPROVISIONED  # type: ignore[no-redef]
    from provisioning_api.request import THING_NAME  # type: ignore[no-redef]

LOG = logging.getLogger(__name__)
SERIAL_NUMBER = "SerialNumber"  # = builders.fleet.SERIAL_NUMBER
KEY_ORIGIN = "fleet"


@dataclass(frozen=True)
class Settings:
    region: str
    allow_list_table: str
    inventory_table: str
    ca_certificate_id: str
    ca_certificate_pem: str


class Refused(Exception):
    """Provisioning refused; ``reason`` is logged (the device only sees AWS's rejection)."""


def _certificate(event: Mapping[str, Any], serial: str, settings: Settings) -> str:
    """Check the new certificate (CN = serial, id = certificateId, signed by our CA); return its id."""
    try:
        certificate = x509.load_pem_x509_certificate(str(event.get("certificatePem", "")).encode())
    except ValueError:
        raise Refused("certificatePem is not a PEM certificate") from None
    der = certificate.public_bytes(serialization.Encoding.DER)
    certificate_id = hashlib.sha256(der).hexdigest()
    if certificate_id != event.get("certificateId"):
        raise Refused("certificatePem is not the certificate certificateId names")
    names = [str(a.value) for a in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if names != [serial]:
        raise Refused(f"the certificate's CN {names} is not the serial {serial!r}")
    try:
        certificate.verify_directly_issued_by(x509.load_pem_x509_certificate(settings.ca_certificate_pem.encode()))
    except Exception:  # InvalidSignature, ValueError, TypeError
        raise Refused("the certificate was not signed by our CA") from None
    return certificate_id


def claim_serial(dynamodb: Any, settings: Settings, serial: str, certificate_id: str, certificate_pem: str,
                 now: str) -> None:
    """``unprovisioned`` -> ``provisioned`` for this certificate, or already so for it; else ``Refused``."""
    try:
        dynamodb.update_item(
            TableName=settings.allow_list_table, Key={"ThingName": {"S": serial}},
            UpdateExpression=("SET #s = :provisioned, CertificateId = :cid, CertificatePem = :pem, KeyOrigin = :origin, "
                              "#r = :region, ProvisionedIn = :region, ProvisionedAt = :now"),
            ConditionExpression="attribute_exists(ThingName) AND (#s = :unprovisioned OR "
                                "(#s = :provisioned AND CertificateId = :cid))",
            ExpressionAttributeNames={"#s": "Status", "#r": "Region"},
            ExpressionAttributeValues={
                ":provisioned": {"S": PROVISIONED}, ":unprovisioned": {"S": UNPROVISIONED},
                ":cid": {"S": certificate_id}, ":pem": {"S": certificate_pem}, ":origin": {"S": KEY_ORIGIN},
                ":region": {"S": settings.region}, ":now": {"S": now}})
    except dynamodb.exceptions.ConditionalCheckFailedException:
        raise Refused(f"serial {serial!r} is not on the allow-list, or is provisioned or being provisioned for "
                      "another certificate") from None


def write_inventory(dynamodb: Any, settings: Settings, serial: str, certificate_id: str, certificate_pem: str,
                    now: str) -> dict[str, str]:
    item = {"ThingName": serial, "CertificateId": certificate_id, "CertificatePem": certificate_pem,
            "CaCertificateId": settings.ca_certificate_id, "OriginRegion": settings.region, "RegisteredAt": now,
            "PendingCertificateId": "", "PreviousCertificateId": "", "Verdict": "NEW"}
    try:
        inventory_claim.write(dynamodb, settings.inventory_table, item)
    except dynamodb.exceptions.ConditionalCheckFailedException:
        current = dynamodb.get_item(TableName=settings.inventory_table, Key={"ThingName": {"S": serial}},
                                    ConsistentRead=True).get("Item") or {}
        if current.get("CertificateId", {}).get("S") != certificate_id:
            raise Refused(f"the inventory names another certificate for {serial!r}") from None
    return {k: v for k, v in item.items() if k != "Verdict"}


def decide(event: Mapping[str, Any], dynamodb: Any, settings: Settings,
           clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)) -> dict[str, Any]:
    """The hook's answer for one RegisterThing."""
    parameters = event.get("parameters") if isinstance(event.get("parameters"), Mapping) else {}
    serial = parameters.get(SERIAL_NUMBER)
    try:
        if not isinstance(serial, str) or not THING_NAME.fullmatch(serial):
            raise Refused(f"parameter {SERIAL_NUMBER} {serial!r} is not a thing name")
        if event.get("clientId") != serial:
            raise Refused(f"the MQTT client {event.get('clientId')!r} is not the serial {serial!r}")
        certificate_id = _certificate(event, serial, settings)
        now = clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        pem = str(event["certificatePem"])
        claim_serial(dynamodb, settings, serial, certificate_id, pem, now)
        write_inventory(dynamodb, settings, serial, certificate_id, pem, now)
    except Refused as refused:
        LOG.warning(json.dumps({"serial": serial, "allowProvisioning": False, "reason": str(refused)}))
        return {"allowProvisioning": False}
    LOG.info(json.dumps({"serial": serial, "allowProvisioning": True, "certificateId": certificate_id}))
    return {"allowProvisioning": True}


def settings_from(env: Mapping[str, str]) -> Settings:
    return Settings(region=env["AWS_REGION"], allow_list_table=env["ALLOW_LIST_TABLE"],
                    inventory_table=env["INVENTORY_TABLE"], ca_certificate_id=env["CA_CERTIFICATE_ID"],
                    ca_certificate_pem=env["CA_CERTIFICATE_PEM"])


@functools.lru_cache(maxsize=4)
def _dynamodb(region: str) -> Any:
    return boto3.client("dynamodb", region_name=region)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = settings_from(os.environ)
    return decide(event, _dynamodb(settings.region), settings)
