"""Decommission state machine: removes, in this region, a device an operator marked REVOKED.

Input: the flat item plus ``EventName`` and ``OldCertificateId``. Like replication it re-reads the item first
and goes on only if the item is REVOKED now (a stale or redriven event for a device that was not decommissioned
does nothing). Then it revokes every certificate the thing ever had: the ones the item records (current, previous,
pending) and every certificate still attached to the thing, whatever the item says (a certificate attached by hand;
the losers of cross-region races were revoked by the replication machine already). Every step tolerates "already done":

    Read current item -> Decommissioned? -> Retire recorded certificates -> List the thing's certificates
    -> Retire attached certificates -> Delete thing

Certificates are left REVOKED, not deleted: a REVOKED certificate is refused at connection without a new
auto-registration, whereas a deleted one would be auto-registered again on the device's next attempt.

Detaching is asynchronous in AWS IoT (DetachThingPrincipal: "It might take several seconds for the detachment to
propagate"); DeleteThing refuses while a principal is still attached. ``Delete thing`` therefore retries that
refusal with backoff for about two minutes; if the detachment has still not propagated, the execution fails, which
sends it to the region's dead-letter queue and raises its alarm (``python -m ops redrive`` runs it again).
A failure is reported on the bus (``DeviceDecommissionFailed``) and the execution fails with the original error.
"""
from __future__ import annotations

from typing import Any

from builders import inventory as inv
from contract import events

from .common import NOT_FOUND, catch, certificate_arn, read_item, require, sdk_task
from .replication import CURRENT, current, failure_report
from .retire import delete_thing, retire_principals

READ = "Read current item"
DECIDE = "Is the device decommissioned now?"
SUPERSEDED = "Not decommissioned"
RECORDED = "Recorded certificates"
RETIRE_RECORDED = "Retire recorded certificates"
LIST_PRINCIPALS = "List the thing's certificates"
RETIRE_ATTACHED = "Retire attached certificates"
DELETE_THING = "Delete thing"
DONE = "Decommissioned"
REPORT_FAILURE = "Report decommission failure"
FAILED = "Decommission failed"

FAILURE_DETAIL_TYPE = events.DECOMMISSION_FAILED


def _recorded_arns() -> dict[str, Any]:
    """This region's ARNs of every certificate the item records (an empty id gives an ARN ending in ``/``, which the
    retire steps skip)."""
    ids = (current(inv.CERTIFICATE_ID), current(inv.PREVIOUS_CERTIFICATE_ID), current(inv.PENDING_CERTIFICATE_ID))
    return {"Arns.$": "States.Array({})".format(", ".join(certificate_arn(path) for path in ids))}


def definition(*, inventory_table: str, device_policy_name: str, event_bus_name: str, source: str) -> dict:
    """The decommission state machine (Standard) for one region; see the module docstring."""
    require("inventory_table", inventory_table)
    require("device_policy_name", device_policy_name)
    require("event_bus_name", event_bus_name)
    require("source", source)
    fail = [catch(["States.ALL"], REPORT_FAILURE)]
    thing_name = f"$.{inv.THING_NAME}"
    states: dict[str, Any] = {
        READ: read_item(inventory_table, thing_name, next_state=DECIDE, catches=fail),
        DECIDE: {
            "Type": "Choice",
            "Comment": "Decide from the item as it is now, not from the event",
            "Choices": [{"And": [{"Variable": CURRENT, "IsPresent": True},
                                 {"Variable": current(inv.STATUS), "StringEquals": inv.REVOKED}], "Next": RECORDED}],
            "Default": SUPERSEDED,
        },
        SUPERSEDED: {"Type": "Succeed"},
        RECORDED: {"Type": "Pass", "Parameters": _recorded_arns(), "ResultPath": "$.Recorded", "Next": RETIRE_RECORDED},
        RETIRE_RECORDED: retire_principals(
            prefix=RETIRE_RECORDED,
            principals_path="$.Recorded.Arns", owner_arn_path=None, thing_name_path=thing_name,
            device_policy_name=device_policy_name, next_state=LIST_PRINCIPALS, catches=fail,
            comment="Revoke the item's certificates (current, previous, pending) and detach them"),
        LIST_PRINCIPALS: sdk_task("iot", "listThingPrincipals", {"ThingName.$": thing_name},
                                  result_selector={"Arns.$": "$.Principals"}, result_path="$.Principals",
                                  next_state=RETIRE_ATTACHED, catches=[catch([NOT_FOUND], DONE, result_path=None), *fail]),
        RETIRE_ATTACHED: retire_principals(
            prefix=RETIRE_ATTACHED,
            principals_path="$.Principals.Arns", owner_arn_path=None, thing_name_path=thing_name,
            device_policy_name=device_policy_name, next_state=DELETE_THING, catches=fail,
            comment="Revoke and detach every certificate still attached, whatever the item says"),
        DELETE_THING: delete_thing(thing_name, next_state=None, gone=DONE, catches=fail),
        DONE: {"Type": "Succeed"},
        REPORT_FAILURE: failure_report(event_bus_name, source, FAILURE_DETAIL_TYPE, FAILED),
        FAILED: {"Type": "Fail", "ErrorPath": "$.Error.Error", "CausePath": "$.Error.Cause"},
    }
    return {
        "Comment": "Decommissions a REVOKED device in this region (see builders/asl/decommission.py)",
        "StartAt": READ,
        "States": states,
    }
