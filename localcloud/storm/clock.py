"""Simulated time: a simpy environment owns the clock; code that was written to block (moto's Step Functions
interpreter, botocore's retries, a Lambda handler) runs in a greenlet and hands control back when it sleeps.

Why greenlets and not threads: moto's executions are plain blocking Python. A greenlet lets one of them stop in the
middle of ``time.sleep(interval)`` (moto's retrier) and resume when the simulated clock reaches its wake-up time,
without an OS thread per execution (a storm has thousands waiting at once), without locks (one greenlet runs at a
time, so moto's dict-backed backends are never touched concurrently), and deterministically (simpy orders the
wake-ups; same seed, same run).

``SimClock.spawn(fn)`` starts ``fn`` as a simpy process in its own greenlet; inside it, ``SimClock.sleep(s)``
yields ``s`` simulated seconds to simpy. Outside a spawned greenlet ``sleep`` refuses (nothing may sleep for real
while the simulation runs).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import greenlet
import simpy


class _Sleep:
    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


@dataclass
class Task:
    name: str
    done: bool = False
    result: Any = None
    error: BaseException | None = None
    slept: float = 0.0  # simulated seconds spent asleep


class NotInSimulatedTask(RuntimeError):
    """``SimClock.sleep`` was called outside a task started by ``SimClock.spawn``."""


@dataclass
class SimClock:
    env: simpy.Environment = field(default_factory=simpy.Environment)
    epoch: float = 1_800_000_000.0  # a fixed wall-clock start: same seed, same run
    tasks_started: int = 0
    running: int = 0  # tasks started and not yet ended
    tasks_failed: list[Task] = field(default_factory=list)
    _current: dict[Any, Task] = field(default_factory=dict)

    def now(self) -> float:
        return float(self.env.now)

    def wall(self) -> float:
        """The simulated wall clock (epoch seconds): ``epoch`` at simulated second 0. What a Lambda's ``time.time()``
        and a Wait state's timestamps read inside the simulation."""
        return self.epoch + float(self.env.now)

    def spawn(self, fn: Callable[[], Any], *, name: str = "task", delay: float = 0.0) -> Task:
        """Run ``fn()`` in simulated time (starting ``delay`` seconds from now); returns its ``Task``."""
        task = Task(name)
        self.tasks_started += 1
        self.running += 1
        self.env.process(self._drive(fn, task, delay))
        return task

    def _drive(self, fn: Callable[[], Any], task: Task, delay: float):
        if delay > 0:
            yield self.env.timeout(delay)
        runner = greenlet.greenlet(fn)
        self._current[runner] = task
        try:
            request = runner.switch()
            while not runner.dead:
                if not isinstance(request, _Sleep):
                    raise RuntimeError(f"task {task.name} switched out without sleeping: {request!r}")
                task.slept += request.seconds
                yield self.env.timeout(request.seconds)
                request = runner.switch()
            task.result = request
        except Exception as error:  # noqa: BLE001 - the task's own failure: recorded, the simulation goes on
            task.error = error
            self.tasks_failed.append(task)
        finally:
            task.done = True
            self.running -= 1
            self._current.pop(runner, None)

    def in_task(self) -> bool:
        return greenlet.getcurrent() in self._current

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of simulated time (inside a spawned task only)."""
        current = greenlet.getcurrent()
        if current not in self._current:
            raise NotInSimulatedTask(f"sleep({seconds}) outside a simulated task: nothing may sleep for real here")
        current.parent.switch(_Sleep(max(0.0, float(seconds))))

    def every(self, period: float, fn: Callable[[], Any], *, until: Callable[[], bool] | None = None) -> None:
        """Call ``fn()`` every ``period`` simulated seconds (in the scheduler, not a task) until ``until()``."""
        if period <= 0:
            raise ValueError("period must be > 0")

        def loop():
            while until is None or not until():
                fn()
                yield self.env.timeout(period)

        self.env.process(loop())

    def run(self, until: float | simpy.Event | None = None) -> None:
        self.env.run(until=until)
