"""Lambda entry point of the certificate inspector (JITR step 1). Thin: parse, call the pure logic, return.

Environment: ``INVENTORY_TABLE``, ``EXPECTED_CA_CERTIFICATE_ID`` (and ``AWS_REGION``, set by Lambda).
Errors are raised as named exceptions; Step Functions sees their class name as the error name.
"""
from __future__ import annotations

import os
from typing import Any

import boto3

try:  # imported as functions.certificate_inspector.handler (tests) or as top-level handler (Lambda zip)
    from . import inspector
except ImportError:  # pragma: no cover - Lambda runtime layout
    import inspector  # type: ignore[no-redef]

# Re-exported so callers can catch them as handler.ThingNameClaimedByAnotherCertificate etc.
InspectionError = inspector.InspectionError
ThingNameClaimedByAnotherCertificate = inspector.ThingNameClaimedByAnotherCertificate
InvalidThingName = inspector.InvalidThingName
UnexpectedIssuer = inspector.UnexpectedIssuer
DeviceDecommissioned = inspector.DeviceDecommissioned
InvalidJitrEvent = inspector.InvalidJitrEvent


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = inspector.InspectorConfig.from_environment(os.environ)
    return inspector.inspect(
        event,
        iot=boto3.client("iot", region_name=config.region),
        dynamodb=boto3.client("dynamodb", region_name=config.region),
        config=config,
    )
