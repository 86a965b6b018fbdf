"""The lean interpreter copies: the project's machines run to the same histories, outputs and errors as in moto."""

from __future__ import annotations

import collections
import copy
import datetime
import enum
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from builders import inventory as inv

from localcloud import interception as aws_calls
from localcloud.speedups import sfn_inline_tasks, sfn_lean
from localcloud.statemachines.certs import TestCA
from localcloud.statemachines.harness import Cloud, Run

EU, US = "eu-west-1", "us-west-2"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
_REQUEST_ID = re.compile(r"Request ID: [0-9A-Za-z-]+")


def _normalised(value: Any) -> Any:
    """The run as data, with what differs between any two runs (event times, uuids, request ids) masked."""
    if isinstance(value, dict):
        return {key: _normalised(item) for key, item in value.items() if key != "timestamp"}
    if isinstance(value, list):
        return [_normalised(item) for item in value]
    if isinstance(value, str):
        return _REQUEST_ID.sub("Request ID: <id>", _TIME.sub("<time>", _UUID.sub("<uuid>", value)))
    return value


def _record(run: Run) -> dict[str, Any]:
    return _normalised({"status": run.status, "output": run.output, "error": run.error, "cause": run.cause,
                        "history": run.history})


def _world(ca: TestCA, devices: dict[str, Any]) -> list[dict[str, Any]]:
    """JITR, replication, an impostor, a rolled-back JITR and decommission with its replay, in two regions."""
    owner, impostor, unlucky = devices["owner"], devices["impostor"], devices["unlucky"]
    runs: list[Run] = []
    with Cloud(ca) as cloud:
        runs.append(cloud.jitr(EU, owner))
        cloud.replicate_table(EU, US)
        runs.append(cloud.replicate(US, cloud.item(US, owner.name)))
        runs.append(cloud.jitr(EU, impostor))
        aws_calls.inject("iot", "AttachPolicy", error_code="LimitExceededException", region=EU)
        runs.append(cloud.jitr(EU, unlucky))
        aws_calls.clear()
        item = cloud.item(EU, owner.name)
        item["Status"] = {"S": "REVOKED"}
        cloud.put_item(EU, item)
        for region in (EU, US):
            runs.append(cloud.run(region, "decommission", inv.flat_item(item, "MODIFY")))
            runs.append(cloud.run(region, "decommission", inv.flat_item(item, "MODIFY")))
    return [_record(run) for run in runs]


@pytest.fixture(autouse=True)
def moto_s_own_interpreter() -> Iterator[None]:
    """Each test starts from moto's interpreter and leaves sfn_lean as it found it."""
    was_installed = sfn_lean.installed()
    sfn_lean.uninstall()
    yield
    if was_installed:
        sfn_lean.install()


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


@pytest.fixture(scope="module")
def devices(ca: TestCA) -> dict[str, Any]:
    return {"owner": ca.device("lean-1"), "impostor": ca.device("lean-1"), "unlucky": ca.device("lean-2")}


@pytest.mark.parametrize("inline_tasks", [False, True], ids=["threaded-tasks", "inline-tasks"])
def test_the_project_s_machines_run_the_same_with_and_without_the_lean_copies(
    ca: TestCA, devices: dict[str, Any], inline_tasks: bool
) -> None:
    inline_was_installed = sfn_inline_tasks.installed()
    (sfn_inline_tasks.install if inline_tasks else sfn_inline_tasks.uninstall)()
    try:
        moto_runs = _world(ca, devices)
        sfn_lean.install()
        try:
            assert sfn_lean.installed()
            lean_runs = _world(ca, devices)
        finally:
            sfn_lean.uninstall()
    finally:
        (sfn_inline_tasks.install if inline_was_installed else sfn_inline_tasks.uninstall)()

    assert lean_runs == moto_runs
    assert [run["status"] for run in lean_runs] == ["SUCCEEDED", "SUCCEEDED", "FAILED", "FAILED"] + ["SUCCEEDED"] * 4
    assert lean_runs[2]["error"] == "ImpostorCertificateRejected"
    assert lean_runs[3]["error"] == "Iot.LimitExceededException"
    entered = [e for e in lean_runs[0]["history"] if e["type"].endswith("StateEntered")]
    assert len(entered) >= 4 and all(json.loads(e["stateEnteredEventDetails"]["input"]) for e in entered)


