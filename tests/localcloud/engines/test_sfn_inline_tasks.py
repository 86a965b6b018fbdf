"""Task states and programs evaluated in the caller's thread: same outputs, errors and timeouts as moto's threads."""

from __future__ import annotations

import json
import threading
import time

import boto3
import pytest
from engine_support import PRIMARY
from moto import mock_aws

from localcloud import fixes
from localcloud import interception as aws_calls
from localcloud.speedups import sfn_inline_tasks

def _definition(timeout: bool) -> str:
    """Put one item; with ``timeout`` the task has TimeoutSeconds 1 and a catcher for States.Timeout."""
    definition = json.loads(_TIMED)
    if not timeout:
        del definition["States"]["Put"]["TimeoutSeconds"]
    return json.dumps(definition)


_TIMED = json.dumps(
    {
        "StartAt": "Put",
        "States": {
            "Put": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:dynamodb:putItem",
                "Parameters": {"TableName.$": "$.table", "Item": {"K": {"S.$": "$.key"}}},
                "TimeoutSeconds": 1,
                "ResultPath": "$.put",
                "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "TimedOut"}],
                "Next": "Done",
            },
            "TimedOut": {"Type": "Fail", "Error": "TimedOut"},
            "Done": {"Type": "Pass", "End": True},
        },
    }
)


def _run(sfn, arn: str, name: str, table: str) -> tuple[str, list[str], list[str]]:
    """(status, history event types, error names) of one execution."""
    run = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps({"table": table, "key": name}))
    described = sfn.describe_execution(executionArn=run["executionArn"])
    events = sfn.get_execution_history(executionArn=run["executionArn"])["events"]
    errors = [details["error"] for e in events for key, details in e.items()
              if key.endswith("EventDetails") and isinstance(details, dict) and "error" in details]
    return described["status"], [e["type"] for e in events], errors


def _scenario(threads_seen: list[str]) -> list[tuple[str, list[str], list[str]]]:
    with fixes.patched(), mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        boto3.client("dynamodb", region_name=PRIMARY).create_table(
            TableName="t", KeySchema=[{"AttributeName": "K", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "K", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        sfn = boto3.client("stepfunctions", region_name=PRIMARY)
        role = "arn:aws:iam::123456789012:role/r"
        plain = sfn.create_state_machine(name="plain", definition=_definition(False), roleArn=role)["stateMachineArn"]
        timed = sfn.create_state_machine(name="timed", definition=_definition(True), roleArn=role)["stateMachineArn"]
        whole = json.loads(_definition(False))
        whole["TimeoutSeconds"] = 1  # the machine's own timeout, not the task's
        program_timed = sfn.create_state_machine(name="program-timed", definition=json.dumps(whole),
                                                 roleArn=role)["stateMachineArn"]
        aws_calls.inject("dynamodb", "PutItem", nth=1, before=lambda: threads_seen.append(threading.current_thread().name))
        outcomes = [_run(sfn, plain, "ok", "t"), _run(sfn, plain, "missing-table", "nope"), _run(sfn, timed, "fast", "t")]
        aws_calls.inject("dynamodb", "PutItem", before=lambda: time.sleep(1.2))
        outcomes.append(_run(sfn, timed, "slow", "t"))
        aws_calls.inject("dynamodb", "PutItem", before=lambda: time.sleep(1.2))
        outcomes.append(_run(sfn, program_timed, "slow-program", "t"))
        aws_calls.clear()
    return outcomes


def test_inline_tasks_end_like_moto_s_threaded_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(name, value)
    threaded_seen: list[str] = []
    threaded = _scenario(threaded_seen)
    sfn_inline_tasks.install()
    try:
        assert sfn_inline_tasks.installed()
        inline_seen: list[str] = []
        inline = _scenario(inline_seen)
    finally:
        sfn_inline_tasks.uninstall()
    assert not sfn_inline_tasks.installed()
    assert inline == threaded
    assert [status for status, _, _ in inline] == ["SUCCEEDED", "FAILED", "SUCCEEDED", "FAILED", "TIMED_OUT"]
    assert inline[1][2][0] == "DynamoDb.ResourceNotFoundException"
    assert "TaskTimedOut" in inline[3][1] and inline[3][2] == ["States.Timeout", "TimedOut"]
    # moto ran the task in a thread of its own inside the program's thread; inline both run in the caller's
    assert "_exec_and_notify" in threaded_seen[0] and "_exec_and_notify" not in inline_seen[0]
    assert inline_seen[0] == threading.current_thread().name != threaded_seen[0]
