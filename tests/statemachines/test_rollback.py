"""JITR rollback: a failure after the first write leaves nothing behind and the certificate not ACTIVE."""
from __future__ import annotations

import pytest

from localcloud.patches import aws_calls

EU = "eu-west-1"

FAILING_STEPS = [
    ("iot", "CreateThing", "InvalidRequestException", "Iot.InvalidRequestException"),
    ("iot", "AttachThingPrincipal", "InvalidRequestException", "Iot.InvalidRequestException"),
    ("iot", "AttachPolicy", "LimitExceededException", "Iot.LimitExceededException"),
    ("iot", "UpdateCertificate", "CertificateStateException", "Iot.CertificateStateException"),
    ("dynamodb", "UpdateItem", "ResourceNotFoundException", "DynamoDb.ResourceNotFoundException"),
]


def assert_nothing_left(cloud, device, name):
    assert not cloud.thing_exists(EU, name)
    certificate = cloud.certificate(EU, device.certificate_id)
    assert certificate is None or certificate["status"] != "ACTIVE"
    if certificate is not None:
        assert cloud.policies(EU, certificate["certificateArn"]) == []
        assert cloud.regions[EU].client("iot").list_principal_things(principal=certificate["certificateArn"])["things"] == []
    assert cloud.items(EU) == []


@pytest.mark.parametrize("service, operation, code, error", FAILING_STEPS, ids=[s[1] for s in FAILING_STEPS])
def test_a_failure_at_any_step_rolls_back_everything_this_execution_created(cloud, ca, service, operation, code, error):
    device = ca.device(f"rollback-{operation.lower()}")
    event = cloud.connect(EU, device)
    aws_calls.inject(service, operation, error_code=code, region=EU)

    run = cloud.run(EU, "jitr", event)

    assert run.status == "FAILED"
    assert run.error == error
    assert "Injected" in run.cause
    assert_nothing_left(cloud, device, device.name)
    # the certificate was deleted so the device's next connection re-triggers JITR, which then succeeds
    assert cloud.certificate(EU, device.certificate_id) is None
    assert cloud.jitr(EU, device).status == "SUCCEEDED"


def test_throttling_is_retried_and_only_exhausted_retries_roll_back(cloud, ca):
    from localcloud.patches import sfn_retry_sleep

    ok, doomed = ca.device("throttled-once"), ca.device("throttled-forever")
    aws_calls.inject("iot", "AttachPolicy", error_code="ThrottlingException", region=EU, times=2)
    sfn_retry_sleep.SLEPT.clear()
    assert cloud.jitr(EU, ok).status == "SUCCEEDED"
    assert len(sfn_retry_sleep.SLEPT) == 2

    aws_calls.clear()
    aws_calls.inject("iot", "AttachPolicy", error_code="ThrottlingException", region=EU, times=100)
    run = cloud.jitr(EU, doomed)
    assert (run.status, run.error) == ("FAILED", "Iot.ThrottlingException")
    assert_nothing_left_for = cloud.certificate(EU, doomed.certificate_id)
    assert assert_nothing_left_for is None
    assert not cloud.thing_exists(EU, "throttled-forever")


def test_failing_rollback_steps_do_not_stop_the_rollback(cloud, ca):
    device = ca.device("stubborn")
    event = cloud.connect(EU, device)
    aws_calls.inject("dynamodb", "UpdateItem", error_code="ResourceNotFoundException", region=EU)
    # every compensation that could fail does: detach thing principal and delete certificate, even after retries
    aws_calls.inject("iot", "DetachThingPrincipal", error_code="ServiceUnavailableException", region=EU, times=100)
    aws_calls.inject("iot", "DeleteCertificate", error_code="InternalFailureException", region=EU, times=100)

    run = cloud.run(EU, "jitr", event)

    assert run.status == "FAILED"
    assert run.error == "DynamoDb.ResourceNotFoundException"  # the original error, not a rollback one
    certificate = cloud.certificate(EU, device.certificate_id)
    assert certificate["status"] == "INACTIVE"
    assert cloud.policies(EU, certificate["certificateArn"]) == []
    assert cloud.items(EU) == []
    assert run.states[-1] == "Registration failed"


def test_rollback_never_deletes_a_thing_that_existed_before(cloud, ca):
    cloud.regions[EU].client("iot").create_thing(thingName="pre-existing")
    device = ca.device("pre-existing")
    event = cloud.connect(EU, device)
    aws_calls.inject("iot", "AttachPolicy", error_code="InvalidRequestException", region=EU)

    run = cloud.run(EU, "jitr", event)

    assert run.status == "FAILED"
    assert cloud.thing_exists(EU, "pre-existing")
    assert cloud.principals(EU, "pre-existing") == []


def test_rollback_of_a_known_device_touches_nothing(cloud, ca):
    device = ca.device("known-device")
    assert cloud.jitr(EU, device).status == "SUCCEEDED"
    cloud.replicate_table(EU, "us-west-2")
    US = "us-west-2"
    # the replication machine in US registered and attached the device meanwhile
    event = cloud.connect(US, device)
    aws_calls.inject("iot", "AttachPolicy", error_code="InvalidRequestException", region=US)

    run = cloud.run(US, "jitr", event)

    assert run.status == "FAILED"
    assert "Undo: deactivate certificate" not in run.states
    assert cloud.thing_exists(US, "known-device")
    assert cloud.certificate(US, device.certificate_id) is not None
    assert cloud.item(US, "known-device") is not None


def test_an_inspector_that_keeps_failing_creates_nothing_and_leaves_the_certificate_pending(cloud, ca):
    device = ca.device("no-lambda")
    event = cloud.connect(EU, device)
    aws_calls.inject("lambda", "Invoke", error_code="ServiceException", region=EU, times=100)

    run = cloud.run(EU, "jitr", event)

    assert (run.status, run.error) == ("FAILED", "Lambda.ServiceException")
    assert run.states.count("Inspect certificate") == 1 and run.states[-1] == "Registration failed"
    from builders.asl.common import retry

    assert len(aws_calls.calls("lambda", "Invoke", EU)) == 1 + retry("lambda")[0]["MaxAttempts"]  # first try + retries
    assert cloud.certificate(EU, device.certificate_id)["status"] == "PENDING_ACTIVATION"
    assert not cloud.thing_exists(EU, "no-lambda") and cloud.items(EU) == []
