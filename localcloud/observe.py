"""Read-only views of the local cloud's state, per region: things, certificates, inventory, telemetry,
executions with their state transitions, and the AWS calls that crossed regions.

Reads go to moto's backends directly (no API round trip, no linear ``describe_execution`` scan),
so the demo and the benchmark can look at tens of thousands of executions cheaply.
``CrossRegionMeter`` wraps moto's ``start_execution`` (a ``localcloud.patching.Patch``, undone when it is
uninstalled) and observes ``localcloud.interception``: while an execution runs, every AWS call whose region differs
from the execution's region is counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from localcloud import interception
from localcloud.compat.moto.core import DEFAULT_ACCOUNT_ID
from localcloud.compat.moto.dynamodb import dynamodb_backends
from localcloud.compat.moto.iot import iot_backends
from localcloud.compat.moto.stepfunctions import sfn_backend
from localcloud.patching import Patch


@dataclass(frozen=True)
class ExecutionView:
    region: str
    machine: str
    name: str
    arn: str
    status: str
    input: str
    transitions: int  # StateEntered events in the history
    start: Any


def _status(execution: Any) -> str:
    status = getattr(execution, "exec_status", None) or getattr(execution, "status", "")
    return getattr(status, "value", status) or ""


def _history(execution: Any) -> list[dict[str, Any]]:
    worker = getattr(execution, "exec_worker", None)
    env = getattr(worker, "env", None)
    if env is None:
        return []
    return list(env.event_manager.get_event_history())


def _input_text(execution: Any) -> str:
    raw = getattr(execution, "execution_input", None)
    if isinstance(raw, str):
        return raw
    import json

    return json.dumps(getattr(execution, "input_data", None) or {})


def transitions_of(execution: Any) -> int:
    """State transitions of one moto execution: its ``*StateEntered`` history events."""
    return sum(1 for event in _history(execution) if str(event.get("type", "")).endswith("StateEntered"))


def executions(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> Iterator[ExecutionView]:
    """Every execution of every state machine in ``region``."""
    backend = sfn_backend(account_id, region)
    for machine in list(backend.state_machines):
        for execution in list(machine.executions):
            yield ExecutionView(region, machine.name, execution.name, execution.execution_arn, _status(execution),
                                _input_text(execution),
                                transitions_of(execution), getattr(execution, "start_date", None))


def history(region: str, execution_arn: str, account_id: str = DEFAULT_ACCOUNT_ID) -> list[dict[str, Any]]:
    backend = sfn_backend(account_id, region)
    for machine in backend.state_machines:
        for execution in machine.executions:
            if execution.execution_arn == execution_arn:
                return _history(execution)
    raise KeyError(execution_arn)


@dataclass(frozen=True)
class ThingView:
    name: str
    certificate_ids: tuple[str, ...]
    certificate_statuses: tuple[str, ...]


def things(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> list[ThingView]:
    """Things of ``region`` with the certificates attached to them and their statuses."""
    backend = iot_backends[account_id][region]
    by_name: dict[str, list[Any]] = {}
    for (principal, thing_name) in list(backend.principal_things):
        certificate = backend.certificates.get(str(principal).rsplit("/", 1)[-1])
        if certificate is not None:
            by_name.setdefault(thing_name, []).append(certificate)
    rows = []
    for thing in list(backend.things.values()):
        attached = by_name.get(thing.thing_name, [])
        rows.append(ThingView(thing.thing_name, tuple(c.certificate_id for c in attached),
                              tuple(c.status for c in attached)))
    return sorted(rows, key=lambda t: t.name)


def certificates(region: str, account_id: str = DEFAULT_ACCOUNT_ID) -> dict[str, str]:
    """Certificate id -> status in ``region``."""
    return {c.certificate_id: c.status for c in iot_backends[account_id][region].certificates.values()}


def certificate_status(region: str, certificate_id: str, account_id: str = DEFAULT_ACCOUNT_ID) -> str | None:
    certificate = iot_backends[account_id][region].certificates.get(certificate_id)
    return None if certificate is None else certificate.status


def _plain_item(item: Any) -> dict[str, Any]:
    out = {}
    for key, value in item.to_json()["Attributes"].items():
        (_kind, raw), = value.items()
        out[key] = raw
    return out


def table_items(region: str, table: str, account_id: str = DEFAULT_ACCOUNT_ID) -> list[dict[str, Any]]:
    """Every item of ``table`` in ``region`` as plain values (strings/numbers as stored)."""
    backend = dynamodb_backends[account_id][region]
    found = backend.tables.get(table)
    if found is None:
        return []
    return [_plain_item(item) for item in found.all_items()]


def queue_depth(region: str, queue_url_or_name: str, account_id: str = DEFAULT_ACCOUNT_ID) -> int:
    """Messages held by an SQS queue in ``region`` (visible, in flight or delayed); 0 if there is no such queue."""
    from localcloud.compat.moto.services import sqs_backends

    queue = sqs_backends[account_id][region].queues.get(queue_url_or_name.rstrip("/").rsplit("/", 1)[-1])
    return 0 if queue is None else len(queue._messages)


# -- cross-region calls --------------------------------------------------------------------------
# Regions of the executions running now, innermost last. A process-wide stack, not a context
# variable: moto evaluates an execution (and each of its tasks) in worker threads, while
# ``localcloud.fixes`` runs executions one at a time.
_EXECUTING: list[str] = []


class CrossRegionMeter:
    """Counts AWS calls made while an execution runs whose region is not the execution's region.

    Wraps ``StepFunctionsParserBackend.start_execution`` (which, with synchronous executions, runs
    the whole execution, Lambda tasks included) to know the executing region, and observes every
    call ``localcloud.interception`` records (stubber path and in-process path alike), so its hook
    must be installed (the fix ``aws_calls``; ``LocalCloud`` applies it). ``calls`` counts every call seen inside an
    execution, ``cross_region`` those that left its region (with a sample in ``examples``).
    """

    def __init__(self) -> None:
        self.calls = 0
        self.cross_region = 0
        self.examples: list[tuple[str, str, str]] = []  # (executing region, call region, event name)
        self._patch = Patch("cross_region_meter", kind="observe")

    def _observe(self, call: Any) -> None:
        executing = _EXECUTING[-1] if _EXECUTING else None
        if executing is None:
            return
        self.calls += 1
        if call.region != "unknown" and call.region != executing:
            self.cross_region += 1
            if len(self.examples) < 20:
                self.examples.append((executing, call.region, f"{call.service}.{call.operation}"))

    def install(self) -> CrossRegionMeter:
        from localcloud.compat.moto.stepfunctions_parser import StepFunctionsParserBackend

        if not interception.installed():
            raise RuntimeError("CrossRegionMeter observes localcloud.interception: apply the fix aws_calls first "
                               "(localcloud.fixes.apply() or inside LocalCloud)")
        original_start = StepFunctionsParserBackend.start_execution

        def start_execution(backend: Any, *args: Any, **kwargs: Any) -> Any:
            _EXECUTING.append(backend.region_name)
            try:
                return original_start(backend, *args, **kwargs)
            finally:
                _EXECUTING.pop()

        self._patch.set(StepFunctionsParserBackend, "start_execution", start_execution)
        interception.add_observer(self._observe)
        return self

    def uninstall(self) -> None:
        interception.remove_observer(self._observe)
        self._patch.undo()

    def __enter__(self) -> CrossRegionMeter:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()
