"""Replication state machine: makes this region's registry match a thing's inventory item as it is now.

Runs for every change of an ACTIVE item that another region wrote (and for this region's own rotations). Input: the
flat item (``builders.inventory``) plus ``EventName`` and ``OldCertificateId`` (the certificate the item named
before this change). The event only says *which* thing changed: the machine first re-reads the item (consistent
read of this region's replica) and acts on that, so a stale, replayed or redriven event can never activate a
decommissioned device nor bring back a retired certificate. No call leaves this region. Happy path, 6 transitions,
no Lambda:

    Read current item -> What does the inventory say now? -> Register certificate (ACTIVE) -> Create thing
    -> Attach certificate to thing -> Attach device policy

One owner per thing name (docs/design.md): the certificate the item names is the thing's only certificate.

- ``OldCertificateId`` set and different from the item's current (and pending) certificate: that certificate lost
  the name (a rotation's predecessor, or the loser of two registrations racing in two regions, which global tables
  resolve last-writer-wins). It is revoked here first, a fence: AWS IoT refuses any later status change of a revoked
  certificate, so no slower execution anywhere can activate it again. A loser that is not the item's
  ``PreviousCertificateId`` is reported on the bus as ``DeviceOwnershipConflict``.
- The thing records its owner in the attribute ``certificateId``; creating it for the current owner succeeds
  (same configuration), so the happy path costs nothing extra. It fails with ResourceAlreadyExistsException when
  the thing records another owner; then, after re-reading that the item still names this certificate, every
  other certificate attached to the thing is revoked and detached, the attribute is updated, and the machine
  carries on (``ThingOwnershipEnforced`` on the bus).
- The certificate may already exist here: auto-registered PENDING_ACTIVATION by the device's own first connection,
  or quarantined INACTIVE by a JITR that judged it an impostor during a race it then won. Both are activated.
  A REVOKED one cannot be (revocation is final): the execution fails (``CertificateRevoked``), reaching the
  dead-letter queue and its alarm; the device needs a new certificate.

A failure is reported on the bus (``DeviceReplicationFailed``) and the execution fails with the original error.
"""
from __future__ import annotations

from typing import Any

from builders import inventory as inv
from contract import events

from .common import (ALREADY_EXISTS, CERTIFICATE_STATE, NOT_FOUND, catch, put_event, read_item, require, sdk_task,
                     tolerant)
from .jitr import OWNER_ATTRIBUTE, owned_thing
from .pacing import Pacer, pace_iot_tasks
from .retire import retire_principals

READ = "Read current item"
DECIDE = "What does the inventory say now?"
SUPERSEDED = "Nothing to replicate"
REVOKE_PREVIOUS = "Revoke previous certificate"
REVOKE_LOSER = "Revoke losing certificate"
REPORT_CONFLICT = "Report ownership conflict"
REGISTER = "Register certificate"
DESCRIBE_EXISTING = "Describe existing certificate"
EXISTING_REVOKED = "Is the existing certificate revoked?"
ACTIVATE_EXISTING = "Activate existing certificate"
CREATE_THING = "Create thing"
LIST_PRINCIPALS = "List the thing's certificates"
RECHECK = "Re-read current item"
STILL_OWNER = "Does the item still name this certificate?"
RETIRE_OTHERS = "Retire every other certificate"
RECORD_OWNER = "Record the thing's owner"
REPORT_ENFORCED = "Report ownership enforced"
ATTACH_THING = "Attach certificate to thing"
ATTACH_POLICY = "Attach device policy"
REPORT_FAILURE = "Report replication failure"
FAILED = "Replication failed"
REFUSED = "Certificate revoked here"

FAILURE_DETAIL_TYPE = events.REPLICATION_FAILED
CONFLICT_DETAIL_TYPE = events.OWNERSHIP_CONFLICT
ENFORCED_DETAIL_TYPE = events.OWNERSHIP_ENFORCED

CURRENT = "$.Current.Item"


def current(attribute: str) -> str:
    """Path of an attribute's string value in the item just read."""
    return f"{CURRENT}.{attribute}.S"


OLD = f"$.{inv.OLD_CERTIFICATE_ID}"


def _lost_name(*extra: dict[str, Any]) -> dict[str, Any]:
    """Choice rule: the event's old certificate is set and is neither the current nor the pending certificate."""
    return {"And": [
        {"Variable": OLD, "IsPresent": True},
        {"Variable": OLD, "IsString": True},
        {"Not": {"Variable": OLD, "StringEquals": ""}},
        {"Not": {"Variable": OLD, "StringEqualsPath": current(inv.CERTIFICATE_ID)}},
        {"Not": {"Variable": OLD, "StringEqualsPath": current(inv.PENDING_CERTIFICATE_ID)}},
        *extra,
    ]}


