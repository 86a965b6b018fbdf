"""EventBridge: buses, rules and their targets."""

from __future__ import annotations

from typing import Any

import pulumi

from .common import autoname, client, pascal, physical_name
from .registry import DeployContext, Result, creates


@creates("aws:cloudwatch/eventBus:EventBus")
def event_bus(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
              region: str) -> Result:
    name = physical_name(args, inputs)
    arn = client("events", region).create_event_bus(Name=name)["EventBusArn"]
    return name, {**inputs, "name": name, "arn": arn}


@creates("aws:cloudwatch/eventRule:EventRule")
def event_rule(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
               region: str) -> Result:
    name = physical_name(args, inputs)
    request: dict[str, Any] = {"Name": name, "EventBusName": inputs.get("eventBusName", "default"),
                               "State": inputs.get("state") or "ENABLED"}
    for key, member in (("eventPattern", "EventPattern"), ("scheduleExpression", "ScheduleExpression"),
                        ("description", "Description"), ("roleArn", "RoleArn")):
        if inputs.get(key):
            request[member] = inputs[key]
    arn = client("events", region).put_rule(**request)["RuleArn"]
    return f"{request['EventBusName']}/{name}", {**inputs, "name": name, "arn": arn}


@creates("aws:cloudwatch/eventTarget:EventTarget")
def event_target(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                 region: str) -> Result:
    target_id = inputs.get("targetId") or autoname(args.name)
    target: dict[str, Any] = {"Id": target_id, "Arn": inputs["arn"]}
    if inputs.get("roleArn"):
        target["RoleArn"] = inputs["roleArn"]
    if inputs.get("input"):
        target["Input"] = inputs["input"]
    if inputs.get("inputPath"):
        target["InputPath"] = inputs["inputPath"]
    if inputs.get("inputTransformer"):
        transformer = inputs["inputTransformer"]
        target["InputTransformer"] = {"InputPathsMap": transformer.get("inputPaths", {}),
                                      "InputTemplate": transformer["inputTemplate"]}
    if inputs.get("retryPolicy"):
        target["RetryPolicy"] = pascal(inputs["retryPolicy"])
    if inputs.get("deadLetterConfig"):
        target["DeadLetterConfig"] = pascal(inputs["deadLetterConfig"])
    bus = inputs.get("eventBusName", "default")
    response = client("events", region).put_targets(Rule=inputs["rule"], EventBusName=bus, Targets=[target])
    if response.get("FailedEntryCount"):
        raise RuntimeError(f"put_targets for {args.name!r} failed: {response['FailedEntries']}")
    return f"{bus}-{inputs['rule']}-{target_id}", {**inputs, "targetId": target_id}
