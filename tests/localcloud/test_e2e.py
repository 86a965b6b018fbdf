"""The deployed program, end to end, through the emulated IoT Core data plane: onboarding in either
region, the two-regions race, impostors, telemetry and decommissioning. One deploy per module."""

from __future__ import annotations

import base64
import json

import boto3
import pytest

import pki
from localcloud import observe
from localcloud.cloud import LocalCloud
from localcloud import interception as aws_calls
from localcloud.services import ConnectionRefused
from localcloud.services.iot.core import Connection, PublishRefused

PRIMARY, SECONDARY = "eu-west-1", "us-west-2"
REGIONS = (PRIMARY, SECONDARY)


def inventory(cloud: LocalCloud, region: str, thing: str) -> list[dict]:
    table = cloud.primary_outputs["inventoryTableName"]
    return [i for i in observe.table_items(region, table) if i["ThingName"] == thing]


def publish(cloud: LocalCloud, connection: Connection, message: str) -> None:
    cloud.engines.iot.publish(connection, f"i/{connection.client_id}/m", json.dumps({"message": message}))


@pytest.mark.parametrize("first", REGIONS)
def test_a_device_onboarded_in_one_region_can_connect_and_publish_in_every_region(
        cloud: LocalCloud, ca: pki.CertificateAuthority, first: str) -> None:
    device = ca.issue_device(f"onboard-{first}")
    connection = cloud.connect(first, device.certificate_pem, device.name)
    assert connection.attempts == 2  # refused once: just-in-time registration
    for region in REGIONS:
        connection = cloud.connect(region, device.certificate_pem, device.name, attempts=1)
        assert (connection.region, connection.thing_name) == (region, device.name)
        publish(cloud, connection, f"hello {region}")
        assert observe.certificate_status(region, device.certificate_id) == "ACTIVE"
        assert [i["OriginRegion"] for i in inventory(cloud, region, device.name)] == [first]


def test_a_device_reaching_both_regions_at_once_ends_active_everywhere_with_one_inventory_item(
        cloud: LocalCloud, ca: pki.CertificateAuthority) -> None:
    device = ca.issue_device("racer-0001")
    for region in REGIONS:
        with pytest.raises(ConnectionRefused):
            cloud.engines.iot.connect(region, device.certificate_pem, device.name)
    cloud.settle()
    for region in REGIONS:
        connection = cloud.connect(region, device.certificate_pem, device.name)
        assert connection.open
        items = inventory(cloud, region, device.name)
        assert [(i["CertificateId"], i["Status"]) for i in items] == [(device.certificate_id, "ACTIVE")]
        assert observe.certificate_status(region, device.certificate_id) == "ACTIVE"
    origins = {inventory(cloud, region, device.name)[0]["OriginRegion"] for region in REGIONS}
    assert len(origins) == 1  # both replicas converged on one writer


def test_an_impostor_with_a_taken_thing_name_is_refused_everywhere(
        cloud: LocalCloud, ca: pki.CertificateAuthority) -> None:
    owner = ca.issue_device("owned-0001")
    cloud.connect(PRIMARY, owner.certificate_pem, owner.name)
    cloud.settle()
    impostor = ca.issue_device("owned-0001")  # our CA, same name, another key
    for region in REGIONS:
        with pytest.raises(ConnectionRefused):
            cloud.connect(region, impostor.certificate_pem, impostor.name, attempts=3)
        assert observe.certificate_status(region, impostor.certificate_id) != "ACTIVE"
        assert [i["CertificateId"] for i in inventory(cloud, region, owner.name)] == [owner.certificate_id]
        assert cloud.connect(region, owner.certificate_pem, owner.name, attempts=1).open


def test_a_device_of_a_foreign_ca_is_refused_at_the_handshake_everywhere(cloud: LocalCloud) -> None:
    stranger = pki.CertificateAuthority.create(org="Elsewhere").issue_device("stranger-0001")
    for region in REGIONS:
        with pytest.raises(ConnectionRefused, match="no CA registered there signed it"):
            cloud.connect(region, stranger.certificate_pem, stranger.name, attempts=2)
        assert observe.certificate_status(region, stranger.certificate_id) is None


def test_telemetry_is_stored_with_the_region_that_received_it_and_starts_no_execution(
        cloud: LocalCloud, ca: pki.CertificateAuthority) -> None:
    device = ca.issue_device("telemetry-0001")
    cloud.connect(PRIMARY, device.certificate_pem, device.name)
    cloud.settle()
    before = {region: len(list(observe.executions(region))) for region in REGIONS}
    for region in REGIONS:
        publish(cloud, cloud.connect(region, device.certificate_pem, device.name, attempts=1), f"via {region}")
    cloud.settle()
    data = cloud.primary_outputs["dataTableName"]
    for replica in REGIONS:
        stored = sorted((i["Region"], i["Message"]) for i in observe.table_items(replica, data)
                        if i["Device"] == device.name)
        assert stored == [(PRIMARY, f"via {PRIMARY}"), (SECONDARY, f"via {SECONDARY}")]
    assert {region: len(list(observe.executions(region))) for region in REGIONS} == before


