"""Retiring certificates: the Map that revokes and detaches every certificate of a thing except its owner.

Shared by the replication machine (a thing found holding certificates the inventory no longer names: a rotation's
predecessor or the loser of a cross-region race) and the decommission machine (every certificate, no owner).
Each iteration tolerates "already done": a certificate missing in this region, already REVOKED (AWS IoT refuses
any status change of a revoked certificate with ``CertificateStateException``), a policy or thing not attached.
Detaching is asynchronous in AWS; nothing here waits for it (only ``DeleteThing`` must, see decommission).
"""
from __future__ import annotations

from typing import Any

from .common import CERTIFICATE_STATE, NOT_FOUND, catch, certificate_id_of, sdk_task

SKIP_STEP = "keep this certificate?"
KEEP_STEP = "kept"
REVOKE_STEP = "revoke"
DETACH_POLICY_STEP = "detach device policy"
DETACH_THING_STEP = "detach from thing"
DETACHED_STEP = "retired"

#: What "already done" looks like for each step (see the module docstring and docs/emulator.md).
REVOKE_DONE = [NOT_FOUND, CERTIFICATE_STATE]
DETACH_DONE = [NOT_FOUND, "Iot.InvalidRequestException"]


def retire_principals(*, prefix: str, principals_path: str, owner_arn_path: str | None, thing_name_path: str, device_policy_name: str,
                      next_state: str, catches: list[dict[str, Any]], comment: str) -> dict[str, Any]:
    """A Map state over the certificate ARNs at ``principals_path``: revoke, detach the device policy, detach from the
    thing. Kept: the certificate at ``owner_arn_path`` (if given) and an ARN without a certificate id (an empty
    recorded id). One certificate at a time (IoT's control plane is throttled per account; the list is short)."""
    selector: dict[str, Any] = {"Principal.$": "$$.Map.Item.Value", "ThingName.$": thing_name_path}
    # ASL state names are unique across the whole machine: each use of the Map names its states after itself.
    SKIP, KEEP, REVOKE, DETACH_POLICY, DETACH_THING, DETACHED = (
        f"{prefix}: {step}" for step in (SKIP_STEP, KEEP_STEP, REVOKE_STEP, DETACH_POLICY_STEP, DETACH_THING_STEP, DETACHED_STEP))
    skip: list[dict[str, Any]] = [{"Variable": "$.Principal", "StringMatches": "*/", "Next": KEEP}]  # no certificate id
    if owner_arn_path is not None:
        selector["Owner.$"] = owner_arn_path
        skip.append({"Variable": "$.Principal", "StringEqualsPath": "$.Owner", "Next": KEEP})
    states: dict[str, Any] = {
        SKIP: {"Type": "Choice", "Choices": skip, "Default": REVOKE},
        KEEP: {"Type": "Succeed"},
    }
    states[REVOKE] = sdk_task(
        "iot", "updateCertificate", {"CertificateId.$": certificate_id_of("$.Principal"), "NewStatus": "REVOKED"},
        next_state=DETACH_POLICY, catches=[catch(REVOKE_DONE, DETACH_POLICY, result_path=None)],
        comment="Revoked first: from here on the certificate cannot connect, and no later step can activate it")
    states[DETACH_POLICY] = sdk_task(
        "iot", "detachPolicy", {"PolicyName": device_policy_name, "Target.$": "$.Principal"},
        next_state=DETACH_THING, catches=[catch(DETACH_DONE, DETACH_THING, result_path=None)])
    states[DETACH_THING] = sdk_task(
        "iot", "detachThingPrincipal", {"ThingName.$": "$.ThingName", "Principal.$": "$.Principal"},
        next_state=None, catches=[catch(DETACH_DONE, DETACHED, result_path=None)])
    states[DETACHED] = {"Type": "Succeed"}
    return {
        "Type": "Map",
        "Comment": comment,
        "ItemsPath": principals_path,
        "ItemSelector": selector,
        "MaxConcurrency": 1,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": SKIP, "States": states},
        "ResultPath": None,
        "Next": next_state,
        "Catch": catches,
    }


#: DeleteThing's refusal while a (possibly still detaching) principal is attached (docs/emulator.md).
STILL_ATTACHED = ["Iot.InvalidRequestException"]
#: About two minutes of waiting for asynchronous detaches: 2 + 4 + 8 + 16 + 30 + 30 + 30 s (full jitter).
DETACH_WAIT = {"IntervalSeconds": 2, "MaxAttempts": 7, "BackoffRate": 2.0, "MaxDelaySeconds": 30, "JitterStrategy": "FULL"}


def delete_thing(thing_name_path: str, *, next_state: str | None, gone: str, catches: list[dict[str, Any]]) -> dict[str, Any]:
    """DeleteThing, retried while detaches propagate (DetachThingPrincipal is asynchronous: "It might take several
    seconds for the detachment to propagate"); then ``next_state`` (None: the end), or ``gone`` when the thing
    already was."""
    state = sdk_task("iot", "deleteThing", {"ThingName.$": thing_name_path}, next_state=next_state,
                     catches=[catch([NOT_FOUND], gone, result_path=None), *catches],
                     comment="Retried while the asynchronous detaches propagate")
    state["Retry"] = [{"ErrorEquals": STILL_ATTACHED, **DETACH_WAIT}, *state["Retry"]]
    return state
