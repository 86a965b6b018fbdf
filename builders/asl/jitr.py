"""Just-in-time registration (JITR) state machine: activates a device certificate the first time IoT sees it.

Input: the IoT JITR event (``certificateId``, ``caCertificateId``, ``timestamp``, ``certificateStatus``,
``awsAccountId``, ``certificateRegistrationTimestamp``). Happy path, 6 state transitions, one Lambda invocation:

    Inspect certificate -> Create thing -> Attach certificate to thing -> Attach device policy
    -> Activate certificate -> Record device in inventory (end)

The inventory write is last, so replication never starts for a device that is not active here. Its condition
admits a new thing name, this same certificate (KNOWN: the values written equal the item's, so nothing changes
and no stream record is emitted) or the certificate the operator authorised as ``PendingCertificateId``
(ROTATION); it never admits a REVOKED item.

Failures:

- impostor (the inspector raises ``ThingNameClaimedByAnotherCertificate``, or the inventory condition fails
  because another certificate won the name meanwhile): the certificate is REVOKED, an
  ``ImpostorCertificateRejected`` event goes to the bus, the execution fails with ``ImpostorCertificateRejected``;
- invalid certificate (``InvalidThingName``, ``UnexpectedIssuer``) or decommissioned device
  (``DeviceDecommissioned``): certificate REVOKED, execution fails with that error;
- any other failure after the first write rolls back what this execution created, each step tolerant of its own
  failure, then fails with the original error and cause (``$.Error``). The certificate ends INACTIVE and deleted
  so that the device's next connection auto-registers it again and re-triggers JITR (a retry). Nothing is undone
  for a KNOWN device (its resources may be the replication machine's), and a thing that existed before this
  execution is never deleted.
"""
from __future__ import annotations

from typing import Any

from builders import inventory as inv

from .common import LAMBDA_INVOKE, catch, put_event, require, retry, rollback_task, sdk_task

INSPECT = "Inspect certificate"
CREATE_THING = "Create thing"
ATTACH_THING = "Attach certificate to thing"
ATTACH_POLICY = "Attach device policy"
ACTIVATE = "Activate certificate"
RECORD = "Record device in inventory"

UNDO_KNOWN = "Undo: was the device already known?"
UNDO_DEACTIVATE = "Undo: deactivate certificate"
UNDO_DETACH_POLICY = "Undo: detach device policy"
UNDO_DETACH_THING = "Undo: detach certificate from thing"
UNDO_THING_CHOICE = "Undo: did this execution create the thing?"
UNDO_DELETE_THING = "Undo: delete thing"
UNDO_IMPOSTOR_CHOICE = "Undo: was the name taken by another certificate?"
UNDO_DELETE_CERTIFICATE = "Undo: delete certificate"
REGISTRATION_FAILED = "Registration failed"

REVOKE_IMPOSTOR = "Revoke impostor certificate"
REPORT_IMPOSTOR = "Report impostor"
IMPOSTOR_REJECTED = "Impostor rejected"
REVOKE_REJECTED = "Revoke rejected certificate"
CERTIFICATE_REJECTED = "Certificate rejected"

IMPOSTOR_ERROR = "ImpostorCertificateRejected"
IMPOSTOR_DETAIL_TYPE = "ImpostorCertificateRejected"
IMPOSTOR_ERRORS = ["ThingNameClaimedByAnotherCertificate"]
REJECTED_ERRORS = ["InvalidThingName", "UnexpectedIssuer", "DeviceDecommissioned"]
CONDITION_FAILED = "DynamoDb.ConditionalCheckFailedException"

#: What the inspector returns (``$.Payload``) and the machine keeps under ``$.Device``.
DEVICE_FIELDS = (
    "ThingName", "CertificateId", "CertificateArn", "CertificatePem", "CaCertificateId", "Verdict", "ThingExists",
    inv.ORIGIN_REGION, inv.REGISTERED_AT, inv.PENDING_CERTIFICATE_ID, inv.PREVIOUS_CERTIFICATE_ID,
)

