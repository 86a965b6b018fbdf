"""Telemetry loses nothing: the telemetry rule's error action sends what DynamoDB refused to an encrypted,
watched SQS queue, with a role that may send to that queue only (program under Pulumi mocks)."""

from __future__ import annotations

import json

import pytest

from localcloud.mockrun import run_stack

RUNS = [("primary_run", "eu-west-1"), ("secondary_run", "us-west-2")]
QUEUE = "multi-region-iot-telemetry-errors"


def telemetry_rule(run):
    (rule,) = [r for r in run.of_type("aws:iot/topicRule:TopicRule") if r.inputs["name"] == "multi_region_iot_store_telemetry"]
    return rule


def error_queue(run):
    (queue,) = [q for q in run.of_type("aws:sqs/queue:Queue") if q.inputs["name"] == QUEUE]
    return queue


def role_policy(run, role_arn):
    names = {r.outputs["arn"]: r.outputs["name"] for r in run.of_type("aws:iam/role:Role")}
    (policy,) = [p for p in run.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"] == names[role_arn]]
    return json.loads(policy.inputs["policy"])


@pytest.mark.parametrize("run_name, region", RUNS)
def test_each_region_has_an_encrypted_telemetry_error_queue_kept_14_days(request, run_name, region):
    run = request.getfixturevalue(run_name)
    queue = error_queue(run)
    assert queue.inputs["sqsManagedSseEnabled"] is True
    assert queue.inputs["messageRetentionSeconds"] == 14 * 24 * 3600
    assert "fifoQueue" not in queue.inputs  # the SQS rule action does not support FIFO queues
    assert queue.outputs["arn"] == f"arn:aws:sqs:{region}:123456789012:{QUEUE}"
    assert "iotmr:regional:Telemetry" in queue.parent
    assert run.outputs["telemetryErrorQueueUrl"] == queue.outputs["url"]
    assert run.outputs["telemetryErrorQueueArn"] == queue.outputs["arn"]


@pytest.mark.parametrize("run_name, region", RUNS)
def test_the_telemetry_rules_error_action_sends_failed_messages_to_that_queue(request, run_name, region):
    run = request.getfixturevalue(run_name)
    rule = telemetry_rule(run)
    assert rule.inputs["errorAction"] == {"sqs": {
        "queueUrl": error_queue(run).outputs["url"], "roleArn": rule.inputs["dynamodbv2s"][0]["roleArn"],
        "useBase64": False}}


@pytest.mark.parametrize("run_name, region", RUNS)
def test_the_telemetry_rules_role_may_store_and_send_to_its_error_queue_only(request, run_name, region):
    run = request.getfixturevalue(run_name)
    rule = telemetry_rule(run)
    document = role_policy(run, rule.inputs["errorAction"]["sqs"]["roleArn"])
    granted = sorted((tuple(s["Action"]), tuple(s["Resource"])) for s in document["Statement"])
    assert granted == [
        (("dynamodb:PutItem",), (f"arn:aws:dynamodb:{region}:123456789012:table/multi-region-iot-data",)),
        (("sqs:SendMessage",), (error_queue(run).outputs["arn"],)),
    ]
    assert not [g for g in run.of_type("aws:cloudwatch/logGroup:LogGroup") if "store_telemetry" in g.inputs["name"]]


@pytest.mark.parametrize("run_name", ["primary_run", "secondary_run"])
def test_an_alarm_goes_off_while_the_telemetry_error_queue_holds_a_message(request, run_name):
    run = request.getfixturevalue(run_name)
    (alarm,) = [a for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.inputs["name"] == QUEUE]
    assert (alarm.inputs["namespace"], alarm.inputs["metricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm.inputs["dimensions"] == {"QueueName": QUEUE}
    assert (alarm.inputs["comparisonOperator"], alarm.inputs["threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm.inputs["treatMissingData"] == "notBreaching"
    assert not alarm.inputs.get("alarmActions")  # no alarmTopicArn in the shipped stacks


def test_a_configured_alarm_topic_is_notified_of_telemetry_errors_too(pki_dir):
    topic = "arn:aws:sns:eu-west-1:123456789012:iot-alarms"
    run = run_stack("eu-west-1", config_overrides={"pkiDir": str(pki_dir), "alarmTopicArn": topic})
    (alarm,) = [a for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.inputs["name"] == QUEUE]
    assert alarm.inputs["alarmActions"] == [topic] and alarm.inputs["okActions"] == [topic]


def test_the_jitr_rule_still_logs_its_failed_actions(primary_run):
    (rule,) = [r for r in primary_run.of_type("aws:iot/topicRule:TopicRule") if r.inputs["name"] == "multi_region_iot_jitr"]
    assert set(rule.inputs["errorAction"]) == {"cloudwatchLogs"}
