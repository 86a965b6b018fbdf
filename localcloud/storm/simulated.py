"""Put the local cloud on a ``SimClock`` (and take it off again): what sleeps, sleeps in simulated time.

- Step Functions ``Retry`` waits (moto's retrier, through ``fixes.sfn_retry_sleep``): the interval moto computed
  from the definition as built (IntervalSeconds, BackoffRate, MaxDelaySeconds, JitterStrategy FULL) is slept on
  the simulated clock;
- botocore's own retry waits (the inspector Lambda's boto3 clients retry ThrottlingException, as in AWS);
- ``StartExecution`` returns at once, as in AWS, and the execution runs as a simulated task (its own greenlet)
  instead of inside the call (``fixes.sfn_serial_executions``'s synchronous mode);
- Wait states (the pacer's slots: builders/asl/pacing.py) sleep on the simulated clock until their timestamp, to the
  fraction of a second as AWS wakes them (moto truncates the interval to whole seconds and blocks a real thread);
- with ``transition_wait`` (the storm's ``Throttle.transition_wait``), every state entered waits for its token of
  the account's state-transition bucket, as AWS delays throttled transitions;
- the Lambda functions' wall clock (``time.time()`` in ``functions/``: lease expiry, the pacer's slots) is the
  simulated wall clock (``SimClock.wall``), and so is the IoT rules engine's (``timestamp()`` in a rule's SQL: the
  JITR rule compares it with a lease's expiry) when ``simulated_time`` is given the ``IotCore``.

Everything else keeps the fast path. ``simulated_time(clock)`` is a context manager; outside it nothing changes (its
changes are one ``localcloud.patching.Patch``, undone when the block ends).
"""
from __future__ import annotations

import contextlib
import datetime
import importlib
import sys
import time as _time
from collections.abc import Callable, Iterator
from typing import Any

from localcloud.fixes import sfn_retry_sleep
from localcloud.patching import Patch
from localcloud.services.awslambda import inprocess as lambda_inprocess

from .clock import SimClock


def _timestamp_epoch(text: str) -> float:
    """Epoch seconds of a Wait state's ``Timestamp`` (RFC 3339, ``Z``; fractions kept)."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    moment = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.UTC)
    return moment.timestamp() + (float(f"0.{fraction}") if fraction else 0.0)


class _BotocoreTime:
    """Stands in for ``time`` in ``botocore.endpoint``: ``sleep`` goes to the simulated clock inside a task."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(_time, name)

    def sleep(self, seconds: float) -> None:
        if self.clock.in_task():
            self.clock.sleep(seconds)
        # outside a task (the driver's own calls) retries go on at once: nothing sleeps for real


class _WallTime(_BotocoreTime):
    """Stands in for ``time`` in the Lambda functions' modules: ``time()`` is the simulated wall clock, and a function
    that sleeps sleeps in simulated time too."""

    def time(self) -> float:
        return self.clock.wall()


def _execution_region(env: Any) -> str:
    """The region of the execution a state runs in (its ARN in the context object)."""
    return env.states.context_object.context_object_data["Execution"]["Id"].split(":")[3]


@contextlib.contextmanager
def simulated_time(clock: SimClock, iot: Any = None,
                   transition_wait: Callable[[str], float] | None = None) -> Iterator[SimClock]:
    import botocore.endpoint

    from localcloud.compat.moto.stepfunctions_parser import CommonStateField, ExecutionWorker, Timestamp, WaitFunction

    saved_enter = CommonStateField._eval_body
    saved_wait = WaitFunction._wait_interval
    saved_timestamp = Timestamp._get_wait_seconds
    sleeper, wall = _BotocoreTime(clock), _WallTime(clock)
    for handler in lambda_inprocess.registered_handlers():  # import them now: a function may first run mid-storm
        importlib.import_module(handler.split(":", 1)[0])
    lambda_modules = [module for name, module in list(sys.modules.items())
                      if name.startswith("functions.") and getattr(module, "time", None) is _time]

    def enter(self: Any, env: Any) -> None:
        if clock.in_task():
            wait = transition_wait(_execution_region(env))
            if wait > 0:
                clock.sleep(wait)
        saved_enter(self, env)

    def start(worker: Any) -> None:
        clock.spawn(worker._execution_logic, name="execution")

    def wait_interval(self: Any, env: Any, wait_seconds: float) -> None:
        if clock.in_task():
            clock.sleep(max(0.0, wait_seconds))
        else:
            saved_wait(self, env, wait_seconds)

    def timestamp_seconds(self: Any, env: Any) -> float:
        seconds = saved_timestamp(self, env)  # moto's own parsing and failure event for a malformed timestamp
        if not clock.in_task():
            return seconds
        self.string.eval(env=env)
        return _timestamp_epoch(env.stack.pop()) - clock.wall()

    patch = Patch("simulated_time", kind="storm")
    try:
        patch.set(ExecutionWorker, "start", start)
        if transition_wait is not None:
            patch.set(CommonStateField, "_eval_body", enter)
        patch.set(botocore.endpoint, "time", sleeper)
        patch.set(WaitFunction, "_wait_interval", wait_interval)
        patch.set(Timestamp, "_get_wait_seconds", timestamp_seconds)
        for module in lambda_modules:
            patch.set(module, "time", wall)
        if iot is not None:
            patch.set(iot, "clock_ms", lambda: int(clock.wall() * 1000))
        patch.extend(sfn_retry_sleep.SLEEPER, [sleeper.sleep])
        yield clock
    finally:
        patch.undo()
