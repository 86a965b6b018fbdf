"""The emulated broker's limits are AWS's, and no telemetry is lost: a publish over 128 KB is refused (the client
disconnected); a message DynamoDB will not store runs the rule's error action, which puts AWS's error message,
with the original payload, in an SQS queue; no payload makes ``publish`` raise."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from engine_support import ACCOUNT, PRIMARY, make_ca, make_device
from moto import mock_aws

from localcloud.services.iot.core import (
    MQTT_MAX_PAYLOAD_BYTES,
    Connection,
    ConnectionRefused,
    IotCore,
    PublishRefused,
    to_dynamodb_json,
)

ROLE = f"arn:aws:iam::{ACCOUNT}:role/iot"
SQL = ("SELECT topic(2) AS PK, concat(cast(timestamp() AS String), '#', newuuid()) AS SK, "
       "message AS Message FROM 'i/+/m'")
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["iot:Connect", "iot:Publish"], "Resource": "*"}]})


class World:
    """One region: a data table, a telemetry rule whose error action is an SQS queue, one connected device."""

    def __init__(self) -> None:
        self.core = IotCore(clock_ms=lambda: 1_700_000_000_000)
        iot = boto3.client("iot", region_name=PRIMARY)
        ca = make_ca()
        iot.register_ca_certificate(caCertificate=ca.pem, setAsActive=True, allowAutoRegistration=True)
        iot.create_policy(policyName="device", policyDocument=POLICY)
        boto3.client("dynamodb", region_name=PRIMARY).create_table(
            TableName="data",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                  {"AttributeName": "SK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST")
        self.sqs = boto3.client("sqs", region_name=PRIMARY)
        self.queue_url = self.sqs.create_queue(QueueName="telemetry-errors")["QueueUrl"]
        self.create_rule("telemetry", SQL)
        device = make_device(ca, "dev-1")
        with pytest.raises(ConnectionRefused):
            self.core.connect(PRIMARY, device.pem, "dev-1")
        iot.update_certificate(certificateId=device.der_sha256, newStatus="ACTIVE")
        arn = iot.describe_certificate(certificateId=device.der_sha256)["certificateDescription"]["certificateArn"]
        iot.attach_policy(policyName="device", target=arn)
        self.device = device

    def create_rule(self, name: str, sql: str) -> None:
        boto3.client("iot", region_name=PRIMARY).create_topic_rule(ruleName=name, topicRulePayload={
            "sql": sql, "awsIotSqlVersion": "2016-03-23", "ruleDisabled": False,
            "actions": [{"dynamoDBv2": {"putItem": {"tableName": "data"}, "roleArn": ROLE}}],
            "errorAction": {"sqs": {"queueUrl": self.queue_url, "roleArn": ROLE, "useBase64": False}}})

    def connect(self) -> Connection:
        return self.core.connect(PRIMARY, self.device.pem, "dev-1")

    def error_messages(self) -> list[dict[str, Any]]:
        found = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in found.get("Messages", [])]

    def items(self) -> list[dict]:
        return boto3.client("dynamodb", region_name=PRIMARY).scan(TableName="data")["Items"]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": PRIMARY}.items():
        monkeypatch.setenv(name, value)
    with mock_aws(config={"iot": {"use_valid_cert": True}}):
        yield World()


def sized(total: int) -> bytes:
    """A JSON payload of exactly ``total`` bytes."""
    envelope = json.dumps({"message": ""}).encode()
    return json.dumps({"message": "x" * (total - len(envelope))}).encode()


# -- the 128 KB message size limit ----------------------------------------------------------------------------

def test_a_publish_of_exactly_128_kb_is_accepted_and_stored(world: World) -> None:
    payload = sized(128 * 1024)
    assert len(payload) == MQTT_MAX_PAYLOAD_BYTES
    connection = world.connect()
    assert world.core.publish(connection, "i/dev-1/m", payload) == 1
    world.core.settle()
    assert connection.open and len(world.items()) == 1 and world.error_messages() == []


@pytest.mark.parametrize("size", [128 * 1024 + 1, 130 * 1024])
def test_a_publish_over_128_kb_is_refused_and_the_client_disconnected(world: World, size: int) -> None:
    connection = world.connect()
    with pytest.raises(PublishRefused, match="PAYLOAD_LIMIT_EXCEEDED"):
        world.core.publish(connection, "i/dev-1/m", sized(size))
    assert not connection.open
    with pytest.raises(PublishRefused, match="closed"):
        world.core.publish(connection, "i/dev-1/m", sized(100))
    assert world.core.pending() == 0 and world.core.stats.refused_oversized == 1


# -- messages DynamoDB will not store end in the error queue, payload recoverable -----------------------------

BAD_PAYLOADS = {
    "NaN": b'{"message": NaN}',
    "1e400": b'{"message": 1e400}',
    "nested 40 deep": b'{"message": ' + b"[" * 40 + b"]" * 40 + b"}",
}


@pytest.mark.parametrize("name", BAD_PAYLOADS)
def test_a_message_dynamodb_refuses_lands_in_the_error_queue_with_its_payload(world: World, name: str) -> None:
    payload = BAD_PAYLOADS[name]
    connection = world.connect()
    assert world.core.publish(connection, "i/dev-1/m", payload) == 1  # never raises
    assert world.core.settle() == 0
    (message,) = world.error_messages()
    assert base64.b64decode(message["base64OriginalPayload"]) == payload
    assert (message["ruleName"], message["topic"], message["clientId"]) == ("telemetry", "i/dev-1/m", "dev-1")
    assert message["cloudwatchTraceId"]
    (failure,) = message["failures"]
    assert (failure["failedAction"], failure["failedResource"]) == ("DynamoDBv2Action", "data")
    assert failure["errorMessage"]
    assert world.items() == [] and connection.open
    assert world.core.stats.error_actions == 1


UNDECODABLE = b'{"message": ' + b"[" * 5000 + b"]" * 5000 + b"}"  # deeper than any JSON parser here goes


@pytest.mark.parametrize("outcome", ["no_error_action", "error_action"])
def test_a_payload_the_rules_engine_cannot_parse_goes_where_the_register_says(world: World, outcome: str) -> None:
    """Register row iot-sql.undecodable-payload: AWS documents no parser depth. Default (worse for telemetry's
    "nothing accepted is lost"): a SQL evaluation problem, so no action and no error action, the message only in
    IoT's logs; the other outcome fails the rule's action and its error action keeps the message."""
    world.core.assumptions = dataclasses.replace(world.core.assumptions, undecodable_payload=outcome)
    connection = world.connect()
    matched = world.core.publish(connection, "i/dev-1/m", UNDECODABLE)  # never raises
    world.core.settle()
    assert world.items() == [] and connection.open
    if outcome == "no_error_action":
        assert matched == 0 and world.error_messages() == []
        assert world.core.stats.undecodable_payloads == 1 and world.core.stats.error_actions == 0
    else:
        assert matched == 1
        (message,) = world.error_messages()
        assert base64.b64decode(message["base64OriginalPayload"]) == UNDECODABLE
        assert [f["failedAction"] for f in message["failures"]] == ["DynamoDBv2Action"]


def test_an_item_over_400_kb_lands_in_the_error_queue_with_its_payload(world: World) -> None:
    # Under the 128 KB limit only a rule that repeats the message can make an item over DynamoDB's 400 KB.
    world.create_rule("fourfold", "SELECT topic(2) AS PK, 'x' AS SK, message AS a, message AS b, message AS c, "
                                  "message AS d FROM 'i/+/big'")
    payload = sized(120 * 1024)
    world.core.publish(world.connect(), "i/dev-1/big", payload)
    world.core.settle()
    (message,) = world.error_messages()
    assert message["ruleName"] == "fourfold"
    assert "Item size has exceeded the maximum allowed size" in message["failures"][0]["errorMessage"]
    assert base64.b64decode(message["base64OriginalPayload"]) == payload


def test_one_error_message_per_rule_and_message_with_every_failed_action(world: World) -> None:
    iot = boto3.client("iot", region_name=PRIMARY)
    iot.create_topic_rule(ruleName="twice", topicRulePayload={
        "sql": "SELECT * FROM 'i/+/two'", "awsIotSqlVersion": "2016-03-23", "ruleDisabled": False,
        "actions": [{"dynamoDBv2": {"putItem": {"tableName": "missing-1"}, "roleArn": ROLE}},
                    {"dynamoDBv2": {"putItem": {"tableName": "missing-2"}, "roleArn": ROLE}}],
        "errorAction": {"sqs": {"queueUrl": world.queue_url, "roleArn": ROLE, "useBase64": True}}})
    world.core.publish(world.connect(), "i/dev-1/two", b'{"a": 1}')
    world.core.settle()
    found = world.sqs.receive_message(QueueUrl=world.queue_url)["Messages"]
    (body,) = [json.loads(base64.b64decode(m["Body"])) for m in found]  # useBase64: the whole message encoded
    assert [f["failedResource"] for f in body["failures"]] == ["missing-1", "missing-2"]


def test_a_failing_error_action_is_recorded_and_nothing_raises(world: World) -> None:
    world.sqs.delete_queue(QueueUrl=world.queue_url)
    world.core.publish(world.connect(), "i/dev-1/m", BAD_PAYLOADS["NaN"])
    world.core.settle()
    assert [f.action_type for f in world.core.failures] == ["dynamoDBv2", "errorAction:sqs"]
    assert world.core.stats.failed_error_actions == 1


def test_a_good_message_runs_no_error_action(world: World) -> None:
    world.core.publish(world.connect(), "i/dev-1/m", b'{"message": {"deep": [[[1]]]}}')
    assert world.core.settle() == 1 and world.error_messages() == [] and len(world.items()) == 1


def test_dynamodb_nesting_stops_at_32_levels() -> None:
    def nested(levels: int) -> Any:
        value: Any = "leaf"
        for _ in range(levels):
            value = {"n": value}
        return value

    assert to_dynamodb_json(nested(31))  # the top-level attribute and 30 more levels of maps
    with pytest.raises(ValueError, match="Nesting Levels have exceeded supported limits"):
        to_dynamodb_json(nested(32))
