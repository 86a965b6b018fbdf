"""EventBridge rules deliver to Step Functions targets with EventBridge's input semantics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from engine_support import PRIMARY

from localcloud.services.events.delivery import (
    EventBridgeEngine,
    InputTransformError,
    json_path,
    pattern_matches,
    transform_input,
)

BUS = "devices-bus"
EVENT = {
    "version": "0",
    "id": "e-1",
    "detail-type": "DeviceInventoryChange",
    "source": "app.devices",
    "account": "123456789012",
    "time": "2026-01-01T00:00:00Z",
    "region": PRIMARY,
    "resources": ["arn:r"],
    "detail": {
        "eventName": "INSERT",
        "dynamodb": {"NewImage": {"ThingName": {"S": 'dev "1"'}, "N": {"N": "3"}}},
    },
}


def test_json_path_resolves_dots_and_indices_and_reports_missing() -> None:
    assert json_path(EVENT, "$.detail.dynamodb.NewImage.N.N") == "3"
    assert json_path(EVENT, "$.resources[0]") == "arn:r"
    assert json_path(EVENT, "$.detail-type") == "DeviceInventoryChange"
    assert json_path(EVENT, "$") is EVENT
    missing = json_path(EVENT, "$.detail.nothing")
    assert missing is json_path(EVENT, "$.resources[5]")
    assert missing is not None
    with pytest.raises(InputTransformError, match="dot notation"):
        json_path(EVENT, "$.detail['x']")


def test_placeholder_outside_quotes_inserts_json_inside_quotes_the_escaped_text() -> None:
    result = transform_input(
        {"name": "$.detail.dynamodb.NewImage.ThingName.S", "image": "$.detail.dynamodb.NewImage"},
        '{"raw": <name>, "text": "thing <name>!", "image": <image>, "imageText": "<image>"}',
        EVENT,
    )
    assert result == {
        "raw": 'dev "1"',
        "text": 'thing dev "1"!',
        "image": EVENT["detail"]["dynamodb"]["NewImage"],
        "imageText": json.dumps(EVENT["detail"]["dynamodb"]["NewImage"]),
    }


def test_missing_paths_become_null_or_empty_text() -> None:
    result = transform_input({"x": "$.detail.nope"}, '{"a": <x>, "b": "<x>"}', EVENT)
    assert result == {"a": None, "b": ""}


def test_predefined_variables_and_plain_text_templates() -> None:
    result = transform_input(
        {},
        '{"arn": "<aws.events.rule-arn>", "name": "<aws.events.rule-name>", '
        '"event": <aws.events.event>, "full": <aws.events.event.json>}',
        EVENT,
        rule_arn="arn:rule",
        rule_name="rule",
    )
    assert result["arn"] == "arn:rule" and result["name"] == "rule"
    assert "detail" not in result["event"] and result["full"] == EVENT
    assert transform_input({"s": "$.source"}, "<s> said hi", EVENT) == "app.devices said hi"


def test_unknown_angle_brackets_are_left_alone_and_reserved_keys_refused() -> None:
    assert transform_input({}, '{"a": "<b>"}', EVENT) == {"a": "<b>"}
    with pytest.raises(InputTransformError, match="reserved"):
        transform_input({"aws.x": "$.id"}, "<aws.x>", EVENT)


def test_pattern_matching_reuses_eventbridge_semantics() -> None:
    assert pattern_matches({"source": ["app.devices"]}, EVENT)
    assert not pattern_matches({"source": [{"anything-but": "app.devices"}]}, EVENT)
    assert pattern_matches({"detail": {"eventName": [{"prefix": "INS"}]}}, EVENT)
    assert pattern_matches({"detail": {"missing": [{"exists": False}]}}, EVENT)


# --- delivery through moto ------------------------------------------------------------


def sfn() -> Any:
    return boto3.client("stepfunctions", region_name=PRIMARY)


@pytest.fixture
def world(aws: None) -> Iterator[tuple[EventBridgeEngine, str]]:
    events = boto3.client("events", region_name=PRIMARY)
    events.create_event_bus(Name=BUS)
    machine = sfn().create_state_machine(
        name="replicate",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    events.put_rule(
        Name="replicate",
        EventBusName=BUS,
        EventPattern=json.dumps({"source": ["app.devices"], "detail": {"eventName": ["INSERT"]}}),
    )
    events.put_targets(
        Rule="replicate",
        EventBusName=BUS,
        Targets=[
            {
                "Id": "sfn",
                "Arn": machine,
                "RoleArn": "arn:aws:iam::123456789012:role/events",
                "InputTransformer": {
                    "InputPathsMap": {"thing": "$.detail.dynamodb.NewImage.ThingName.S"},
                    "InputTemplate": '{"ThingName": <thing>, "EventName": "INSERT"}',
                },
            }
        ],
    )
    with EventBridgeEngine() as engine:
        yield engine, machine


def put(detail: dict[str, Any], source: str = "app.devices") -> None:
    response = boto3.client("events", region_name=PRIMARY).put_events(
        Entries=[
            {
                "Source": source,
                "DetailType": "DeviceInventoryChange",
                "Detail": json.dumps(detail),
                "EventBusName": BUS,
            }
        ]
    )
    assert response["FailedEntryCount"] == 0


def test_matching_event_starts_the_state_machine_with_the_transformed_input(
    world: tuple[EventBridgeEngine, str],
) -> None:
    engine, machine = world
    put(EVENT["detail"])
    assert engine.pending() == 1
    assert sfn().list_executions(stateMachineArn=machine)["executions"] == []
    assert engine.settle() == 1
    (execution,) = sfn().list_executions(stateMachineArn=machine)["executions"]
    described = sfn().describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {"ThingName": 'dev "1"', "EventName": "INSERT"}
    assert engine.stats.executions_started == 1


def test_non_matching_events_start_nothing(world: tuple[EventBridgeEngine, str]) -> None:
    engine, _ = world
    put({"eventName": "MODIFY"})
    put(EVENT["detail"], source="someone.else")
    assert engine.pending() == 0


def test_each_delivery_gets_a_unique_execution_name(world: tuple[EventBridgeEngine, str]) -> None:
    engine, machine = world
    put(EVENT["detail"])
    put(EVENT["detail"])
    engine.settle()
    names = {e["name"] for e in sfn().list_executions(stateMachineArn=machine)["executions"]}
    assert len(names) == 2


def test_disabled_rules_deliver_nothing(world: tuple[EventBridgeEngine, str]) -> None:
    engine, _ = world
    boto3.client("events", region_name=PRIMARY).disable_rule(Name="replicate", EventBusName=BUS)
    put(EVENT["detail"])
    assert engine.pending() == 0


def test_lambda_targets_use_the_in_process_invoker(aws: None) -> None:
    calls: list[tuple[str, str, Any]] = []
    events = boto3.client("events", region_name=PRIMARY)
    events.create_event_bus(Name=BUS)
    events.put_rule(Name="r", EventBusName=BUS, EventPattern=json.dumps({"source": ["s"]}))
    function = f"arn:aws:lambda:{PRIMARY}:123456789012:function:f"
    events.put_targets(
        Rule="r", EventBusName=BUS, Targets=[{"Id": "l", "Arn": function, "InputPath": "$.detail"}]
    )
    with EventBridgeEngine(lambda_invoker=lambda *a: calls.append(a)) as engine:
        put({"k": 1}, source="s")
        engine.settle()
    assert calls == [(PRIMARY, function, {"k": 1})]


def test_failed_deliveries_are_recorded_not_raised(aws: None) -> None:
    events = boto3.client("events", region_name=PRIMARY)
    events.create_event_bus(Name=BUS)
    events.put_rule(Name="r", EventBusName=BUS, EventPattern=json.dumps({"source": ["s"]}))
    missing = f"arn:aws:states:{PRIMARY}:123456789012:stateMachine:gone"
    events.put_targets(Rule="r", EventBusName=BUS, Targets=[{"Id": "x", "Arn": missing}])
    with EventBridgeEngine() as engine:
        put({"k": 1}, source="s")
        assert engine.settle() == 0
    assert engine.stats.failed == 1
    assert engine.failures[0].target_arn == missing


def test_the_in_process_invoker_runs_the_registered_handler(aws: None) -> None:
    import io
    import zipfile

    from localcloud.services.events.delivery import inprocess_lambda_invoker
    from localcloud.services.awslambda import inprocess as lambda_inprocess

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    role = boto3.client("iam", region_name=PRIMARY).create_role(RoleName="l", AssumeRolePolicyDocument="{}")
    function = boto3.client("lambda", region_name=PRIMARY).create_function(
        FunctionName="echo",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": buffer.getvalue()},
        Environment={"Variables": {"GREETING": "hi"}},
    )["FunctionArn"]
    seen: list[Any] = []

    def handler(event: Any, context: Any) -> Any:
        import os

        seen.append((event, os.environ["GREETING"], os.environ["AWS_REGION"]))
        if event.get("fail"):
            raise ValueError("asked to fail")
        return {"ok": True}

    lambda_inprocess.register("echo", handler)
    try:
        invoke = inprocess_lambda_invoker()
        assert invoke(PRIMARY, function, {"k": 1}) == {"ok": True}
        assert seen == [({"k": 1}, "hi", PRIMARY)]
        with pytest.raises(RuntimeError, match="ValueError"):
            invoke(PRIMARY, function, {"fail": True})
    finally:
        lambda_inprocess.unregister_all()


def test_a_failed_delivery_lands_in_the_target_s_dead_letter_queue_with_its_reason(aws: None) -> None:
    events = boto3.client("events", region_name=PRIMARY)
    sqs = boto3.client("sqs", region_name=PRIMARY)
    events.create_event_bus(Name=BUS)
    rule_arn = events.put_rule(Name="r", EventBusName=BUS, EventPattern=json.dumps({"source": ["s"]}))["RuleArn"]
    queue_url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    missing = f"arn:aws:states:{PRIMARY}:123456789012:stateMachine:gone"
    events.put_targets(Rule="r", EventBusName=BUS, Targets=[
        {"Id": "x", "Arn": missing, "DeadLetterConfig": {"Arn": queue_arn}},
        {"Id": "y", "Arn": missing.replace("gone", "also-gone")},  # no DLQ: recorded only
    ])
    with EventBridgeEngine() as engine:
        put({"k": 1}, source="s")
        assert engine.settle() == 0
    assert [f.dead_letter_queue_arn for f in engine.failures] == [queue_arn, None]
    (message,) = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                     MessageAttributeNames=["All"])["Messages"]
    event = json.loads(message["Body"])
    assert (event["source"], event["detail"]) == ("s", {"k": 1})
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["RULE_ARN"] == rule_arn and attributes["TARGET_ARN"] == missing
    assert attributes["ERROR_CODE"] == "NO_RESOURCE" and "gone" in attributes["ERROR_MESSAGE"]


class RefuseStarts:
    """A gate (as ``localcloud.storm.throttle.Throttle`` is one) refusing the next ``times`` StartExecutions."""

    def __init__(self, times: int) -> None:
        self.times, self.asked = times, []

    def decide(self, call: Any) -> str | None:
        self.asked.append((call.service, call.operation, call.region))
        if call.operation == "StartExecution" and self.times > 0:
            self.times -= 1
            return "ThrottlingException"
        return None


def test_a_delivery_the_start_execution_quota_refuses_waits_for_the_next_settle(
    world: tuple[EventBridgeEngine, str],
) -> None:
    from localcloud import interception as aws_calls

    engine, machine = world
    gate = RefuseStarts(times=2)
    aws_calls.add_gate(gate)
    try:
        put(EVENT["detail"])
        assert engine.settle() == 0 and engine.pending() == 1  # refused: kept, not failed nor dead-lettered
        assert engine.settle() == 0 and engine.pending() == 1
        assert engine.settle() == 1 and engine.pending() == 0
    finally:
        aws_calls.remove_gate(gate)
    assert gate.asked == [("sfn", "StartExecution", PRIMARY)] * 3
    assert (engine.stats.throttled, engine.stats.failed, engine.failures) == (2, 0, [])
    assert len(sfn().list_executions(stateMachineArn=machine)["executions"]) == 1