UPDATE_EXPRESSION = (
    f"SET {inv.CERTIFICATE_ID} = :cid, {inv.CERTIFICATE_PEM} = :pem, {inv.CA_CERTIFICATE_ID} = :ca, "
    f"{inv.ORIGIN_REGION} = :origin, #status = :active, {inv.REGISTERED_AT} = :at, "
    f"{inv.PENDING_CERTIFICATE_ID} = :pending, {inv.PREVIOUS_CERTIFICATE_ID} = :previous"
)
CONDITION_EXPRESSION = (
    f"attribute_not_exists({inv.THING_NAME}) OR "
    f"(#status <> :revoked AND ({inv.CERTIFICATE_ID} = :cid OR {inv.PENDING_CERTIFICATE_ID} = :cid))"
)


def _device(field: str) -> str:
    return f"$.Device.{field}"


def _inspect(inspector_function_arn: str) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Comment": "Describe the certificate, read its CN, look the thing up in the local inventory replica",
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": inspector_function_arn, "Payload.$": "$"},
        "ResultSelector": {f"{field}.$": f"$.Payload.{field}" for field in DEVICE_FIELDS},
        "ResultPath": "$.Device",
        "Retry": retry("lambda"),
        "Catch": [
            catch(IMPOSTOR_ERRORS, REVOKE_IMPOSTOR),
            catch(REJECTED_ERRORS, REVOKE_REJECTED),
            catch(["States.ALL"], REGISTRATION_FAILED),  # nothing was created yet (incl. InvalidJitrEvent)
        ],
        "Next": CREATE_THING,
    }


def _record(inventory_table: str) -> dict[str, Any]:
    values = {
        ":cid": {"S.$": _device("CertificateId")},
        ":pem": {"S.$": _device("CertificatePem")},
        ":ca": {"S.$": _device("CaCertificateId")},
        ":origin": {"S.$": _device(inv.ORIGIN_REGION)},
        ":at": {"S.$": _device(inv.REGISTERED_AT)},
        ":pending": {"S.$": _device(inv.PENDING_CERTIFICATE_ID)},
        ":previous": {"S.$": _device(inv.PREVIOUS_CERTIFICATE_ID)},
        ":active": {"S": inv.ACTIVE},
        ":revoked": {"S": inv.REVOKED},
    }
    return sdk_task(
        "dynamodb", "updateItem",
        {
            "TableName": inventory_table,
            "Key": {inv.THING_NAME: {"S.$": _device("ThingName")}},
            "UpdateExpression": UPDATE_EXPRESSION,
            "ConditionExpression": CONDITION_EXPRESSION,
            "ExpressionAttributeNames": {"#status": inv.STATUS},
            "ExpressionAttributeValues": values,
        },
        next_state=None,
        catches=[catch(["States.ALL"], UNDO_KNOWN)],
        comment="Last: the write that starts replication in the other regions",
    )


