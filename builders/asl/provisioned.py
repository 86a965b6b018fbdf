"""The recorder of a device AWS IoT provisioned itself (JITP): claims its thing name in the inventory.

Input: the certificate-registered event (``certificateId``, ``caCertificateId``, ...) that AWS IoT publishes on
``$aws/events/certificates/registered/<CA id>`` when it auto-registers a certificate, which JITP does first ("The
JITP workflow first registers a certificate with a status value of PENDING_ACTIVATION",
https://docs.aws.amazon.com/iot/latest/developerguide/jit-provisioning.html). The template makes the thing,
attaches certificate and device policy and activates the certificate; this machine only writes the inventory item,
so today's replication carries the device to every other region (docs/design.md, "Provisioning modes").

Happy path, 4 state transitions, no Lambda:

    Describe certificate -> Find provisioned thing -> Provisioned yet? -> Claim thing name

The claim is the inspector's conditional write (``contract/items.py``: the same update expression, NEW only if no
item exists), the commit point of "One owner per thing name". When it loses:

- the item names this certificate and is ACTIVE (the device reached this region after replication, or a repeated
  event): nothing to do;
- the item names this certificate and is REVOKED (a decommissioned device reaching a region that never registered
  it): the certificate is revoked, ``DeviceDecommissioned``;
- another certificate owns the name: JITP already activated this one, so it is quarantined INACTIVE (as JITR does,
  and for the same reason: in a cross-region race the global table may keep this one, and replication then
  activates it), detached from the thing, reported (``ImpostorCertificateRejected``), ``ImpostorCertificateRejected``.

The event is published when the certificate is registered, and the template may still be running when this
machine starts: while the certificate has no thing yet it waits (5 s, at most 12 times) and looks again.
"""
from __future__ import annotations

from typing import Any

from builders import inventory as inv
from contract import errors, events, items

from .common import (CONDITION_FAILED, catch, put_event, read_item, require, rollback_task, sdk_task)

DESCRIBE = "Describe certificate"
FIND_THING = "Find provisioned thing"
PROVISIONED_YET = "Provisioned yet?"
FIRST_WAIT = "First look found no thing"
COUNT_WAIT = "Count looks"
WAIT = "Wait for the template"
CLAIM = "Claim thing name"
READ = "Read inventory"
WHOSE = "Whose is the thing name?"
ALREADY_RECORDED = "Already recorded"
REVOKE_DECOMMISSIONED = "Revoke decommissioned device's certificate"
DECOMMISSIONED = "Device decommissioned"
QUARANTINE = "Quarantine impostor certificate"
DETACH = "Detach impostor from thing"
REPORT = "Report impostor"
IMPOSTOR_REJECTED = "Impostor rejected"
NOT_PROVISIONED = "Template did not provision"
RECORDING_FAILED = "Recording failed"

IMPOSTOR_ERROR = errors.IMPOSTOR_CERTIFICATE_REJECTED
IMPOSTOR_DETAIL_TYPE = events.IMPOSTOR_REJECTED
MAX_LOOKS = 12
WAIT_SECONDS = 5

_REGION = "States.ArrayGetItem(States.StringSplit($$.StateMachine.Id, ':'), 3)"
_THING = "$.Principal.Things[0]"


def claim_parameters(inventory_table: str) -> dict[str, Any]:
    """UpdateItem of the NEW claim, with the inspector's expression and condition (``contract/items.py``)."""
    values = {
        ":cid": {"S.$": "$.certificateId"},
        ":pem": {"S.$": "$.Certificate.Pem"},
        ":ca": {"S.$": "$.Certificate.CaCertificateId"},
        ":origin": {"S.$": _REGION},
        ":at": {"S.$": "$$.State.EnteredTime"},
        ":pending": {"S": ""},
        ":previous": {"S": ""},
        ":active": {"S": inv.ACTIVE},
    }
    return {
        "TableName": inventory_table,
        "Key": {inv.THING_NAME: {"S.$": _THING}},
        "UpdateExpression": items.CLAIM_EXPRESSION,
        "ConditionExpression": items.CLAIM_CONDITIONS["NEW"],
        "ExpressionAttributeNames": items.CLAIM_NAMES,
        "ExpressionAttributeValues": values,
    }