def decide(next_state: str, superseded: str, *, fences: tuple[str, str] | None) -> dict[str, Any]:
    """The one Choice after the read: stop when the item is gone or not ACTIVE; fence a certificate that lost the name
    (``fences`` = (previous-certificate state, loser state)); else carry on to ``next_state``."""
    choices: list[dict[str, Any]] = [
        {"Variable": CURRENT, "IsPresent": False, "Next": superseded},
        {"Not": {"Variable": current(inv.STATUS), "StringEquals": inv.ACTIVE}, "Next": superseded},
    ]
    if fences is not None:
        previous_state, loser_state = fences
        choices += [
            {**_lost_name({"Variable": OLD, "StringEqualsPath": current(inv.PREVIOUS_CERTIFICATE_ID)}), "Next": previous_state},
            {**_lost_name(), "Next": loser_state},
        ]
    return {"Type": "Choice", "Comment": "Decide from the item as it is now, not from the event", "Choices": choices,
            "Default": next_state}


def failure_report(event_bus_name: str, source: str, detail_type: str, next_state: str) -> dict[str, Any]:
    """PutEvents describing a failed execution (thing, certificate, error, execution); never blocks the Fail."""
    return put_event(
        event_bus_name=event_bus_name, source=source, detail_type=detail_type,
        detail={
            "thingName.$": f"$.{inv.THING_NAME}",
            "certificateId.$": f"$.{inv.CERTIFICATE_ID}",
            "error.$": "$.Error.Error",
            "cause.$": "$.Error.Cause",
            "execution.$": "$$.Execution.Id",
        },
        next_state=next_state,
        catches=[catch(["States.ALL"], next_state, result_path=None)],
    )


