"""The Step Functions speed-ups change how often moto rebuilds things, not what runs."""

from __future__ import annotations

import json

import boto3
import pytest
from engine_support import PRIMARY
from moto import mock_aws

from localcloud.speedups import sfn_accel

DEFINITION = json.dumps(
    {
        "StartAt": "Put",
        "States": {
            "Put": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:dynamodb:putItem",
                "Parameters": {"TableName": "t", "Item": {"K": {"S.$": "$.key"}}},
                "ResultPath": None,
                "Next": "Done",
            },
            "Done": {"Type": "Pass", "End": True},
        },
    }
)


def test_programs_and_clients_are_built_once_and_executions_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(name, value)
    sfn_accel.install()
    try:
        assert sfn_accel.installed()
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            ddb = boto3.client("dynamodb", region_name=PRIMARY)
            ddb.create_table(
                TableName="t",
                KeySchema=[{"AttributeName": "K", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "K", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            sfn = boto3.client("stepfunctions", region_name=PRIMARY)
            arn = sfn.create_state_machine(
                name="m", definition=DEFINITION, roleArn="arn:aws:iam::123456789012:role/r"
            )["stateMachineArn"]
            runs = [
                sfn.start_execution(stateMachineArn=arn, name=f"e{i}", input=json.dumps({"key": f"k{i}"}))
                for i in range(3)
            ]
            for run in runs:
                sfn_waiter_done(sfn, run["executionArn"])
            assert sorted(i["K"]["S"] for i in ddb.scan(TableName="t")["Items"]) == ["k0", "k1", "k2"]
            assert len(sfn_accel._PROGRAMS) == 1
            assert list(sfn_accel._CLIENTS) == [(PRIMARY, "dynamodb")]
            from moto.stepfunctions.parser.asl.utils import json_path

            assert hasattr(json_path.parse, "original")
    finally:
        sfn_accel.uninstall()
    assert not sfn_accel.installed() and sfn_accel._PROGRAMS == {}
    from moto.stepfunctions.parser.asl.utils import json_path

    assert not hasattr(json_path.parse, "original")


RETRY_THEN_CATCH = json.dumps(
    {
        "StartAt": "Get",
        "States": {
            "Get": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:dynamodb:getItem",
                "Parameters": {"TableName.$": "$.table", "Key": {"K": {"S": "x"}}},
                "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1, "IntervalSeconds": 1}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
                "ResultPath": "$.got",
                "Next": "Done",
            },
            "Failed": {"Type": "Fail", "Error": "NoTable"},
            "Done": {"Type": "Pass", "End": True},
        },
    }
)


def test_a_cached_program_keeps_each_execution_s_retries_and_outcome_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(name, value)
    from localcloud import fixes

    monkeypatch.setattr(fixes.SETTINGS, "retry_time_scale", 0.0)  # retries without sleeping
    sfn_accel.install()
    try:
        with fixes.patched(), mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            boto3.client("dynamodb", region_name=PRIMARY).create_table(
                TableName="t",
                KeySchema=[{"AttributeName": "K", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "K", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            sfn = boto3.client("stepfunctions", region_name=PRIMARY)
            arn = sfn.create_state_machine(
                name="m", definition=RETRY_THEN_CATCH, roleArn="arn:aws:iam::123456789012:role/r"
            )["stateMachineArn"]
            outcomes = []
            for i, table in enumerate(["missing", "t", "missing", "t"]):
                run = sfn.start_execution(stateMachineArn=arn, name=f"e{i}", input=json.dumps({"table": table}))
                outcomes.append(final_status(sfn, run["executionArn"]))
            assert outcomes == ["FAILED", "SUCCEEDED", "FAILED", "SUCCEEDED"]
            history = sfn.get_execution_history(executionArn=f"{arn.replace(':stateMachine:', ':execution:')}:e2")
            retries = [e for e in history["events"] if e["type"] == "TaskScheduled"]
            assert len(retries) == 2  # the first try and its one retry, not carried over from e0
            assert len(sfn_accel._PROGRAMS) == 1
    finally:
        sfn_accel.uninstall()


def final_status(sfn: object, arn: str) -> str:
    import time

    for _ in range(500):
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING":
            return status
        time.sleep(0.01)
    raise AssertionError("execution did not finish")


def sfn_waiter_done(sfn: object, arn: str) -> None:
    import time

    for _ in range(500):
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING":
            assert status == "SUCCEEDED"
            return
        time.sleep(0.01)
    raise AssertionError("execution did not finish")