def definition(*, inventory_table: str, event_bus_name: str, source: str) -> dict:
    """The recorder (Standard) for one region; see the module docstring."""
    require("inventory_table", inventory_table)
    require("event_bus_name", event_bus_name)
    require("source", source)
    fail = [catch(["States.ALL"], RECORDING_FAILED)]
    certificate_id = {"CertificateId.$": "$.certificateId"}
    item = "$.Current.Item"
    states: dict[str, Any] = {
        DESCRIBE: sdk_task("iot", "describeCertificate", certificate_id, result_path="$.Certificate",
                           result_selector={"Arn.$": "$.CertificateDescription.CertificateArn",
                                            "Pem.$": "$.CertificateDescription.CertificatePem",
                                            "CaCertificateId.$": "$.CertificateDescription.CaCertificateId"},
                           next_state=FIND_THING, catches=fail),
        FIND_THING: sdk_task("iot", "listPrincipalThings", {"Principal.$": "$.Certificate.Arn"},
                             result_path="$.Principal", next_state=PROVISIONED_YET, catches=fail,
                             comment="The thing JITP made from the certificate's CN"),
        PROVISIONED_YET: {
            "Type": "Choice",
            "Choices": [
                {"Variable": _THING, "IsPresent": True, "Next": CLAIM},
                {"Variable": "$.Looks", "IsPresent": False, "Next": FIRST_WAIT},
                {"Variable": "$.Looks.Count", "NumericGreaterThanEquals": MAX_LOOKS, "Next": NOT_PROVISIONED},
            ],
            "Default": COUNT_WAIT,
        },
        FIRST_WAIT: {"Type": "Pass", "Result": {"Count": 1}, "ResultPath": "$.Looks", "Next": WAIT},
        COUNT_WAIT: {"Type": "Pass", "Parameters": {"Count.$": "States.MathAdd($.Looks.Count, 1)"},
                     "ResultPath": "$.Looks", "Next": WAIT},
        WAIT: {"Type": "Wait", "Seconds": WAIT_SECONDS, "Next": FIND_THING},
        NOT_PROVISIONED: {"Type": "Fail", "Error": "TemplateDidNotProvision",
                          "Cause": "the certificate has no thing: JITP failed (its next connection runs it again)"},
        CLAIM: sdk_task("dynamodb", "updateItem", claim_parameters(inventory_table), next_state=None,
                        catches=[catch([CONDITION_FAILED], READ), *fail],
                        comment="The commit point: NEW only if no item exists (claim.py)"),
        READ: read_item(inventory_table, _THING, next_state=WHOSE, catches=fail),
        WHOSE: {
            "Type": "Choice",
            "Choices": [
                {"And": [{"Variable": f"{item}.CertificateId.S", "IsPresent": True},
                         {"Variable": f"{item}.CertificateId.S", "StringEqualsPath": "$.certificateId"},
                         {"Variable": f"{item}.Status.S", "StringEquals": inv.ACTIVE}], "Next": ALREADY_RECORDED},
                {"And": [{"Variable": f"{item}.CertificateId.S", "IsPresent": True},
                         {"Variable": f"{item}.CertificateId.S", "StringEqualsPath": "$.certificateId"}],
                 "Next": REVOKE_DECOMMISSIONED},
            ],
            "Default": QUARANTINE,
        },
        ALREADY_RECORDED: {"Type": "Succeed"},
        REVOKE_DECOMMISSIONED: rollback_task("iot", "updateCertificate", {**certificate_id, "NewStatus": "REVOKED"},
                                             DECOMMISSIONED),
        DECOMMISSIONED: {"Type": "Fail", "Error": errors.DEVICE_DECOMMISSIONED,
                         "Cause": "the inventory marks this device REVOKED"},
        QUARANTINE: rollback_task("iot", "updateCertificate", {**certificate_id, "NewStatus": "INACTIVE"}, DETACH,
                                  comment="INACTIVE, as JITR quarantines: refused at connection, no new event"),
        DETACH: rollback_task("iot", "detachThingPrincipal", {"ThingName.$": _THING, "Principal.$": "$.Certificate.Arn"},
                              REPORT),
        REPORT: put_event(
            event_bus_name=event_bus_name, source=source, detail_type=IMPOSTOR_DETAIL_TYPE,
            detail={"certificateId.$": "$.certificateId", "caCertificateId.$": "$.caCertificateId",
                    "thingName.$": _THING, "error": IMPOSTOR_ERROR,
                    "cause": "JITP provisioned a certificate for a thing name another certificate owns",
                    "execution.$": "$$.Execution.Id"},
            next_state=IMPOSTOR_REJECTED, catches=[catch(["States.ALL"], IMPOSTOR_REJECTED, result_path=None)]),
        IMPOSTOR_REJECTED: {"Type": "Fail", "Error": IMPOSTOR_ERROR,
                            "Cause": "another certificate owns the thing name; this one is quarantined INACTIVE"},
        RECORDING_FAILED: {"Type": "Fail", "ErrorPath": "$.Error.Error", "CausePath": "$.Error.Cause"},
    }
    return {
        "Comment": "Records a device JITP provisioned in the inventory (see builders/asl/provisioned.py)",
        "StartAt": DESCRIBE,
        "States": states,
    }
