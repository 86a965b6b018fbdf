"""Drive every engine until the local cloud stops moving, and count what moved.

``Engines`` bundles one of each engine for a moto account (IoT Core data plane, global
tables, pipes, EventBridge delivery) and activates their hooks together. ``settle()`` runs
rounds of

1. IoT rule actions (JITR executions, telemetry items),
2. global-table replication,
3. pipe polling (stream records → bus events),
4. EventBridge deliveries (bus events → executions / Lambda),
5. waiting for the executions these engines started, if moto runs them in threads,

until a round moves nothing (quiescent) or ``max_rounds`` is reached. Every step works off
its own queue or cursor, so a round costs what happened since the last one, not what was
ever created.

The engines are AWS behaviour only: the speed-ups that make them cheap are switched on and off
apart from them, by :mod:`localcloud.speedups`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import assumptions as _assumptions
from ..assumptions import AWS_AS_REPORTED, Assumptions
from ..compat.moto.core import DEFAULT_ACCOUNT_ID
from .dynamodb.global_tables import GlobalTables
from .events.delivery import EventBridgeEngine, LambdaInvoker, inprocess_lambda_invoker
from .iot.core import IotCore
from .pipes.runner import PipesEngine


@dataclass
class SettleReport:
    """What one ``settle()`` call did."""

    rounds: int = 0
    quiescent: bool = False
    rule_actions: int = 0
    records_replicated: int = 0
    events_delivered: int = 0  # pipe records put on buses
    deliveries: int = 0  # bus events that reached a target
    executions_started: int = 0
    failures: int = 0  # rule actions, deliveries and PutEvents entries that failed
    executions_still_running: int = 0
    seconds: float = 0.0

    def add(self, other: SettleReport) -> None:
        for name in (
            "rounds", "rule_actions", "records_replicated", "events_delivered", "deliveries",
            "executions_started", "failures",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.quiescent = other.quiescent
        self.executions_still_running = other.executions_still_running
        self.seconds += other.seconds


class ExecutionWaiter:
    """Waits for executions started by the engines when moto runs them in worker threads, and
    hands each one to ``on_end`` once it has ended (at once when moto ran it synchronously)."""

    def __init__(self, on_end: Callable[[Any], None] | None = None) -> None:
        self.running: list[Any] = []
        self.on_end = on_end

    def track(self, execution: Any) -> None:
        if getattr(execution, "exec_worker", None) is None:  # not the executing backend
            return
        if _is_running(execution):
            self.running.append(execution)
        elif self.on_end is not None:
            self.on_end(execution)

    def wait(self, timeout_s: float) -> int:
        """Block until tracked executions leave RUNNING; return how many are still running."""
        deadline = time.monotonic() + timeout_s
        while self.running:
            still, ended = [], []
            for execution in self.running:
                (still if _is_running(execution) else ended).append(execution)
            if self.on_end is not None:
                for execution in ended:
                    self.on_end(execution)
            self.running = still
            if not self.running or time.monotonic() >= deadline:
                break
            time.sleep(0.001)
        return len(self.running)


def _is_running(execution: Any) -> bool:
    status = getattr(execution, "exec_status", None)
    return getattr(status, "value", status) == "RUNNING"


@dataclass
class Engines:
    """Every engine of one account, activated together (use inside ``mock_aws()``)."""

    account_id: str = DEFAULT_ACCOUNT_ID
    lambda_invoker: LambdaInvoker | None = None
    clock_ms: Callable[[], int] | None = None
    execution_timeout_s: float = 60.0
    assumptions: Assumptions = AWS_AS_REPORTED
    global_tables: GlobalTables = field(init=False)
    pipes: PipesEngine = field(init=False)
    eventbridge: EventBridgeEngine = field(init=False)
    iot: IotCore = field(init=False)
    waiter: ExecutionWaiter = field(init=False)
    total: SettleReport = field(init=False)

    def __post_init__(self) -> None:
        if self.lambda_invoker is None:
            try:  # Lambda handlers registered with localcloud.services.awslambda run in-process
                self.lambda_invoker = inprocess_lambda_invoker(self.account_id)
            except ImportError:
                pass
        self.global_tables = GlobalTables(self.account_id)
        self.pipes = PipesEngine(self.account_id)
        self.eventbridge = EventBridgeEngine(self.account_id, self.lambda_invoker)
        iot_kwargs: dict[str, Any] = {"lambda_invoker": self.lambda_invoker, "assumptions": self.assumptions}
        if self.clock_ms is not None:
            iot_kwargs["clock_ms"] = self.clock_ms
        self.iot = IotCore(self.account_id, **iot_kwargs)
        self.waiter = ExecutionWaiter(on_end=self.eventbridge.execution_ended)
        self.total = SettleReport()
        self.eventbridge.on_execution = self.waiter.track
        self.iot.on_execution = self.waiter.track

    def activate(self) -> Engines:
        _assumptions.push(self.assumptions)  # what code without an engine at hand reads (fixes, deployer creators)
        self.global_tables.activate()
        self.pipes.activate()
        self.eventbridge.activate()
        return self

    def deactivate(self) -> None:
        self.eventbridge.deactivate()
        self.pipes.deactivate()
        self.global_tables.deactivate()
        _assumptions.pop(self.assumptions)

    def assume(self, assumptions: Assumptions) -> Assumptions:
        """Run from now on under ``assumptions`` (the engines' and the active ones); returns the previous."""
        previous = self.assumptions
        _assumptions.pop(previous)
        _assumptions.push(assumptions)
        self.assumptions = self.iot.assumptions = assumptions
        return previous

    def __enter__(self) -> Engines:
        return self.activate()

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

    def _failure_count(self) -> int:
        return (
            self.iot.stats.failed_actions
            + self.eventbridge.stats.failed
            + self.pipes.stats.failed_entries
        )

    def failures(self) -> list[str]:
        """Every recorded failure, readable: rule actions and bus deliveries that did not run."""
        return [
            f"IoT rule {f.rule_name} action {f.action_type}: {f.reason}" for f in self.iot.failures
        ] + [
            f"EventBridge rule {f.rule_arn} target {f.target_arn}: {f.reason}"
            for f in self.eventbridge.failures
        ]

    def pending(self) -> int:
        """Work waiting in any engine (queued actions, replications, stream records, events)."""
        return (
            self.iot.pending()
            + self.global_tables.pending()
            + self.pipes.pending()
            + self.eventbridge.pending()
            + len(self.waiter.running)
        )

    def settle(self, max_rounds: int = 100) -> SettleReport:
        """Run rounds until nothing moves; return (and add to ``total``) what moved."""
        if max_rounds < 1:
            raise ValueError("max_rounds must be >= 1")
        started = time.perf_counter()
        failures_before = self._failure_count()
        report = SettleReport()
        for _ in range(max_rounds):
            report.rounds += 1
            iot_started = self.iot.stats.executions_started
            eb_started = self.eventbridge.stats.executions_started
            actions = self.iot.settle()
            report.executions_started += self.iot.stats.executions_started - iot_started
            running = self.waiter.wait(self.execution_timeout_s)
            replicated = self.global_tables.settle()
            events = self.pipes.settle()
            deliveries = self.eventbridge.settle()
            report.executions_started += self.eventbridge.stats.executions_started - eb_started
            running = self.waiter.wait(self.execution_timeout_s)
            report.rule_actions += actions
            report.records_replicated += replicated
            report.events_delivered += events
            report.deliveries += deliveries
            report.executions_still_running = running
            moved = actions + replicated + events + deliveries
            if moved == 0 and self.pending() == 0:
                report.quiescent = True
                break
        report.failures = self._failure_count() - failures_before
        report.seconds = time.perf_counter() - started
        self.total.add(report)
        return report
