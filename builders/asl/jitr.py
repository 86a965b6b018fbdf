"""Just-in-time registration (JITR) state machine: activates a device certificate the first time IoT sees it.

Input: the IoT JITR event (``certificateId``, ``caCertificateId``, ``timestamp``, ``certificateStatus``,
``awsAccountId``, ``certificateRegistrationTimestamp``). Happy path, 5 state transitions, one Lambda invocation:

    Inspect and record -> Create thing -> Attach certificate to thing -> Attach device policy -> Activate certificate

The inspector Lambda validates the certificate and claims the thing name in the inventory with a conditional write
(the commit point: docs/design.md, "One owner per thing name"); everything after it is idempotent and converges on
what the inventory says, so the machine needs no rollback and concurrent executions for one certificate (IoT
repeats the registration event while the certificate is PENDING_ACTIVATION) can never undo each other.

Duplicates: the inspector first takes the certificate's registration lease in this region (a conditional write,
``functions/certificate_inspector/lease.py``); an execution for a certificate another execution is registering ends
at once (``RegistrationInProgress`` -> ``Registration already in progress``, succeeded: a repeated event is normal)
with no IoT call. Every path that leaves the certificate PENDING_ACTIVATION releases the lease (``Release
registration lease``, conditional on this execution owning it), so the device's next connection retries at once.
Every duplicate gets here: the JITR topic rule reads no lease (``builders.iot_rules.jitr_sql`` says why), so this
check is both the guarantee and the filter.

Failures, and why each one converges:

- any failure before activation (inspector down or throttled, an IoT step failing after its retries) leaves the
  certificate PENDING_ACTIVATION: it cannot connect, and AWS IoT publishes the registration event again on the
  device's next connection, which runs this machine again. Nothing created so far needs undoing: a thing and
  attachments of a PENDING certificate grant nothing, and the re-run reuses them;
- impostor (the inspector raises ``ThingNameClaimedByAnotherCertificate``: the inventory names another certificate,
  or its conditional write lost to one; or the thing here already belongs to another certificate): the
  certificate is quarantined INACTIVE (refused at connection, no new event), an ``ImpostorCertificateRejected``
  event goes to the bus and the execution fails with ``ImpostorCertificateRejected``. INACTIVE, not REVOKED: in a
  cross-region race the certificate judged an impostor here may be the one the global table keeps, and then the
  replication machine activates it (a revoked certificate could never be activated again). Because replication
  may have done so just before the quarantine, the machine re-reads the inventory afterwards and re-activates the
  certificate if it now owns the thing. The inspector's error has no ``$.Device``: its message is the claim (a JSON
  object, ``contract.errors.IMPOSTOR_CLAIM_FIELDS``), read back into ``$.Device`` before the quarantine (a path that
  selects nothing would be ``States.Runtime``, which no Catch takes: the execution would fail before the report);
- invalid certificate (``InvalidThingName``, ``UnexpectedIssuer``, the checks of ``checks.py``) or decommissioned
  device (``DeviceDecommissioned``): certificate REVOKED (final), execution fails with that error;
- activation refused because the certificate was revoked meanwhile (a decommission, or the replication machine
  fencing the loser of a race): what this execution attached to it is detached again, and if the item is REVOKED
  (a decommission that deleted the thing before this execution created it again) the thing is deleted again; the
  execution fails with ``Iot.CertificateStateException``; the certificate stays REVOKED.
"""
from __future__ import annotations

from typing import Any

from builders import inventory as inv
from contract import errors, events, items

from .pacing import Pacer, pace_iot_tasks
from .common import (ALREADY_EXISTS, CERTIFICATE_STATE, LAMBDA_INVOKE, catch, put_event, read_item, require, retry,
                     rollback_task, sdk_task)
from .retire import delete_thing, retire_principals

INSPECT = "Inspect and record"
CREATE_THING = "Create thing"
ATTACH_THING = "Attach certificate to thing"
ATTACH_POLICY = "Attach device policy"
ACTIVATE = "Activate certificate"
REGISTRATION_FAILED = "Registration failed"
REFUSED_ARNS = "Activation refused"
DETACH_REFUSED = "Detach the revoked certificate"
REREAD_REFUSED = "Re-read inventory after the refusal"
DECOMMISSIONED_MEANWHILE = "Was the device decommissioned meanwhile?"
DELETE_AGAIN = "Delete the decommissioned thing again"
RELEASE_LEASE = "Release registration lease"
IN_PROGRESS = "Registration already in progress"
IN_PROGRESS_ERRORS = [errors.REGISTRATION_IN_PROGRESS]
INVALID_EVENT_ERRORS = [errors.INVALID_JITR_EVENT]