def definition(*, inspector_function_arn: str, inventory_table: str, device_policy_name: str, event_bus_name: str,
               source: str) -> dict:
    """The JITR state machine (Standard) for one region; see the module docstring."""
    require("inspector_function_arn", inspector_function_arn)
    require("inventory_table", inventory_table)
    require("device_policy_name", device_policy_name)
    require("event_bus_name", event_bus_name)
    require("source", source)
    undo = [catch(["States.ALL"], UNDO_KNOWN)]
    thing = {"ThingName.$": _device("ThingName")}
    states: dict[str, Any] = {
        INSPECT: _inspect(inspector_function_arn),
        CREATE_THING: sdk_task("iot", "createThing", thing, next_state=ATTACH_THING, catches=undo),
        ATTACH_THING: sdk_task("iot", "attachThingPrincipal", {**thing, "Principal.$": _device("CertificateArn")},
                               next_state=ATTACH_POLICY, catches=undo),
        ATTACH_POLICY: sdk_task("iot", "attachPolicy", {"PolicyName": device_policy_name, "Target.$": _device("CertificateArn")},
                                next_state=ACTIVATE, catches=undo),
        ACTIVATE: sdk_task("iot", "updateCertificate", {"CertificateId.$": _device("CertificateId"), "NewStatus": "ACTIVE"},
                           next_state=RECORD, catches=undo),
        RECORD: _record(inventory_table),
        # ---- rollback: undo only what this execution created -------------------------------------------
        UNDO_KNOWN: {
            "Type": "Choice",
            "Comment": "A KNOWN device's resources may belong to the replication machine: touch nothing",
            "Choices": [{"Variable": _device("Verdict"), "StringEquals": "KNOWN", "Next": REGISTRATION_FAILED}],
            "Default": UNDO_DEACTIVATE,
        },
        UNDO_DEACTIVATE: rollback_task("iot", "updateCertificate",
                                       {"CertificateId.$": _device("CertificateId"), "NewStatus": "INACTIVE"}, UNDO_DETACH_POLICY),
        UNDO_DETACH_POLICY: rollback_task("iot", "detachPolicy",
                                          {"PolicyName": device_policy_name, "Target.$": _device("CertificateArn")}, UNDO_DETACH_THING),
        UNDO_DETACH_THING: rollback_task("iot", "detachThingPrincipal", {**thing, "Principal.$": _device("CertificateArn")},
                                         UNDO_THING_CHOICE),
        UNDO_THING_CHOICE: {
            "Type": "Choice",
            "Choices": [{"Variable": _device("ThingExists"), "BooleanEquals": False, "Next": UNDO_DELETE_THING}],
            "Default": UNDO_IMPOSTOR_CHOICE,
        },
        UNDO_DELETE_THING: rollback_task("iot", "deleteThing", thing, UNDO_IMPOSTOR_CHOICE),
        UNDO_IMPOSTOR_CHOICE: {
            "Type": "Choice",
            "Comment": "The inventory condition failed: another certificate owns the thing name",
            "Choices": [{"Variable": "$.Error.Error", "StringEquals": CONDITION_FAILED, "Next": REVOKE_IMPOSTOR}],
            "Default": UNDO_DELETE_CERTIFICATE,
        },
        UNDO_DELETE_CERTIFICATE: rollback_task("iot", "deleteCertificate", {"CertificateId.$": _device("CertificateId")},
                                               REGISTRATION_FAILED,
                                               comment="Deleted, so the device's next connection re-triggers JITR"),
        REGISTRATION_FAILED: {"Type": "Fail", "ErrorPath": "$.Error.Error", "CausePath": "$.Error.Cause"},
        # ---- impostor: revoke, report, fail -------------------------------------------------------------
        REVOKE_IMPOSTOR: rollback_task("iot", "updateCertificate", {"CertificateId.$": "$.certificateId", "NewStatus": "REVOKED"},
                                       REPORT_IMPOSTOR),
        REPORT_IMPOSTOR: put_event(
            event_bus_name=event_bus_name, source=source, detail_type=IMPOSTOR_DETAIL_TYPE,
            detail={
                "certificateId.$": "$.certificateId",
                "caCertificateId.$": "$.caCertificateId",
                "error.$": "$.Error.Error",
                "cause.$": "$.Error.Cause",
                "execution.$": "$$.Execution.Id",
            },
            next_state=IMPOSTOR_REJECTED,
            catches=[catch(["States.ALL"], IMPOSTOR_REJECTED, result_path=None)],
        ),
        IMPOSTOR_REJECTED: {"Type": "Fail", "Error": IMPOSTOR_ERROR, "CausePath": "$.Error.Cause"},
        # ---- certificate that can never be registered: revoke, fail -------------------------------------
        REVOKE_REJECTED: rollback_task("iot", "updateCertificate", {"CertificateId.$": "$.certificateId", "NewStatus": "REVOKED"},
                                       CERTIFICATE_REJECTED),
        CERTIFICATE_REJECTED: {"Type": "Fail", "ErrorPath": "$.Error.Error", "CausePath": "$.Error.Cause"},
    }
    return {
        "Comment": "Just-in-time registration of a device certificate (see builders/asl/jitr.py)",
        "StartAt": INSPECT,
        "States": states,
    }
