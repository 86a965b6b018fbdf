"""Decommission state machine: removes a device an operator marked REVOKED, in every region.

Input: the flat inventory item with ``Status`` REVOKED. Every step tolerates "not found" (the device may never
have reached this region, or a previous run already removed part of it):

    Locate certificate -> Revoke certificate -> Detach device policy -> Detach certificate from thing -> Delete thing

The certificate is left REVOKED (not deleted): a REVOKED certificate is refused at connection without a new
auto-registration, whereas a deleted one would be auto-registered again on the device's next attempt.
A failure is reported on the bus (``DeviceDecommissionFailed``) and the execution fails with the original error.
"""
from __future__ import annotations

from typing import Any

from builders import inventory as inv

from .common import catch, require, sdk_task
from .replication import failure_report

LOCATE = "Locate certificate"
REVOKE = "Revoke certificate"
DETACH_POLICY = "Detach device policy"
DETACH_THING = "Detach certificate from thing"
DELETE_THING = "Delete thing"
DONE = "Decommissioned"
REPORT_FAILURE = "Report decommission failure"
FAILED = "Decommission failed"

FAILURE_DETAIL_TYPE = "DeviceDecommissionFailed"
NOT_FOUND = ["Iot.ResourceNotFoundException"]

# arn:<partition>:iot:<region>:<account>:cert/<id>, partition/region/account from this state machine's own ARN.
_ARN_PART = "States.ArrayGetItem(States.StringSplit($$.StateMachine.Id, ':'), {})"
CERTIFICATE_ARN = (
    f"States.Format('arn:{{}}:iot:{{}}:{{}}:cert/{{}}', {_ARN_PART.format(1)}, {_ARN_PART.format(3)}, "
    f"{_ARN_PART.format(4)}, $.{inv.CERTIFICATE_ID})"
)


def definition(*, device_policy_name: str, event_bus_name: str, source: str) -> dict:
    """The decommission state machine (Standard) for one region; see the module docstring."""
    require("device_policy_name", device_policy_name)
    require("event_bus_name", event_bus_name)
    require("source", source)
    fail = [catch(["States.ALL"], REPORT_FAILURE)]
    thing = {"ThingName.$": f"$.{inv.THING_NAME}"}

    def tolerant(next_state: str) -> list[dict[str, Any]]:
        return [catch(NOT_FOUND, next_state, result_path=None), *fail]

    states: dict[str, Any] = {
        LOCATE: {"Type": "Pass", "Parameters": {"CertificateArn.$": CERTIFICATE_ARN}, "ResultPath": "$.Certificate", "Next": REVOKE},
        REVOKE: sdk_task("iot", "updateCertificate", {"CertificateId.$": f"$.{inv.CERTIFICATE_ID}", "NewStatus": "REVOKED"},
                         next_state=DETACH_POLICY, catches=tolerant(DETACH_POLICY)),
        DETACH_POLICY: sdk_task("iot", "detachPolicy", {"PolicyName": device_policy_name, "Target.$": "$.Certificate.CertificateArn"},
                                next_state=DETACH_THING, catches=tolerant(DETACH_THING)),
        DETACH_THING: sdk_task("iot", "detachThingPrincipal", {**thing, "Principal.$": "$.Certificate.CertificateArn"},
                               next_state=DELETE_THING, catches=tolerant(DELETE_THING)),
        DELETE_THING: sdk_task("iot", "deleteThing", thing, next_state=None, catches=tolerant(DONE)),
        DONE: {"Type": "Succeed"},
        REPORT_FAILURE: failure_report(event_bus_name, source, FAILURE_DETAIL_TYPE, FAILED),
        FAILED: {"Type": "Fail", "ErrorPath": "$.Error.Error", "CausePath": "$.Error.Cause"},
    }
    return {
        "Comment": "Decommissions a REVOKED device in this region (see builders/asl/decommission.py)",
        "StartAt": LOCATE,
        "States": states,
    }
