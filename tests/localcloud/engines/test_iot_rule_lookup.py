"""Topic rules whose SQL calls ``get_dynamodb()``: IotCore reads the item from moto's DynamoDB in the rule's region.
A missing item is a FunctionExecution error by default (the rule matches nothing, no error action: re:Post
QUtmrQNjM4SkiP8mWy31_8Ew) and Undefined under the kinder assumption; a lookup that fails is a FunctionExecution error
under both, never an exception out of the publish. JITR_SQL is the lease filter the JITR rule had until it was found
to stop every first registration under the reported behaviour."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from engine_support import ACCOUNT, PRIMARY, SECONDARY
from moto import mock_aws

from localcloud.assumptions import AWS_AS_REPORTED, KINDER, Assumptions
from localcloud.services.iot.core import IotCore, from_dynamodb_json

NOW_MS = 1_700_000_000_000
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app-jitr-rule"
LEASES = "app-registration-leases"
CA = "abc123"
TOPIC = f"$aws/events/certificates/registered/{CA}"
JITR_SQL = (
    f"SELECT * FROM '{TOPIC}' WHERE certificateStatus = 'PENDING_ACTIVATION' "
    f"AND isUndefined(CASE get_dynamodb('{LEASES}', 'CertificateId', certificateId, '{ROLE}').ExpiresAt * 1000 "
    "> timestamp() WHEN true THEN 'held' END)"
)
EVENT = {"certificateId": "c1", "caCertificateId": CA, "certificateStatus": "PENDING_ACTIVATION",
         "timestamp": NOW_MS // 1000, "awsAccountId": ACCOUNT, "certificateRegistrationTimestamp": NOW_MS // 1000}


class World:
    """One region with the lease table, an error queue, and rules created on demand."""

    def __init__(self, assumptions: Assumptions) -> None:
        self.core = IotCore(clock_ms=lambda: NOW_MS, assumptions=assumptions)
        self.dynamodb = boto3.client("dynamodb", region_name=PRIMARY)
        self.iot = boto3.client("iot", region_name=PRIMARY)
        self.sqs = boto3.client("sqs", region_name=PRIMARY)
        self.queue_url = self.sqs.create_queue(QueueName="rule-errors")["QueueUrl"]
        create_table(self.dynamodb, LEASES, [("CertificateId", "S")])

    def create_rule(self, name: str, sql: str, region: str = PRIMARY) -> None:
        boto3.client("iot", region_name=region).create_topic_rule(ruleName=name, topicRulePayload={
            "sql": sql, "awsIotSqlVersion": "2016-03-23", "ruleDisabled": False,
            "actions": [{"dynamoDBv2": {"putItem": {"tableName": "out"}, "roleArn": ROLE}}],
            "errorAction": {"sqs": {"queueUrl": self.queue_url, "roleArn": ROLE, "useBase64": False}}})

    def lease(self, expires_at_s: int) -> None:
        self.dynamodb.put_item(TableName=LEASES, Item={"CertificateId": {"S": "c1"},
                                                       "ExpiresAt": {"N": str(expires_at_s)}})

    def queued(self) -> list[tuple[str, Any, str | None]]:
        return [(a.rule_name, a.result, a.error) for a in self.core.queue]

    def error_messages(self) -> list[dict[str, Any]]:
        found = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in found.get("Messages", [])]


def create_table(client: Any, name: str, keys: list[tuple[str, str]]) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": n, "KeyType": k} for (n, _), k in zip(keys, ("HASH", "RANGE"), strict=False)],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in keys],
        BillingMode="PAY_PER_REQUEST")


def make_world(monkeypatch: pytest.MonkeyPatch, assumptions: Assumptions) -> Iterator[World]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": PRIMARY}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield World(assumptions)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The kinder reading (a missing item is Undefined), where the lease filter's own logic can be seen."""
    yield from make_world(monkeypatch, KINDER)


