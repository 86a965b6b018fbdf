"""EventBridge Pipes: a DynamoDB stream source into an event bus target."""

from __future__ import annotations

from typing import Any

import pulumi

from .common import client, pascal, physical_name
from .registry import DeployContext, Result, UnsupportedResource, creates


@creates("aws:pipes/pipe:Pipe")
def pipe(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any], region: str) -> Result:
    name = physical_name(args, inputs)
    request: dict[str, Any] = {"Name": name, "RoleArn": inputs["roleArn"], "Source": inputs["source"],
                               "Target": inputs["target"], "DesiredState": inputs.get("desiredState") or "RUNNING"}
    source = inputs.get("sourceParameters") or {}
    if source:
        parameters: dict[str, Any] = {}
        if source.get("dynamodbStreamParameters"):
            parameters["DynamoDBStreamParameters"] = pascal(source["dynamodbStreamParameters"])
        if source.get("filterCriteria"):
            parameters["FilterCriteria"] = {"Filters": [{"Pattern": f["pattern"]}
                                                        for f in source["filterCriteria"].get("filters", [])]}
        unknown = set(source) - {"dynamodbStreamParameters", "filterCriteria"}
        if unknown:
            raise UnsupportedResource(f"pipe {name!r}: source parameters {sorted(unknown)} are not emulated")
        request["SourceParameters"] = parameters
    target = inputs.get("targetParameters") or {}
    if target:
        if set(target) != {"eventbridgeEventBusParameters"}:
            raise UnsupportedResource(f"pipe {name!r}: target parameters {sorted(target)} are not emulated")
        bus = target["eventbridgeEventBusParameters"]
        request["TargetParameters"] = {"EventBridgeEventBusParameters": {
            k: v for k, v in {"Source": bus.get("source"), "DetailType": bus.get("detailType"),
                              "EndpointId": bus.get("endpointId"), "Resources": bus.get("resources"),
                              "Time": bus.get("time")}.items() if v}}
    if inputs.get("description"):
        request["Description"] = inputs["description"]
    response = client("pipes", region).create_pipe(**request)
    return name, {**inputs, "name": name, "arn": response["Arn"]}