DESCRIBE_EXISTING_THING = "Describe existing thing"
THING_OWNER = "Does the thing belong to another certificate?"
OWNED_ELSEWHERE = "Thing owned by another certificate"
THING_OWNED_ERROR = errors.THING_OWNED_BY_ANOTHER_CERTIFICATE

READ_IMPOSTOR_ERROR = "Read the inspector's error"
READ_CLAIM = "Read the impostor's claim"
CLAIMED_THING = "Keep the claimed thing name"
QUARANTINE = "Quarantine impostor certificate"
RECHECK = "Re-read inventory"
WON_MEANWHILE = "Has the certificate won the thing name meanwhile?"
REACTIVATE = "Re-activate certificate"
REPORT_IMPOSTOR = "Report impostor"
IMPOSTOR_REJECTED = "Impostor rejected"
REVOKE_REJECTED = "Revoke rejected certificate"
CERTIFICATE_REJECTED = "Certificate rejected"

IMPOSTOR_ERROR = errors.IMPOSTOR_CERTIFICATE_REJECTED
IMPOSTOR_DETAIL_TYPE = events.IMPOSTOR_REJECTED
IMPOSTOR_ERRORS = [errors.THING_NAME_CLAIMED]
#: Certificates that can never be registered (the inspector's and its checks' named errors).
REJECTED_ERRORS = list(errors.REJECTED)
#: The thing attribute naming the certificate that owns the thing (docs/design.md, "One owner per thing name").
OWNER_ATTRIBUTE = items.OWNER_ATTRIBUTE

#: What the inspector returns (``$.Payload``) and the machine keeps under ``$.Device``.
DEVICE_FIELDS = (
    "ThingName", "CertificateId", "CertificateArn", "CertificatePem", "CaCertificateId", "Verdict",
    inv.ORIGIN_REGION, inv.REGISTERED_AT, inv.PENDING_CERTIFICATE_ID, inv.PREVIOUS_CERTIFICATE_ID,
)


def _device(field: str) -> str:
    return f"$.Device.{field}"


def owned_thing(thing_name_path: str, certificate_id_path: str) -> dict[str, Any]:
    """CreateThing parameters of a thing that records its owner certificate: creating it again for the same owner
    succeeds (same configuration), for another owner fails with ResourceAlreadyExistsException (the conflict
    detector of both machines, at no extra state on the happy path)."""
    return {"ThingName.$": thing_name_path,
            "AttributePayload": {"Attributes": {f"{OWNER_ATTRIBUTE}.$": certificate_id_path}}}


def _inspect(inspector_function_arn: str, failed: str) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Comment": ("Take the registration lease, validate the certificate, read its CN and claim the thing name in "
                    "the inventory (conditional write)"),
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": inspector_function_arn,
                       "Payload": {"Event.$": "$", "ExecutionId.$": "$$.Execution.Id"}},
        "ResultSelector": {f"{field}.$": f"$.Payload.{field}" for field in DEVICE_FIELDS},
        "ResultPath": "$.Device",
        "Retry": retry("lambda"),
        "Catch": [
            catch(IN_PROGRESS_ERRORS, IN_PROGRESS, result_path=None),
            catch(IMPOSTOR_ERRORS, READ_IMPOSTOR_ERROR),  # no $.Device on this route: read it from the error
            catch(REJECTED_ERRORS, REVOKE_REJECTED),
            catch(INVALID_EVENT_ERRORS, REGISTRATION_FAILED),  # refused before the lease: nothing to release
            catch(["States.ALL"], failed),  # still PENDING_ACTIVATION: the next connection retries
        ],
        "Next": CREATE_THING,
    }


def release_lease(lease_table: str, next_state: str) -> dict[str, Any]:
    """Delete this execution's registration lease (only if it owns it); any error still goes on to ``next_state``
    (the lease then expires: ``contract.items.LEASE_SECONDS``)."""
    return rollback_task("dynamodb", "deleteItem", {
        "TableName": lease_table,
        "Key": {items.LEASE_KEY: {"S.$": "$.certificateId"}},
        "ConditionExpression": "#owner = :owner",
        "ExpressionAttributeNames": {"#owner": items.LEASE_OWNER},
        "ExpressionAttributeValues": {":owner": {"S.$": "$$.Execution.Id"}},
    }, next_state, comment="The certificate stays PENDING_ACTIVATION: let the device's next connection register it")


