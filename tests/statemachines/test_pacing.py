"""Pacing in the machines as built: a call AWS throttles takes a slot on its API's queue from the pacer Lambda,
waits for it in a Wait state and is called again; the happy path never calls the pacer; a queue beyond the
horizon leaves a JITR certificate PENDING_ACTIVATION for the device's next connection."""
from __future__ import annotations

import time

from localcloud import interception as aws_calls
from localcloud.services.awslambda import inprocess as lambda_inprocess

from localcloud.statemachines.harness import PACER, PACING

EU, US = "eu-west-1", "us-west-2"
INSPECTOR = "iotmr-certificate-inspector"


def pacer_calls():
    return [i for i in lambda_inprocess.INVOCATIONS if i.function_name == PACER]


def assert_registered(cloud, device, region=EU):
    certificate = cloud.certificate(region, device.certificate_id)
    assert certificate["status"] == "ACTIVE"
    assert cloud.principals(region, device.name) == [certificate["certificateArn"]]
    assert cloud.policies(region, certificate["certificateArn"]) == ["iotmr-device"]


def test_the_happy_path_never_calls_the_pacer(cloud, ca):
    lambda_inprocess.INVOCATIONS.clear()

    run = cloud.jitr(EU, ca.device("calm"))

    assert run.status == "SUCCEEDED" and run.transitions == 5
    assert pacer_calls() == []


def test_a_throttled_call_waits_for_a_slot_and_is_called_again(cloud, ca):
    device = ca.device("throttled-twice")
    aws_calls.inject("iot", "AttachPolicy", error_code="ThrottlingException", region=EU, times=2)
    lambda_inprocess.INVOCATIONS.clear()

    run = cloud.jitr(EU, device)

    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert run.states[3:10] == ["Attach device policy", "Pace: Attach device policy", "Wait: Attach device policy",
                                "Attach device policy", "Pace: Attach device policy", "Wait: Attach device policy",
                                "Attach device policy"]
    assert run.transitions == 5 + 2 * 3
    assert [i.error_type for i in pacer_calls()] == [None, None]
    assert_registered(cloud, device)


def test_a_throttled_describe_certificate_in_the_inspector_waits_for_a_slot_too(cloud, ca):
    device = ca.device("inspector-throttled")
    aws_calls.inject("iot", "DescribeCertificate", error_code="ThrottlingException", region=EU, times=1)

    run = cloud.jitr(EU, device)

    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert run.states[:4] == ["Inspect and record", "Pace: Inspect and record", "Wait: Inspect and record",
                              "Inspect and record"]
    assert len(aws_calls.calls("iot", "DescribeCertificate", EU)) == 2  # no retry inside the function
    assert_registered(cloud, device)


def test_a_queue_beyond_the_horizon_leaves_the_certificate_pending_for_the_next_connection(cloud, ca):
    device = ca.device("queue-full")
    event = cloud.connect(EU, device)
    dynamodb = cloud.regions[EU].client("dynamodb")
    dynamodb.put_item(TableName=PACING, Item={"Api": {"S": "iot:AttachPolicy"},
                                              "Tat": {"N": str(time.time() + 4 * 3600)}})  # a 4-hour backlog
    aws_calls.inject("iot", "AttachPolicy", error_code="ThrottlingException", region=EU, times=1)

    run = cloud.run(EU, "jitr", event)

    assert (run.status, run.error) == ("FAILED", "QueueTooLong")
    assert run.states[-3:] == ["Pace: Attach device policy", "Release registration lease", "Registration failed"]
    assert cloud.certificate(EU, device.certificate_id)["status"] == "PENDING_ACTIVATION"
    dynamodb.delete_item(TableName=PACING, Key={"Api": {"S": "iot:AttachPolicy"}})
    assert cloud.run(EU, "jitr", event).status == "SUCCEEDED"  # the device's next connection
    assert_registered(cloud, device)


def test_replication_waits_for_a_slot_instead_of_failing_into_the_dead_letter_queue(cloud, ca):
    device = ca.device("replicated-under-load")
    assert cloud.jitr(EU, device).status == "SUCCEEDED"
    aws_calls.inject("iot", "RegisterCertificate", error_code="ThrottlingException", region=US, times=3)

    run = cloud.replicate(US, cloud.item(EU, device.name))

    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert run.states.count("Wait: Register certificate") == 3
    assert_registered(cloud, device, US)
