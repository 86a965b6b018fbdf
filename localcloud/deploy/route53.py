"""Route 53: records in the hosted zone and CLOUDWATCH_METRIC health checks (``localcloud/canaries.py`` evaluates
them)."""

from __future__ import annotations

from typing import Any

import pulumi

from .common import autoname, client, pascal
from .registry import DeployContext, Result, UnsupportedResource, creates


@creates("aws:route53/record:Record")
def record(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any], region: str) -> Result:
    name = inputs["name"].rstrip(".")
    record_set: dict[str, Any] = {"Name": name, "Type": inputs["type"]}
    if inputs.get("ttl") is not None:
        record_set["TTL"] = int(inputs["ttl"])
    if inputs.get("records"):
        record_set["ResourceRecords"] = [{"Value": v} for v in inputs["records"]]
    if inputs.get("setIdentifier"):
        record_set["SetIdentifier"] = inputs["setIdentifier"]
    if inputs.get("latencyRoutingPolicies"):
        record_set["Region"] = inputs["latencyRoutingPolicies"][0]["region"]
    if inputs.get("geolocationRoutingPolicies"):
        record_set["GeoLocation"] = pascal(inputs["geolocationRoutingPolicies"][0])
    if inputs.get("healthCheckId"):
        record_set["HealthCheckId"] = inputs["healthCheckId"]
    if inputs.get("weightedRoutingPolicies"):
        record_set["Weight"] = int(inputs["weightedRoutingPolicies"][0]["weight"])
    action = "UPSERT" if inputs.get("allowOverwrite") else "CREATE"
    client("route53", region).change_resource_record_sets(
        HostedZoneId=inputs["zoneId"],
        ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": record_set}]})
    id_ = "_".join(filter(None, (inputs["zoneId"], name, inputs["type"], inputs.get("setIdentifier"))))
    return id_, {**inputs, "fqdn": name}


@creates("aws:route53/healthCheck:HealthCheck")
def health_check(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                 region: str) -> Result:
    if inputs["type"] != "CLOUDWATCH_METRIC":
        raise UnsupportedResource(f"aws:route53/healthCheck:HealthCheck {args.name!r}: only CLOUDWATCH_METRIC "
                                  "health checks are emulated (localcloud/canaries.py evaluates them)")
    config = {"Type": "CLOUDWATCH_METRIC", "AlarmIdentifier": {
        "Region": inputs["cloudwatchAlarmRegion"], "Name": inputs["cloudwatchAlarmName"]},
        "InsufficientDataHealthStatus": inputs.get("insufficientDataHealthStatus") or "LastKnownStatus"}
    created = client("route53", region).create_health_check(
        CallerReference=autoname(args.name), HealthCheckConfig=config)["HealthCheck"]
    return created["Id"], {**inputs}
