"""Replication state machine: registers in this region a device that another region's JITR registered.

Runs in every region except the item's origin. Input: the flat inventory item (``builders.inventory``). Every value
comes from the item, so no call leaves this region. Happy path, 5 state transitions, no Lambda:

    Register certificate (ACTIVE) -> Create thing -> Attach certificate to thing -> Rotation? -> Attach device policy

The certificate is registered ACTIVE (the thing and policy follow within the same execution; a certificate with
no policy can do nothing), which saves the separate activation task. If the certificate already exists here
(the device reached this region first and was auto-registered PENDING_ACTIVATION, or this is a replay), the
machine describes it, refuses to re-activate a REVOKED certificate (revocation is final), and activates it.

Rotation (``PreviousCertificateId`` set): after attaching the new certificate, the previous one is revoked,
its policy detached and it is detached from the thing; each of those steps tolerates "not found".

Idempotent: replaying the same item re-runs harmless operations (CreateThing with the same configuration, attach
operations that are no-ops when attached). A failure is reported on the bus (``DeviceReplicationFailed``) and
the execution fails with the original error.
"""
from __future__ import annotations

from typing import Any

from builders import inventory as inv

from .common import catch, put_event, require, sdk_task

REGISTER = "Register certificate"
DESCRIBE_EXISTING = "Describe existing certificate"
EXISTING_REVOKED = "Is the existing certificate revoked?"
ACTIVATE_EXISTING = "Activate existing certificate"
CREATE_THING = "Create thing"
ATTACH_THING = "Attach certificate to thing"
ROTATION = "Is this a rotation?"
REVOKE_PREVIOUS = "Revoke previous certificate"
DETACH_PREVIOUS_POLICY = "Detach policy from previous certificate"
DETACH_PREVIOUS_THING = "Detach previous certificate from thing"
ATTACH_POLICY = "Attach device policy"
REPORT_FAILURE = "Report replication failure"
FAILED = "Replication failed"
REFUSED = "Certificate revoked here"

FAILURE_DETAIL_TYPE = "DeviceReplicationFailed"
ALREADY_EXISTS = "Iot.ResourceAlreadyExistsException"
NOT_FOUND = ["Iot.ResourceNotFoundException"]

# ARN of the previous certificate in this region: the new certificate's ARN with the id replaced.
PREVIOUS_CERTIFICATE_ARN = (
    "States.Format('{}/{}', States.ArrayGetItem(States.StringSplit($.Certificate.CertificateArn, '/'), 0), "
    f"$.{inv.PREVIOUS_CERTIFICATE_ID})"
)


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


def definition(*, device_policy_name: str, event_bus_name: str, source: str) -> dict:
    """The replication state machine (Standard) for one region; see the module docstring."""
    require("device_policy_name", device_policy_name)
    require("event_bus_name", event_bus_name)
    require("source", source)
    fail = [catch(["States.ALL"], REPORT_FAILURE)]
    thing = {"ThingName.$": f"$.{inv.THING_NAME}"}
    tolerant = lambda next_state: [catch(NOT_FOUND, next_state, result_path=None), *fail]  # noqa: E731
    states: dict[str, Any] = {
        REGISTER: sdk_task(
            "iot", "registerCertificate", {"CertificatePem.$": f"$.{inv.CERTIFICATE_PEM}", "Status": "ACTIVE"},
            result_selector={"CertificateArn.$": "$.CertificateArn"}, result_path="$.Certificate",
            next_state=CREATE_THING, catches=[catch([ALREADY_EXISTS], DESCRIBE_EXISTING, result_path=None), *fail],
            comment="The registered CA (SNI_ONLY) signs it, so no CaCertificatePem is needed",
        ),
        DESCRIBE_EXISTING: sdk_task(
            "iot", "describeCertificate", {"CertificateId.$": f"$.{inv.CERTIFICATE_ID}"},
            result_selector={"CertificateArn.$": "$.CertificateDescription.CertificateArn",
                             "Status.$": "$.CertificateDescription.Status"},
            result_path="$.Certificate", next_state=EXISTING_REVOKED, catches=fail,
        ),
        EXISTING_REVOKED: {
            "Type": "Choice",
            "Choices": [{"Variable": "$.Certificate.Status", "StringEquals": "REVOKED", "Next": REFUSED}],
            "Default": ACTIVATE_EXISTING,
        },
        ACTIVATE_EXISTING: sdk_task("iot", "updateCertificate", {"CertificateId.$": f"$.{inv.CERTIFICATE_ID}", "NewStatus": "ACTIVE"},
                                    next_state=CREATE_THING, catches=fail),
        CREATE_THING: sdk_task("iot", "createThing", thing, next_state=ATTACH_THING, catches=fail),
        ATTACH_THING: sdk_task("iot", "attachThingPrincipal", {**thing, "Principal.$": "$.Certificate.CertificateArn"},
                               next_state=ROTATION, catches=fail),
        ROTATION: {
            "Type": "Choice",
            "Choices": [{"Not": {"Variable": f"$.{inv.PREVIOUS_CERTIFICATE_ID}", "StringEquals": ""}, "Next": REVOKE_PREVIOUS}],
            "Default": ATTACH_POLICY,
        },
        REVOKE_PREVIOUS: sdk_task("iot", "updateCertificate",
                                  {"CertificateId.$": f"$.{inv.PREVIOUS_CERTIFICATE_ID}", "NewStatus": "REVOKED"},
                                  next_state=DETACH_PREVIOUS_POLICY, catches=tolerant(DETACH_PREVIOUS_POLICY)),
        DETACH_PREVIOUS_POLICY: sdk_task("iot", "detachPolicy",
                                         {"PolicyName": device_policy_name, "Target.$": PREVIOUS_CERTIFICATE_ARN},
                                         next_state=DETACH_PREVIOUS_THING, catches=tolerant(DETACH_PREVIOUS_THING)),
        DETACH_PREVIOUS_THING: sdk_task("iot", "detachThingPrincipal", {**thing, "Principal.$": PREVIOUS_CERTIFICATE_ARN},
                                        next_state=ATTACH_POLICY, catches=tolerant(ATTACH_POLICY)),
        ATTACH_POLICY: sdk_task("iot", "attachPolicy", {"PolicyName": device_policy_name, "Target.$": "$.Certificate.CertificateArn"},
                                next_state=None, catches=fail),
        REPORT_FAILURE: failure_report(event_bus_name, source, FAILURE_DETAIL_TYPE, FAILED),
        FAILED: {"Type": "Fail", "ErrorPath": "$.Error.Error", "CausePath": "$.Error.Cause"},
        REFUSED: {"Type": "Fail", "Error": "CertificateRevoked",
                  "Cause": "The certificate is REVOKED in this region; replication never re-activates a revoked certificate"},
    }
    return {
        "Comment": "Replicates a device registered in another region (see builders/asl/replication.py)",
        "StartAt": REGISTER,
        "States": states,
    }