class _Colour(enum.Enum):
    RED = "red"


_SHARED = [1, {"x": 2.5}]
_SELF: dict[str, Any] = {"name": "loop"}
_SELF["self"] = _SELF
_VALUES: list[Any] = [
    None, True, 3, 4.5, "s",
    {"a": _SHARED, "b": _SHARED, "c": [None, False, "", {}, []], 1: "int key"},
    _SELF,
    [_Colour.RED, {"colour": _Colour.RED}],
    {"when": datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC), "pair": (1, [2])},
    collections.OrderedDict(a=[1]),
]


def _shape(value: Any, seen: dict[int, int] | None = None) -> Any:
    """Value, types and aliasing of a copy (which containers are the same object), comparable with ==."""
    seen = {} if seen is None else seen
    if isinstance(value, (dict, list, tuple)):
        if id(value) in seen:
            return ("alias", seen[id(value)])
        seen[id(value)] = len(seen)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        return (type(value), [(key, _shape(item, seen)) for key, item in items])
    return (type(value), value)


@pytest.mark.parametrize("value", _VALUES, ids=lambda v: type(v).__name__)
def test_json_deepcopy_returns_what_copy_deepcopy_returns(value: Any) -> None:
    lean, moto = sfn_lean.json_deepcopy(value), copy.deepcopy(value)

    assert _shape(lean) == _shape(moto)
    assert _containers(lean) & _containers(value) == _containers(moto) & _containers(value)
    assert isinstance(value, (dict, list)) <= (lean is not value)


def _containers(value: Any, found: set[int] | None = None) -> set[int]:
    found = set() if found is None else found
    if isinstance(value, (dict, list, tuple)) and id(value) not in found:
        found.add(id(value))
        for item in value.values() if isinstance(value, dict) else value:
            _containers(item, found)
    return found


def test_json_deepcopy_copies_the_interpreter_s_program_states_like_deepcopy() -> None:
    from moto.stepfunctions.parser.asl.eval import program_state as ps

    running = ps.ProgramRunning()
    running.next_state_name = "Next"
    states = [ps.ProgramEnded(), running, ps.ProgramError({"error": "E", "cause": "C"}), ps.ProgramTimedOut(),
              ps.ProgramStopped(stop_date=datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC), error="E", cause="C")]
    sfn_lean.install()
    try:
        for state in states:
            lean, moto = sfn_lean.json_deepcopy(state), copy.deepcopy(state)
            assert type(lean) is type(moto) and vars(lean) == vars(moto) and lean is not state
        assert sfn_lean.json_deepcopy(states[2]).error is not states[2].error
    finally:
        sfn_lean.uninstall()


def test_install_and_uninstall_swap_moto_s_copies_and_restore_them() -> None:
    from moto.stepfunctions.parser import utils
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service
    from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
    from moto.stepfunctions.parser.asl.eval import states

    entered = CommonStateField.__dict__["_get_state_entered_event_details"]
    sfn_lean.install()
    sfn_lean.install()
    try:
        assert sfn_lean.installed()
        assert states.copy.deepcopy is sfn_lean.json_deepcopy
        assert sfn_inline_tasks.copy.deepcopy is sfn_lean.json_deepcopy
        assert state_task_service.camel_to_snake_case("ExpressionAttributeValues") == "expression_attribute_values"
        wrapper = state_task_service.camel_to_snake_case
        assert wrapper.original is utils.camel_to_snake_case  # pyright: ignore[reportFunctionMemberAccess]  # set by sfn_lean
    finally:
        sfn_lean.uninstall()
        sfn_lean.uninstall()
    assert not sfn_lean.installed()
    assert states.copy is copy and sfn_inline_tasks.copy is copy
    assert state_task_service.camel_to_snake_case is utils.camel_to_snake_case
    assert CommonStateField.__dict__["_get_state_entered_event_details"] is entered
