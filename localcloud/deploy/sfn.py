"""Step Functions: state machines (with their CloudWatch Logs destination)."""

from __future__ import annotations

from typing import Any

import pulumi

from .common import client, physical_name
from .registry import DeployContext, Result, creates


@creates("aws:sfn/stateMachine:StateMachine")
def state_machine(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                  region: str) -> Result:
    name = physical_name(args, inputs, limit=80)
    request: dict[str, Any] = {"name": name, "definition": inputs["definition"], "roleArn": inputs["roleArn"],
                               "type": inputs.get("type") or "STANDARD"}
    logging = inputs.get("loggingConfiguration")
    if logging and logging.get("logDestination"):
        request["loggingConfiguration"] = {
            "level": logging.get("level", "OFF"),
            "includeExecutionData": bool(logging.get("includeExecutionData", False)),
            "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": logging["logDestination"]}}]}
    response = client("stepfunctions", region).create_state_machine(**request)
    arn = response["stateMachineArn"]
    return arn, {**inputs, "name": name, "arn": arn, "status": "ACTIVE",
                 "creationDate": str(response.get("creationDate", ""))}