def definition(*, inventory_table: str, device_policy_name: str, event_bus_name: str, source: str,
               pacer: Pacer | None = None) -> dict:
    """The replication state machine (Standard) for one region; see the module docstring. With ``pacer``, throttled
    IoT calls wait for a slot on their API's queue (``pacing.py``) instead of failing into the dead-letter queue."""
    require("inventory_table", inventory_table)
    require("device_policy_name", device_policy_name)
    require("event_bus_name", event_bus_name)
    require("source", source)
    fail = [catch(["States.ALL"], REPORT_FAILURE)]
    thing_name = f"$.{inv.THING_NAME}"
    thing = {"ThingName.$": thing_name}
    owner_arn = "$.Certificate.CertificateArn"
    revoke_old = {"CertificateId.$": OLD, "NewStatus": "REVOKED"}
    states: dict[str, Any] = {
        READ: read_item(inventory_table, thing_name, next_state=DECIDE, catches=fail),
        DECIDE: decide(REGISTER, SUPERSEDED, fences=(REVOKE_PREVIOUS, REVOKE_LOSER)),
        SUPERSEDED: {"Type": "Succeed", "Comment": "Gone or decommissioned: the decommission machine owns that"},
        REVOKE_PREVIOUS: sdk_task("iot", "updateCertificate", revoke_old, next_state=REGISTER,
                                  catches=tolerant([NOT_FOUND, CERTIFICATE_STATE], REGISTER, otherwise=REPORT_FAILURE),
                                  comment="A rotation: the predecessor is retired in every region"),
        REVOKE_LOSER: sdk_task("iot", "updateCertificate", revoke_old, next_state=REPORT_CONFLICT,
                               catches=tolerant([NOT_FOUND, CERTIFICATE_STATE], REPORT_CONFLICT, otherwise=REPORT_FAILURE),
                               comment="Two certificates claimed the name; the global table kept the current one"),
        REPORT_CONFLICT: put_event(
            event_bus_name=event_bus_name, source=source, detail_type=CONFLICT_DETAIL_TYPE,
            detail={"thingName.$": thing_name, "certificateId.$": current(inv.CERTIFICATE_ID),
                    "revokedCertificateId.$": OLD, "execution.$": "$$.Execution.Id"},
            next_state=REGISTER, catches=[catch(["States.ALL"], REGISTER, result_path=None)]),
        REGISTER: sdk_task(
            "iot", "registerCertificate", {"CertificatePem.$": current(inv.CERTIFICATE_PEM), "Status": "ACTIVE"},
            result_selector={"CertificateArn.$": "$.CertificateArn"}, result_path="$.Certificate",
            next_state=CREATE_THING, catches=[catch([ALREADY_EXISTS], DESCRIBE_EXISTING, result_path=None), *fail],
            comment="The registered CA (SNI_ONLY) signs it, so no CaCertificatePem is needed",
        ),
        DESCRIBE_EXISTING: sdk_task(
            "iot", "describeCertificate", {"CertificateId.$": current(inv.CERTIFICATE_ID)},
            result_selector={"CertificateArn.$": "$.CertificateDescription.CertificateArn",
                             "Status.$": "$.CertificateDescription.Status"},
            result_path="$.Certificate", next_state=EXISTING_REVOKED, catches=fail,
        ),
        EXISTING_REVOKED: {
            "Type": "Choice",
            "Choices": [{"Variable": "$.Certificate.Status", "StringEquals": "REVOKED", "Next": REFUSED}],
            "Default": ACTIVATE_EXISTING,
        },
        ACTIVATE_EXISTING: sdk_task("iot", "updateCertificate", {"CertificateId.$": current(inv.CERTIFICATE_ID), "NewStatus": "ACTIVE"},
                                    next_state=CREATE_THING, catches=fail),
        CREATE_THING: sdk_task("iot", "createThing", owned_thing(thing_name, current(inv.CERTIFICATE_ID)),
                               next_state=ATTACH_THING,
                               catches=[catch([ALREADY_EXISTS], LIST_PRINCIPALS, result_path=None), *fail]),
        # ---- the thing records another owner: enforce the item's ----------------------------------------------
        LIST_PRINCIPALS: sdk_task("iot", "listThingPrincipals", thing,
                                  result_selector={"Arns.$": "$.Principals"}, result_path="$.Principals",
                                  next_state=RECHECK, catches=fail),
        RECHECK: read_item(inventory_table, thing_name, next_state=STILL_OWNER, catches=fail, result_path="$.Fresh"),
        STILL_OWNER: {
            "Type": "Choice",
            "Comment": "Only an execution acting on the newest item may take certificates away",
            "Choices": [{"And": [
                {"Variable": "$.Fresh.Item", "IsPresent": True},
                {"Variable": f"$.Fresh.Item.{inv.STATUS}.S", "StringEquals": inv.ACTIVE},
                {"Variable": f"$.Fresh.Item.{inv.CERTIFICATE_ID}.S", "StringEqualsPath": current(inv.CERTIFICATE_ID)},
            ], "Next": RETIRE_OTHERS}],
            "Default": SUPERSEDED,
        },
        RETIRE_OTHERS: retire_principals(
            prefix=RETIRE_OTHERS,
            principals_path="$.Principals.Arns", owner_arn_path=owner_arn, thing_name_path=thing_name,
            device_policy_name=device_policy_name, next_state=RECORD_OWNER, catches=fail,
            comment="Revoke and detach every certificate of the thing but the item's"),
        RECORD_OWNER: sdk_task("iot", "updateThing", {
            **thing, "AttributePayload": {"Attributes": {f"{OWNER_ATTRIBUTE}.$": current(inv.CERTIFICATE_ID)}, "Merge": True}},
            next_state=REPORT_ENFORCED, catches=fail),
        REPORT_ENFORCED: put_event(
            event_bus_name=event_bus_name, source=source, detail_type=ENFORCED_DETAIL_TYPE,
            detail={"thingName.$": thing_name, "certificateId.$": current(inv.CERTIFICATE_ID),
                    "attachedBefore.$": "$.Principals.Arns", "execution.$": "$$.Execution.Id"},
            next_state=ATTACH_THING, catches=[catch(["States.ALL"], ATTACH_THING, result_path=None)]),
        # ---- common tail ---------------------------------------------------------------------------------------
        ATTACH_THING: sdk_task("iot", "attachThingPrincipal", {**thing, "Principal.$": owner_arn},
                               next_state=ATTACH_POLICY, catches=fail),
        ATTACH_POLICY: sdk_task("iot", "attachPolicy", {"PolicyName": device_policy_name, "Target.$": owner_arn},
                                next_state=None, catches=fail),
        REPORT_FAILURE: failure_report(event_bus_name, source, FAILURE_DETAIL_TYPE, FAILED),
        FAILED: {"Type": "Fail", "ErrorPath": "$.Error.Error", "CausePath": "$.Error.Cause"},
        REFUSED: {"Type": "Fail", "Error": "CertificateRevoked",
                  "Cause": "The inventory's certificate is REVOKED in this region and revocation is final; issue the "
                           "device a new certificate (rotation)"},
    }
    pace_iot_tasks(states, pacer)
    return {
        "Comment": "Replicates a device registered in another region (see builders/asl/replication.py)",
        "StartAt": READ,
        "States": states,
    }
