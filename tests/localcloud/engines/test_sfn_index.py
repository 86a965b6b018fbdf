"""Execution-name checks answer as moto's scan does, from an index."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from engine_support import PRIMARY

from localcloud.speedups import sfn_index

PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})


@pytest.fixture
def machine(aws: None) -> Iterator[str]:
    sfn_index.install()
    try:
        yield boto3.client("stepfunctions", region_name=PRIMARY).create_state_machine(
            name="m", definition=PASS, roleArn="arn:aws:iam::123456789012:role/r"
        )["stateMachineArn"]
    finally:
        sfn_index.uninstall()


def test_same_name_and_input_while_running_returns_the_same_execution(machine: str) -> None:
    sfn = boto3.client("stepfunctions", region_name=PRIMARY)
    first = sfn.start_execution(stateMachineArn=machine, name="a", input="{}")["executionArn"]
    again = sfn.start_execution(stateMachineArn=machine, name="a", input="{}")["executionArn"]
    assert first == again
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 1


def test_same_name_with_other_input_or_after_the_end_is_refused(machine: str) -> None:
    sfn = boto3.client("stepfunctions", region_name=PRIMARY)
    arn = sfn.start_execution(stateMachineArn=machine, name="a", input="{}")["executionArn"]
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(stateMachineArn=machine, name="a", input='{"x": 1}')
    sfn.stop_execution(executionArn=arn)
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(stateMachineArn=machine, name="a", input="{}")


def test_new_names_keep_starting_and_the_index_follows(machine: str) -> None:
    sfn = boto3.client("stepfunctions", region_name=PRIMARY)
    for i in range(5):
        sfn.start_execution(stateMachineArn=machine, name=f"n{i}", input="{}")
    assert sfn_index.installed()
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(stateMachineArn=machine, name="n3", input='{"other": true}')
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 5


def test_the_executing_backend_can_copy_machines_with_an_index(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import mock_aws

    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(name, value)
    sfn_index.install()
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            sfn = boto3.client("stepfunctions", region_name=PRIMARY)
            arn = sfn.create_state_machine(name="m", definition=PASS, roleArn="arn:aws:iam::123456789012:role/r")[
                "stateMachineArn"
            ]
            for i in range(3):  # every start deep-copies the machine
                sfn.start_execution(stateMachineArn=arn, name=f"e{i}", input="{}")
            assert len(sfn.list_executions(stateMachineArn=arn)["executions"]) == 3
    finally:
        sfn_index.uninstall()