@pytest.fixture
def reported(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The local cloud's default: a missing item is a FunctionExecution error, as re:Post reports."""
    yield from make_world(monkeypatch, AWS_AS_REPORTED)


@pytest.fixture(params=[AWS_AS_REPORTED, KINDER], ids=["function-error", "undefined"])
def either(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from make_world(monkeypatch, request.param)


# -- a missing item: what re:Post reports, and the kinder reading ----------------------------------------------------

def test_as_reported_a_missing_item_in_where_matches_nothing_and_runs_no_error_action(reported: World) -> None:
    reported.create_rule("jitr", JITR_SQL)
    assert reported.core.publish_internal(PRIMARY, TOPIC, EVENT) == 0  # a new certificate has no lease yet
    assert reported.queued() == [] and reported.core.settle() == 0
    assert reported.error_messages() == []
    assert reported.core.stats.dynamodb_lookups == 1 and reported.core.stats.sql_function_errors == 1
    assert reported.core.stats.rule_matches == 0 and reported.core.stats.error_actions == 0


def test_as_reported_a_missing_item_in_select_fails_the_whole_rule(reported: World) -> None:
    reported.create_rule("enrich", f"SELECT get_dynamodb('{LEASES}', 'CertificateId', certificateId, '{ROLE}') "
                                   f"AS lease, certificateId FROM '{TOPIC}'")
    assert reported.core.publish_internal(PRIMARY, TOPIC, EVENT) == 0
    assert reported.queued() == [] and reported.core.stats.sql_function_errors == 1


def test_an_existing_item_is_read_the_same_under_both_readings(either: World) -> None:
    either.create_rule("jitr", JITR_SQL)
    either.lease(NOW_MS // 1000 - 60)  # expired: the filter lets the event through
    assert either.core.publish_internal(PRIMARY, TOPIC, EVENT) == 1
    assert either.queued() == [("jitr", EVENT, None)] and either.core.stats.sql_function_errors == 0


def test_when_a_missing_item_is_undefined_the_registration_event_is_queued(world: World) -> None:
    world.create_rule("jitr", JITR_SQL)
    assert world.core.publish_internal(PRIMARY, TOPIC, EVENT) == 1
    assert world.queued() == [("jitr", EVENT, None)]
    assert world.core.stats.dynamodb_lookups == 1


def test_an_unexpired_lease_drops_the_event(world: World) -> None:
    world.create_rule("jitr", JITR_SQL)
    world.lease(NOW_MS // 1000 + 300)
    assert world.core.publish_internal(PRIMARY, TOPIC, EVENT) == 0
    assert world.queued() == [] and world.core.stats.rule_matches == 0
    assert world.core.stats.dynamodb_lookups == 1
    assert world.core.publish_internal(PRIMARY, TOPIC, {**EVENT, "certificateId": "c2"}) == 1  # another's lease


@pytest.mark.parametrize("expires_at_s", [NOW_MS // 1000, NOW_MS // 1000 - 3600])
def test_an_expired_lease_lets_the_event_through(world: World, expires_at_s: int) -> None:
    world.create_rule("jitr", JITR_SQL)
    world.lease(expires_at_s)
    assert world.core.publish_internal(PRIMARY, TOPIC, EVENT) == 1
    assert world.queued() == [("jitr", EVENT, None)]


def test_the_lookup_reads_the_rules_own_region(world: World) -> None:
    world.lease(NOW_MS // 1000 + 300)  # held in PRIMARY only
    create_table(boto3.client("dynamodb", region_name=SECONDARY), LEASES, [("CertificateId", "S")])
    world.create_rule("jitr", JITR_SQL, region=SECONDARY)
    assert world.core.publish_internal(SECONDARY, TOPIC, EVENT) == 1


# -- item conversion, composite keys -------------------------------------------------------------------------------

def test_a_composite_key_lookup_returns_the_item_as_plain_json(world: World) -> None:
    create_table(world.dynamodb, "readings", [("Device", "S"), ("Seq", "N")])
    world.dynamodb.put_item(TableName="readings", Item={
        "Device": {"S": "dev-1"}, "Seq": {"N": "7"}, "Level": {"N": "2.5"}, "On": {"BOOL": True},
        "Tags": {"SS": ["a"]}, "Nested": {"M": {"L": {"L": [{"N": "1"}, {"NULL": True}]}}}})
    world.create_rule("enrich", f"SELECT get_dynamodb('readings', 'Device', topic(2), 'Seq', seq, '{ROLE}') AS r "
                                "FROM 'i/+/m'")
    world.core.publish_internal(PRIMARY, "i/dev-1/m", {"seq": 7})
    world.core.publish_internal(PRIMARY, "i/dev-1/m", {"seq": 8})
    ((_, first, error), (_, second, _)) = world.queued()
    assert error is None
    assert first == {"r": {"Device": "dev-1", "Seq": 7, "Level": 2.5, "On": True, "Tags": ["a"],
                           "Nested": {"L": [1, None]}}}
    assert type(first["r"]["Seq"]) is int and type(first["r"]["Level"]) is float
    assert second == {}  # no such item: Undefined, left out of the SELECT result
    assert world.core.stats.dynamodb_lookups == 2


def test_from_dynamodb_json_numbers() -> None:
    assert from_dynamodb_json({"N": "10"}) == 10 and type(from_dynamodb_json({"N": "10.0"})) is int
    assert from_dynamodb_json({"N": "-0.25"}) == -0.25
    assert from_dynamodb_json({"NS": ["1", "1.5"]}) == [1, 1.5]


# -- rules that make no lookup ----------------------------------------------------------------------------------

def test_rules_without_get_dynamodb_make_no_lookup(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> None:
        raise AssertionError("looked up")

    monkeypatch.setattr(world.core, "get_dynamodb_item", refuse)
    world.create_rule("plain", f"SELECT * FROM '{TOPIC}' WHERE certificateStatus = 'PENDING_ACTIVATION'")
    assert world.core.publish_internal(PRIMARY, TOPIC, EVENT) == 1
    assert world.queued() == [("plain", EVENT, None)] and world.core.stats.dynamodb_lookups == 0


def test_two_get_dynamodb_calls_terminate_the_rule_without_a_lookup(world: World) -> None:
    world.create_rule("twice", f"SELECT get_dynamodb('{LEASES}', 'CertificateId', certificateId, '{ROLE}') AS a, "
                               f"get_dynamodb('{LEASES}', 'CertificateId', certificateId, '{ROLE}') AS b "
                               f"FROM '{TOPIC}'")
    assert world.core.publish_internal(PRIMARY, TOPIC, EVENT) == 0
    assert world.queued() == [] and world.core.stats.dynamodb_lookups == 0


# -- failed lookups: a FunctionExecution error under both readings, never an exception out of publish --------------

@pytest.mark.parametrize(
    "sql",
    [JITR_SQL.replace(LEASES, "missing-table"), JITR_SQL.replace("'CertificateId'", "'Id'"),
     JITR_SQL.replace("certificateId,", "timestamp,")],
    ids=["missing table", "wrong key name", "number for a string key"],
)
def test_a_failed_lookup_matches_nothing_and_runs_no_error_action(either: World, sql: str) -> None:
    either.create_rule("jitr", sql)
    assert either.core.publish_internal(PRIMARY, TOPIC, EVENT) == 0  # never raises
    assert either.queued() == [] and either.core.settle() == 0 and either.error_messages() == []
    assert either.core.stats.dynamodb_lookups == 1 and either.core.stats.sql_function_errors == 1


def test_a_failed_lookup_fails_only_its_own_rule(either: World) -> None:
    either.create_rule("broken", JITR_SQL.replace(LEASES, "missing-table"))
    either.create_rule("plain", f"SELECT * FROM '{TOPIC}' WHERE certificateStatus = 'PENDING_ACTIVATION'")
    assert either.core.publish_internal(PRIMARY, TOPIC, EVENT) == 1
    assert [rule for rule, _, _ in either.queued()] == ["plain"]


# -- the account's StartExecution quota applies to a rule's stepFunctions action ----------------------------------

class RefuseStarts:
    def decide(self, call: Any) -> str | None:
        return "ThrottlingException" if (call.service, call.operation) == ("sfn", "StartExecution") else None


def test_a_step_functions_action_the_start_execution_quota_refuses_fails_to_the_error_action(world: World) -> None:
    from localcloud import interception as aws_calls

    machine = boto3.client("stepfunctions", region_name=PRIMARY).create_state_machine(
        name="jitr", definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=ROLE)["stateMachineArn"]
    world.iot.create_topic_rule(ruleName="jitr", topicRulePayload={
        "sql": f"SELECT * FROM '{TOPIC}'", "awsIotSqlVersion": "2016-03-23", "ruleDisabled": False,
        "actions": [{"stepFunctions": {"stateMachineName": "jitr", "roleArn": ROLE, "executionNamePrefix": "jitr"}}],
        "errorAction": {"sqs": {"queueUrl": world.queue_url, "roleArn": ROLE, "useBase64": False}}})
    gate = RefuseStarts()
    aws_calls.add_gate(gate)
    try:
        world.core.publish_internal(PRIMARY, TOPIC, EVENT)
        world.core.settle()
    finally:
        aws_calls.remove_gate(gate)
    assert boto3.client("stepfunctions", region_name=PRIMARY).list_executions(
        stateMachineArn=machine)["executions"] == []
    (message,) = world.error_messages()
    (failure,) = message["failures"]
    assert failure["failedAction"] == "StepFunctionsAction" and "ThrottlingException" in failure["errorMessage"]
    assert world.core.stats.throttled_starts == 1
    world.core.publish_internal(PRIMARY, TOPIC, EVENT)  # the device's next connection, the quota free again
    world.core.settle()
    assert len(boto3.client("stepfunctions", region_name=PRIMARY).list_executions(
        stateMachineArn=machine)["executions"]) == 1