@pytest.mark.parametrize("operator_region", REGIONS)
def test_decommissioning_in_one_region_removes_the_device_everywhere(
        cloud: LocalCloud, ca: pki.CertificateAuthority, operator_region: str) -> None:
    device = ca.issue_device(f"retired-{operator_region}")
    cloud.connect(PRIMARY, device.certificate_pem, device.name)
    cloud.settle()
    assert cloud.connect(SECONDARY, device.certificate_pem, device.name, attempts=1).open
    boto3.client("dynamodb", region_name=operator_region).update_item(
        TableName=cloud.primary_outputs["inventoryTableName"], Key={"ThingName": {"S": device.name}},
        UpdateExpression="SET #s = :revoked", ExpressionAttributeNames={"#s": "Status"},
        ExpressionAttributeValues={":revoked": {"S": "REVOKED"}})
    cloud.settle()
    for region in REGIONS:
        assert observe.certificate_status(region, device.certificate_id) not in ("ACTIVE", "PENDING_ACTIVATION")
        assert device.name not in {t.name for t in observe.things(region)}
        with pytest.raises(ConnectionRefused):
            cloud.connect(region, device.certificate_pem, device.name, attempts=2)
        assert [i["Status"] for i in inventory(cloud, region, device.name)] == ["REVOKED"]


def test_every_execution_of_the_module_succeeded_or_failed_only_for_refused_devices(cloud: LocalCloud) -> None:
    failed = [(e.region, e.machine, e.input) for region in REGIONS for e in observe.executions(region)
              if e.status != "SUCCEEDED" and "dead-letter-" not in e.input]  # made to fail below
    assert all("jitr" in machine for _, machine, _ in failed), failed
    assert all(e.status != "RUNNING" for region in REGIONS for e in observe.executions(region))


def test_a_replication_that_fails_after_its_retries_lands_in_that_region_s_dead_letter_queue(
        cloud: LocalCloud, ca: pki.CertificateAuthority) -> None:
    urls = {region: cloud.outputs(region)["replicationDeadLetterQueueUrl"] for region in REGIONS}
    before = {region: observe.queue_depth(region, url) for region, url in urls.items()}
    device = ca.issue_device("dead-letter-0001")
    aws_calls.inject("iot", "RegisterCertificate", region=SECONDARY, error_code="ServiceUnavailableException", times=50)
    try:
        cloud.connect(PRIMARY, device.certificate_pem, device.name)
    finally:
        aws_calls.clear()
    (failed,) = [e for e in observe.executions(SECONDARY) if device.name in e.input]
    assert failed.status == "FAILED"
    assert observe.queue_depth(SECONDARY, urls[SECONDARY]) == before[SECONDARY] + 1
    assert observe.queue_depth(PRIMARY, urls[PRIMARY]) == before[PRIMARY]  # the work left undone is US work
    (message,) = boto3.client("sqs", region_name=SECONDARY).receive_message(QueueUrl=urls[SECONDARY])["Messages"]
    event = json.loads(message["Body"])
    assert (event["source"], event["detail"]["status"]) == ("aws.states", "FAILED")
    assert event["detail"]["executionArn"] == failed.arn
    assert json.loads(event["detail"]["input"])["ThingName"] == device.name  # enough to redrive it


def test_telemetry_dynamodb_refuses_lands_in_that_region_s_telemetry_error_queue_and_over_128_kb_is_refused(
        cloud: LocalCloud, ca: pki.CertificateAuthority) -> None:
    # Within 128 KB the deployed rule cannot make an item over 400 KB (one copy of the message); an unstorable
    # number or nesting beyond DynamoDB's 32 levels is what a device can send (docs/emulator.md, "The 128 KB message
    # limit, and rule error actions").
    urls = {region: cloud.outputs(region)["telemetryErrorQueueUrl"] for region in REGIONS}
    before = {region: observe.queue_depth(region, url) for region, url in urls.items()}
    device = ca.issue_device("telemetry-errors-0001")
    connection = cloud.connect(SECONDARY, device.certificate_pem, device.name)
    # (a payload no parser reads, nested 5,000 deep, is the register's row iot-sql.undecodable-payload:
    # tests/localcloud/test_assumptions_register.py runs it under both outcomes)
    bad = [b'{"message": NaN}', b'{"message": 1e400}', b'{"message": ' + b"[" * 40 + b"]" * 40 + b"}"]
    for payload in bad:
        cloud.engines.iot.publish(connection, f"i/{device.name}/m", payload)
    cloud.settle()
    assert observe.queue_depth(SECONDARY, urls[SECONDARY]) == before[SECONDARY] + len(bad)
    assert observe.queue_depth(PRIMARY, urls[PRIMARY]) == before[PRIMARY]
    found = boto3.client("sqs", region_name=SECONDARY).receive_message(QueueUrl=urls[SECONDARY], MaxNumberOfMessages=10)
    messages = [json.loads(m["Body"]) for m in found["Messages"]]
    assert sorted(base64.b64decode(m["base64OriginalPayload"]) for m in messages) == sorted(bad)
    assert {(m["ruleName"], m["clientId"], m["failures"][0]["failedAction"]) for m in messages} == {
        ("multi_region_iot_store_telemetry", device.name, "DynamoDBv2Action")}
    assert not [i for i in observe.table_items(SECONDARY, cloud.primary_outputs["dataTableName"])
                if i.get("Device") == device.name]
    with pytest.raises(PublishRefused, match="PAYLOAD_LIMIT_EXCEEDED"):
        cloud.engines.iot.publish(connection, f"i/{device.name}/m", json.dumps({"message": "x" * 130 * 1024}))
    assert not connection.open
