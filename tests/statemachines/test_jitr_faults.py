"""JITR under faults: any failure leaves the certificate PENDING_ACTIVATION (it cannot connect), nothing is undone,
and the device's next connection (IoT publishes the registration event again) completes the registration."""
from __future__ import annotations

import pytest

from builders.asl.common import retry
from localcloud import interception as aws_calls

EU, US = "eu-west-1", "us-west-2"

FAILING_STEPS = [
    ("lambda", "Invoke", "ServiceException", "Lambda.ServiceException"),
    ("iot", "DescribeCertificate", "InternalFailureException", None),  # inside the inspector: a named Lambda error
    ("dynamodb", "GetItem", "InternalServerError", None),
    ("dynamodb", "UpdateItem", "ProvisionedThroughputExceededException", None),
    ("iot", "CreateThing", "InvalidRequestException", "Iot.InvalidRequestException"),
    ("iot", "AttachThingPrincipal", "InvalidRequestException", "Iot.InvalidRequestException"),
    ("iot", "AttachPolicy", "LimitExceededException", "Iot.LimitExceededException"),
    ("iot", "UpdateCertificate", "InternalFailureException", "Iot.InternalFailureException"),
]


@pytest.fixture
def sdk_backoff(monkeypatch):
    """botocore's retry back-off, recorded instead of slept (test time only: every retry still happens, in order).

    The inspector Lambda runs in-process with its real boto3 clients; a DynamoDB fault that lasts makes the DynamoDB
    client retry each call 9 times (botocore's legacy mode: 0.05 s doubling to 12.8 s, ~25 s per exhausted call), on
    every invocation the JITR machine retries: ~70 s asleep for the UpdateItem fault. botocore sleeps in
    ``botocore.endpoint.Endpoint._needs_retry``: only that module's ``time`` is swapped, so nothing else's clock or
    sleeps change."""
    import time
    import types

    import botocore.endpoint

    slept: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(**{
        **{name: getattr(time, name) for name in dir(time) if not name.startswith("_")}, "sleep": slept.append}))
    return slept


def assert_registered(cloud, device, region=EU):
    certificate = cloud.certificate(region, device.certificate_id)
    assert certificate["status"] == "ACTIVE"
    assert cloud.principals(region, device.name) == [certificate["certificateArn"]]
    assert cloud.policies(region, certificate["certificateArn"]) == ["iotmr-device"]
    assert cloud.item(region, device.name)["CertificateId"]["S"] == device.certificate_id


@pytest.mark.parametrize("service, operation, code, error", FAILING_STEPS, ids=[s[1] for s in FAILING_STEPS])
def test_a_fault_at_any_step_leaves_the_certificate_pending_and_the_next_connection_recovers(
        cloud, ca, service, operation, code, error, sdk_backoff):
    device = ca.device(f"fault-{operation.lower()}")
    event = cloud.connect(EU, device)
    aws_calls.inject(service, operation, error_code=code, region=EU, times=100)  # down for good, retries exhausted

    run = cloud.run(EU, "jitr", event)

    assert run.status == "FAILED" and run.states[-1] == "Registration failed"
    if error:
        assert run.error == error
    aws_calls.clear()  # the fault clears; the device reconnects and IoT publishes the event again
    assert cloud.certificate(EU, device.certificate_id)["status"] == "PENDING_ACTIVATION"  # cannot connect meanwhile
    rerun = cloud.run(EU, "jitr", event)
    assert rerun.status == "SUCCEEDED", (rerun.error, rerun.cause)
    assert_registered(cloud, device)


def test_an_inspector_that_keeps_failing_is_retried_then_creates_nothing(cloud, ca):
    device = ca.device("no-lambda")
    event = cloud.connect(EU, device)
    aws_calls.inject("lambda", "Invoke", error_code="ServiceException", region=EU, times=100)

    run = cloud.run(EU, "jitr", event)

    assert (run.status, run.error) == ("FAILED", "Lambda.ServiceException")
    (rule,) = [r for r in retry("lambda") if "Lambda.ServiceException" in r["ErrorEquals"]]
    assert len(aws_calls.calls("lambda", "Invoke", EU)) == 1 + rule["MaxAttempts"]  # first try + retries
    assert cloud.certificate(EU, device.certificate_id)["status"] == "PENDING_ACTIVATION"
    assert not cloud.thing_exists(EU, "no-lambda") and cloud.items(EU) == []


def test_a_thing_that_existed_before_is_adopted_not_deleted(cloud, ca):
    cloud.regions[EU].client("iot").create_thing(thingName="pre-existing")  # made by hand, no owner attribute
    device = ca.device("pre-existing")

    run = cloud.jitr(EU, device)

    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert_registered(cloud, device)


@pytest.mark.parametrize("executions", [2, 5])
def test_duplicate_registration_events_never_undo_each_other(cloud, ca, executions):
    device = ca.device(f"duplicated-{executions}")
    event = cloud.connect(EU, device)
    runs = []
    # every other execution runs entirely between the first one's claim and its first IoT step
    aws_calls.inject("iot", "CreateThing", region=EU,
                     before=lambda: runs.extend(cloud.run(EU, "jitr", event) for _ in range(executions - 1)))

    runs.insert(0, cloud.run(EU, "jitr", event))

    assert [r.status for r in runs] == ["SUCCEEDED"] * executions
    assert_registered(cloud, device)
    assert len(aws_calls.calls("dynamodb", "UpdateItem", EU)) == 1  # one claim; the others found it and wrote nothing


def test_a_device_revoked_while_its_registration_runs_is_never_activated(cloud, ca):
    device = ca.device("revoked-meanwhile")
    event = cloud.connect(EU, device)
    iot = cloud.regions[EU].client("iot")
    aws_calls.inject("iot", "AttachPolicy", region=EU,
                     before=lambda: iot.update_certificate(certificateId=device.certificate_id, newStatus="REVOKED"))

    run = cloud.run(EU, "jitr", event)

    assert (run.status, run.error) == ("FAILED", "Iot.CertificateStateException")
    assert cloud.certificate(EU, device.certificate_id)["status"] == "REVOKED"


def test_a_device_decommissioned_while_its_registration_runs_leaves_no_thing_behind(cloud, ca):
    from builders import inventory as inv

    device = ca.device("decommissioned-meanwhile")
    known = inv.item(thing_name=device.name, certificate_id=device.certificate_id, certificate_pem=device.pem,
                     ca_certificate_id=ca.certificate_id, origin_region=US, registered_at="2025-01-01T00:00:00Z")
    cloud.put_item(EU, known)  # onboarded in US; replicated here; its EU replication has not run
    event = cloud.connect(EU, device)  # the device reaches EU: PENDING_ACTIVATION, JITR (KNOWN)

    def decommission_runs_to_the_end() -> None:
        item = {**known, "Status": {"S": "REVOKED"}}
        cloud.put_item(EU, item)
        assert cloud.decommission(EU, item).status == "SUCCEEDED"
        assert not cloud.thing_exists(EU, device.name)

    # after this execution's claim check and before it creates the thing
    aws_calls.inject("iot", "CreateThing", region=EU, before=decommission_runs_to_the_end)

    run = cloud.run(EU, "jitr", event)

    assert (run.status, run.error) == ("FAILED", "Iot.CertificateStateException")
    assert cloud.certificate(EU, device.certificate_id)["status"] == "REVOKED"
    assert not cloud.thing_exists(EU, device.name)  # the thing it created again is gone again
