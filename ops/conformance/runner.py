"""Run the probes in one world, one after the other, and always clean up.

Each probe gets its own tracker; its resources are deleted as soon as it ends (they would otherwise change what
later probes see: a certificate provider changes every CreateCertificateFromCsr of the account). What a probe could
not delete is tried again at the end, with a last sweep for anything of this run the trackers do not know (e.g. a
certificate JITR registered). Ctrl-C (SIGINT) and SIGTERM stop the probes; cleanup then runs with both signals held
off (one more Ctrl-C is reported, not obeyed), so an interrupted run deletes what it made.
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ops.conformance import sweep
from ops.conformance.expectations import Expectation
from ops.conformance.probes import Probe
from ops.conformance.resources import ProbeContext, Resource, Run, Tracker
from ops.conformance.world import Call, World


class Interrupted(Exception):
    """SIGTERM, turned into an exception so that ``finally`` blocks run."""


@dataclass
class ProbeResult:
    probe: Probe
    expected: dict[str, Any]
    observed: dict[str, Any]
    agree: bool
    seconds: float = 0.0
    calls: list[Call] = field(default_factory=list)  # each validated by botocore against the service model

    def to_json(self) -> dict[str, Any]:
        return {"name": self.probe.name, "register_row": self.probe.register_row, "expected": self.expected,
                "observed": self.observed, "agree": self.agree}


@dataclass
class RunReport:
    run: Run
    mode: str
    region: str
    results: list[ProbeResult] = field(default_factory=list)
    deleted: list[Resource] = field(default_factory=list)
    left: list[Resource] = field(default_factory=list)  # could not be deleted
    earlier_deleted: list[Resource] = field(default_factory=list)  # leftovers of earlier runs, deleted first
    interrupted: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def agreed(self) -> bool:
        return all(result.agree for result in self.results)

    @property
    def ok(self) -> bool:
        return self.agreed and not self.left and not self.interrupted

    def to_json(self) -> dict[str, Any]:
        return {"probes": [result.to_json() for result in self.results]}


@contextmanager
def signals_raise() -> Iterator[None]:
    """While probing: SIGINT raises KeyboardInterrupt (Python's default), SIGTERM raises :class:`Interrupted`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        raise Interrupted("terminated (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def signals_held(say: Callable[[str], None]) -> Iterator[list[int]]:
    """While cleaning up: SIGINT and SIGTERM are noted and ignored (the cleanup finishes first)."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def hold(signum: int, frame: Any) -> None:
        caught.append(signum)
        say("cleaning up the run's resources first; it stops by itself when they are deleted")

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_probes(world: World, run: Run, probes: Sequence[Probe], expectations: dict[str, Expectation], *,
               earlier: sweep.Sweep | None = None, say: Callable[[str], None] = lambda text: None,
               on_result: Callable[[ProbeResult], None] = lambda result: None) -> RunReport:
    """Delete the ``earlier`` runs' leftovers, run every probe, delete everything; never raises for a probe."""
    report = RunReport(run, world.mode, world.region)
    run_tracker = Tracker()
    try:
        with signals_raise():
            if earlier is not None and earlier.found.items:
                say(f"deleting {len(earlier.found.items)} leftovers of earlier runs ({', '.join(sorted(earlier.runs))})")
                with signals_held(say):
                    earlier_left = earlier.found.cleanup(world)
                report.earlier_deleted = list(earlier.found.deleted)
                report.left += earlier_left
            for index, probe in enumerate(probes, 1):
                report.results.append(_run_one(world, run, probe, expectations[probe.register_row], run_tracker, say,
                                               f"p{index}"))
                on_result(report.results[-1])
    except KeyboardInterrupt:
        report.interrupted = "interrupted (Ctrl-C)"
    except Interrupted as stop:
        report.interrupted = str(stop)
    finally:
        with signals_held(say):
            report.left += run_tracker.cleanup(world)
            report.deleted += run_tracker.deleted
            last = sweep.find(world, lambda found: found == run.id)  # anything of this run no tracker knew of
            report.left += last.found.cleanup(world)
            report.deleted += last.found.deleted
            report.notes += last.notes + last.skipped
    return report


def _run_one(world: World, run: Run, probe: Probe, expectation: Expectation, run_tracker: Tracker,
             say: Callable[[str], None], label: str) -> ProbeResult:
    ctx = ProbeContext(world, run, Tracker(), label)
    calls_before = len(getattr(world, "calls", []))
    started = world.now()
    say(f"probe {probe.register_row}: {probe.does}")
    try:
        observed = probe.run(ctx)
    except Exception as error:  # noqa: BLE001 - a probe that fails observed nothing; it is a disagreement
        observed = {"error": f"{type(error).__name__}: {error}"}
    finally:
        with signals_held(say):
            ctx.tracker.cleanup(world, passes=3)
            run_tracker.adopt(ctx.tracker)  # what it could not delete is tried again at the end
    agree = "error" not in observed and probe.agreement(expectation.value, observed)
    return ProbeResult(probe, expectation.value, observed, agree, round(world.now() - started, 2),
                       list(getattr(world, "calls", [])[calls_before:]))
