"""Lambda entry point of the provisioning API (API Gateway HTTP API, payload format 2.0). Thin: parse the event,
call ``service.provision``, return the HTTP response.

What and why: a device on the allow-list asks, with a request signed by its own enrolled key, for a certificate
our CA signs; the function provisions it in this region and writes the inventory, so it connects in every region.

Environment: ``INVENTORY_TABLE``, ``ALLOW_LIST_TABLE``, ``NONCE_TABLE``, ``DEVICE_POLICY_NAME``,
``CA_CERTIFICATE_ID`` (the registered CA, whose PEM is read once from IoT), ``CA_SIGNING_KEY_ARN`` (the KMS key
holding that CA's key: ``kms:Sign`` only), ``TRUST_ANCHOR_PEM`` (the root CA), ``DEVICE_ENDPOINT``, ``REGIONS``
(comma-separated), ``DEFAULT_REGION``, and the geolocation database: ``GEOLOCATION_DATABASE`` (a path, relative
to the package) or ``GEOLOCATION_BUCKET`` + ``GEOLOCATION_KEY`` (read once per container); neither = every
device gets the default region. ``AWS_REGION`` is Lambda's. Each answer writes one ``ProvisioningRequests`` record
(contract/metrics.py, in ``METRICS_NAMESPACE``).
"""
from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path
from typing import Any
from collections.abc import Mapping

import boto3

from contract import metrics

from . import geolocation, issuer, service
from .request import BadRequest, from_event

PACKAGE_DIR = Path(__file__).resolve().parent


def settings_from(env: Mapping[str, str]) -> service.Settings:
    """The service's settings from the function's environment (set by components/provisioning_api.py)."""
    return service.Settings(
        region=env["AWS_REGION"], inventory_table=env["INVENTORY_TABLE"], allow_list_table=env["ALLOW_LIST_TABLE"],
        nonce_table=env["NONCE_TABLE"], device_policy_name=env["DEVICE_POLICY_NAME"],
        ca_certificate_id=env["CA_CERTIFICATE_ID"], trust_anchor_pem=env.get("TRUST_ANCHOR_PEM", ""),
        device_endpoint=env["DEVICE_ENDPOINT"])


@functools.lru_cache(maxsize=8)
def _clients(region: str, key_arn: str, ca_id: str, regions: str, default: str, database: str, bucket: str,
             key: str) -> tuple[Any, Any, issuer.Signer, geolocation.RegionChooser]:
    """Per container: clients, the CA's certificate, the opened geolocation database."""
    iot, dynamodb = boto3.client("iot", region_name=region), boto3.client("dynamodb", region_name=region)
    ca_pem = iot.describe_ca_certificate(certificateId=ca_id)["certificateDescription"]["certificatePem"]
    signer = issuer.KmsSigner(boto3.client("kms", region_name=region), key_arn, ca_pem)
    path: str | Path | None = None
    if database:
        path = Path(database) if Path(database).is_absolute() else PACKAGE_DIR / database
    elif bucket and key:
        path = geolocation.fetch_from_s3(boto3.client("s3", region_name=region), bucket, key)
    chooser = geolocation.RegionChooser(geolocation.open_reader(path), regions.split(","), default)
    return iot, dynamodb, signer, chooser


def response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    """The HTTP API (payload 2.0) response; never cached, since it may carry a certificate."""
    return {"statusCode": status, "headers": {"content-type": "application/json", "cache-control": "no-store"},
            "body": json.dumps(body)}


def record(status: int, body: Mapping[str, Any], *, thing_name: Any = None, source_ip: Any = None,
           certificate_id: Any = None) -> None:
    """One ``ProvisioningRequests`` line (contract.metrics) per answer, logged without secrets: thing, outcome, source
    address, the certificate issued; never a key, a certificate or a signature."""
    outcome = body.get("error") or "Provisioned"
    metrics.emit([(metrics.PROVISIONING_REQUESTS, 1)], dimensions={"Outcome": str(outcome)}, fields={
        "level": "INFO" if status < 400 else "WARNING", "message": "provisioning answered", "status": status,
        "thingName": thing_name if isinstance(thing_name, str) else None, "sourceIp": source_ip,
        "certificateId": certificate_id if isinstance(certificate_id, str) else None})


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Parse (a malformed event or body is 400 before anything is read), decide (``service.provision``), answer."""
    env = os.environ
    try:
        request = from_event(event)
    except BadRequest as error:
        record(400, {"error": "BadRequest"})
        return response(400, {"error": "BadRequest", "message": str(error)})
    settings = settings_from(env)
    iot, dynamodb, signer, chooser = _clients(
        settings.region, env["CA_SIGNING_KEY_ARN"], settings.ca_certificate_id, env["REGIONS"], env["DEFAULT_REGION"],
        env.get("GEOLOCATION_DATABASE", ""), env.get("GEOLOCATION_BUCKET", ""), env.get("GEOLOCATION_KEY", ""))
    try:
        answer = service.provision(request, settings, service.Clients(iot, dynamodb, signer, chooser, time.time))
    except UnicodeError:  # a backstop: request.parse_body refuses text that is not ASCII before anything is read
        record(400, {"error": "BadRequest"}, source_ip=request.source_ip)
        return response(400, {"error": "BadRequest", "message": "the request's text fields must be ASCII"})
    record(answer.status, answer.body, thing_name=request.thing_name, source_ip=request.source_ip,
           certificate_id=answer.body.get("certificateId"))
    return response(answer.status, answer.body)
