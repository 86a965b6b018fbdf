"""Lambda entry point of the certificate inspector (JITR step 1). Thin: parse, call the pure logic, return.

Environment: ``INVENTORY_TABLE``, ``EXPECTED_CA_CERTIFICATE_ID``, ``REGISTRATION_LEASE_TABLE`` (and ``AWS_REGION``,
set by Lambda). Input: ``{"Event": <the JITR event>, "ExecutionId": <the JITR execution>}`` as the JITR machine sends
it (the execution owns the registration lease), or a bare JITR event.
Errors are raised as named exceptions; Step Functions sees their class name as the error name.
Each invocation writes one record: ``Registrations`` by verdict or ``RegistrationRefusals`` by error name
(contract/metrics.py, in ``METRICS_NAMESPACE``), with the thing, certificate and execution as fields.
"""
from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from botocore.config import Config

from contract import metrics

from . import inspector

# Re-exported so callers can catch them as handler.ThingNameClaimedByAnotherCertificate etc.
InspectionError = inspector.InspectionError
ThingNameClaimedByAnotherCertificate = inspector.ThingNameClaimedByAnotherCertificate
InvalidThingName = inspector.InvalidThingName
UnexpectedIssuer = inspector.UnexpectedIssuer
DeviceDecommissioned = inspector.DeviceDecommissioned
InvalidJitrEvent = inspector.InvalidJitrEvent
RegistrationInProgress = inspector.RegistrationInProgress


#: No retries inside the function: a throttled DescribeCertificate (10/s per account and region) goes straight back to
#: the JITR machine as ``ThrottlingException``, which waits for a slot on the API's queue (builders/asl/pacing.py)
#: instead of spending billed Lambda time and the quota's tokens on retries of its own.
IOT_CLIENT = Config(retries={"mode": "standard", "total_max_attempts": 1})


@functools.cache
def _clients(region: str) -> tuple[Any, Any]:
    """(iot, dynamodb) clients of ``region``, made once per Lambda environment and reused by later invocations (AWS's
    advice: initialise SDK clients outside the handler; making one parses the service model, ~10 ms for IoT)."""
    return boto3.client("iot", region_name=region, config=IOT_CLIENT), boto3.client("dynamodb", region_name=region)


def unwrap(payload: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """(JITR event, lease owner) from the machine's ``{"Event", "ExecutionId"}`` or a bare event."""
    if isinstance(payload, dict) and isinstance(payload.get("Event"), dict):
        owner = payload.get("ExecutionId")
        return payload["Event"], owner if isinstance(owner, str) and owner else None
    return payload, None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = inspector.InspectorConfig.from_environment(os.environ)
    jitr_event, owner = unwrap(event)
    iot, dynamodb = _clients(config.region)
    certificate_id = jitr_event.get("certificateId") if isinstance(jitr_event, dict) else None
    try:
        result = inspector.inspect(jitr_event, lease_owner=owner, iot=iot, dynamodb=dynamodb, config=config)
    except Exception as error:
        record_refusal(error, certificate_id=certificate_id, execution_id=owner)
        raise
    record_registration(result, execution_id=owner)
    return result


def record_registration(result: dict[str, Any], *, execution_id: str | None) -> None:
    """One ``Registrations`` line (contract.metrics) for an accepted certificate, with its thing and execution."""
    metrics.emit([(metrics.REGISTRATIONS, 1)], dimensions={"Verdict": result["Verdict"]}, fields={
        "level": "INFO", "message": "certificate accepted", "thingName": result["ThingName"],
        "certificateId": result["CertificateId"], "executionId": execution_id, "originRegion": result["OriginRegion"]})


def record_refusal(error: Exception, *, certificate_id: Any, execution_id: str | None) -> None:
    """One ``RegistrationRefusals`` line for an error the inspector raises on purpose (its class name is the reason
    the machine catches); any other error (throttling, a fault) is logged as a record without a metric."""
    reason = type(error).__name__
    fields = {"level": "WARNING", "thingName": getattr(error, "thing_name", None),
              "certificateId": certificate_id if isinstance(certificate_id, str) else None,
              "executionId": execution_id, "error": str(error)}
    if reason in metrics.REFUSAL_REASONS:
        metrics.emit([(metrics.REFUSALS, 1)], dimensions={"Reason": reason},
                     fields={"message": "certificate refused", **fields})
    else:
        metrics.log({"message": "inspection failed", "errorType": reason, **fields})