def definition(*, inspector_function_arn: str, inventory_table: str, device_policy_name: str, event_bus_name: str,
               source: str, lease_table: str | None = None, pacer: Pacer | None = None) -> dict:
    """The JITR state machine (Standard) for one region; see the module docstring. Without ``lease_table`` (an
    inspector configured without one) no lease is released. With ``pacer``, throttled IoT calls (the inspector's
    DescribeCertificate included) wait for a slot on their API's queue (``pacing.py``); a refused slot leaves the
    certificate PENDING_ACTIVATION like any other failure."""
    require("inspector_function_arn", inspector_function_arn)
    require("inventory_table", inventory_table)
    require("device_policy_name", device_policy_name)
    require("event_bus_name", event_bus_name)
    require("source", source)
    if lease_table is not None:
        require("lease_table", lease_table)
    failed = RELEASE_LEASE if lease_table else REGISTRATION_FAILED
    retry_later = [catch(["States.ALL"], failed)]
    thing = {"ThingName.$": _device("ThingName")}
    certificate_id = {"CertificateId.$": "$.certificateId"}
    states: dict[str, Any] = {
        INSPECT: _inspect(inspector_function_arn, failed),
        IN_PROGRESS: {"Type": "Succeed", "Comment": "A repeated registration event: another execution registers it"},
        CREATE_THING: sdk_task("iot", "createThing", owned_thing(_device("ThingName"), _device("CertificateId")),
                               next_state=ATTACH_THING,
                               catches=[catch([ALREADY_EXISTS], DESCRIBE_EXISTING_THING), *retry_later]),
        ATTACH_THING: sdk_task("iot", "attachThingPrincipal", {**thing, "Principal.$": _device("CertificateArn")},
                               next_state=ATTACH_POLICY, catches=retry_later),
        ATTACH_POLICY: sdk_task("iot", "attachPolicy", {"PolicyName": device_policy_name, "Target.$": _device("CertificateArn")},
                                next_state=ACTIVATE, catches=retry_later),
        ACTIVATE: sdk_task("iot", "updateCertificate", {"CertificateId.$": _device("CertificateId"), "NewStatus": "ACTIVE"},
                           next_state=None, catches=[catch([CERTIFICATE_STATE], REFUSED_ARNS), *retry_later],
                           comment="Refused with CertificateStateException if the certificate was revoked meanwhile"),
        # ---- activation refused: revoked meanwhile (decommission, or the fence of a race this one lost) ----------
        REFUSED_ARNS: {"Type": "Pass", "Parameters": {"Arns.$": f"States.Array({_device('CertificateArn')})"},
                       "ResultPath": "$.Refused", "Next": DETACH_REFUSED},
        DETACH_REFUSED: retire_principals(
            prefix=DETACH_REFUSED, principals_path="$.Refused.Arns", owner_arn_path=None,
            thing_name_path=_device("ThingName"), device_policy_name=device_policy_name, next_state=REREAD_REFUSED,
            catches=[catch(["States.ALL"], REGISTRATION_FAILED, result_path=None)],
            comment="What this execution attached to a revoked certificate, detached again"),
        REREAD_REFUSED: read_item(inventory_table, _device("ThingName"), next_state=DECOMMISSIONED_MEANWHILE,
                                  catches=[catch(["States.ALL"], REGISTRATION_FAILED, result_path=None)]),
        DECOMMISSIONED_MEANWHILE: {
            "Type": "Choice",
            "Comment": "A decommission may have deleted the thing before this execution created it again",
            "Choices": [{"And": [{"Variable": "$.Current.Item.Status.S", "IsPresent": True},
                                 {"Variable": "$.Current.Item.Status.S", "StringEquals": inv.REVOKED}],
                         "Next": DELETE_AGAIN}],
            "Default": REGISTRATION_FAILED,
        },
        DELETE_AGAIN: delete_thing(_device("ThingName"), next_state=REGISTRATION_FAILED, gone=REGISTRATION_FAILED,
                                   catches=[catch(["States.ALL"], REGISTRATION_FAILED, result_path=None)]),
        **({RELEASE_LEASE: release_lease(lease_table, REGISTRATION_FAILED)} if lease_table else {}),
        REGISTRATION_FAILED: {"Type": "Fail", "ErrorPath": "$.Error.Error", "CausePath": "$.Error.Cause"},
        # ---- the thing exists with another configuration: a rotation, a pre-existing thing, or another owner -----
        DESCRIBE_EXISTING_THING: sdk_task(
            "iot", "describeThing", thing, result_selector={"Attributes.$": "$.Attributes"}, result_path="$.Thing",
            next_state=THING_OWNER, catches=retry_later),
        THING_OWNER: {
            "Type": "Choice",
            "Comment": "A rotation attaches its successor beside the old certificate (replication then retires the old one)",
            "Choices": [
                {"Variable": _device("Verdict"), "StringEquals": "ROTATION", "Next": ATTACH_THING},
                {"Variable": f"$.Thing.Attributes.{OWNER_ATTRIBUTE}", "IsPresent": False, "Next": ATTACH_THING},
                {"Variable": f"$.Thing.Attributes.{OWNER_ATTRIBUTE}", "StringEqualsPath": _device("CertificateId"),
                 "Next": ATTACH_THING},
            ],
            "Default": OWNED_ELSEWHERE,
        },
        OWNED_ELSEWHERE: {
            "Type": "Pass",
            "Result": {"Error": THING_OWNED_ERROR,
                       "Cause": "The thing already exists here with another certificate as its owner"},
            "ResultPath": "$.Error",
            "Next": QUARANTINE,
        },
        # ---- impostor: quarantine (INACTIVE), re-check ownership, report, fail --------------------------------
        # The inspector's impostor error carries its claim (contract.errors.IMPOSTOR_CLAIM_FIELDS) as the message
        # inside the Lambda error response that Step Functions puts in the Cause: parsed twice, then kept where the
        # other route into the quarantine has it ($.Device), so "Re-read inventory" finds the thing name.
        READ_IMPOSTOR_ERROR: {"Type": "Pass", "Parameters": {"Lambda.$": "States.StringToJson($.Error.Cause)"},
                              "ResultPath": "$.Claim", "Next": READ_CLAIM},
        READ_CLAIM: {"Type": "Pass", "Parameters": {"Device.$": "States.StringToJson($.Claim.Lambda.errorMessage)"},
                     "ResultPath": "$.Claim", "Next": CLAIMED_THING},
        CLAIMED_THING: {"Type": "Pass", "InputPath": "$.Claim.Device", "ResultPath": "$.Device", "Next": QUARANTINE},
        QUARANTINE: rollback_task("iot", "updateCertificate", {**certificate_id, "NewStatus": "INACTIVE"}, RECHECK,
                                  comment="INACTIVE: refused at connection without a new registration event"),
        RECHECK: read_item(inventory_table, _device("ThingName"), next_state=WON_MEANWHILE,
                           catches=[catch(["States.ALL"], REPORT_IMPOSTOR, result_path=None)]),
        WON_MEANWHILE: {
            "Type": "Choice",
            "Choices": [{"And": [
                {"Variable": "$.Current.Item.CertificateId.S", "IsPresent": True},
                {"Variable": "$.Current.Item.CertificateId.S", "StringEqualsPath": "$.certificateId"},
                {"Variable": "$.Current.Item.Status.S", "StringEquals": inv.ACTIVE},
            ], "Next": REACTIVATE}],
            "Default": REPORT_IMPOSTOR,
        },
        REACTIVATE: sdk_task("iot", "updateCertificate", {**certificate_id, "NewStatus": "ACTIVE"}, next_state=None,
                             catches=[catch(["States.ALL"], REPORT_IMPOSTOR)],
                             comment="The global table kept this certificate: replication owns the rest"),
        REPORT_IMPOSTOR: put_event(
            event_bus_name=event_bus_name, source=source, detail_type=IMPOSTOR_DETAIL_TYPE,
            detail={
                "certificateId.$": "$.certificateId",
                "caCertificateId.$": "$.caCertificateId",
                "thingName.$": _device("ThingName"),
                "error.$": "$.Error.Error",
                "cause.$": "$.Error.Cause",
                "execution.$": "$$.Execution.Id",
            },
            next_state=IMPOSTOR_REJECTED,
            catches=[catch(["States.ALL"], IMPOSTOR_REJECTED, result_path=None)],
        ),
        IMPOSTOR_REJECTED: {"Type": "Fail", "Error": IMPOSTOR_ERROR, "CausePath": "$.Error.Cause"},
        # ---- certificate that can never be registered: revoke, fail -------------------------------------
        REVOKE_REJECTED: rollback_task("iot", "updateCertificate", {**certificate_id, "NewStatus": "REVOKED"},
                                       CERTIFICATE_REJECTED),
        CERTIFICATE_REJECTED: {"Type": "Fail", "ErrorPath": "$.Error.Error", "CausePath": "$.Error.Cause"},
    }
    pace_iot_tasks(states, pacer, lambdas={INSPECT: "iot:DescribeCertificate"})
    return {
        "Comment": "Just-in-time registration of a device certificate (see builders/asl/jitr.py)",
        "StartAt": INSPECT,
        "States": states,
    }

