"""Put the local cloud on a ``SimClock`` (and take it off again): what sleeps, sleeps in simulated time.

- Step Functions ``Retry`` waits (moto's retrier, through ``patches.sfn_retry_sleep``): the interval moto computed
  from the definition as built (IntervalSeconds, BackoffRate, MaxDelaySeconds, JitterStrategy FULL) is slept on
  the simulated clock;
- botocore's own retry waits (the inspector Lambda's boto3 clients retry ThrottlingException, as in AWS);
- ``StartExecution`` returns at once, as in AWS, and the execution runs as a simulated task (its own greenlet)
  instead of inside the call (``patches.sfn_serial_executions``'s synchronous mode).

Everything else keeps the fast path. ``simulated_time(clock)`` is a context manager; outside it nothing changes.
"""
from __future__ import annotations

import contextlib
import time as _time
from collections.abc import Iterator
from typing import Any

from localcloud.fixes import sfn_retry_sleep

from .clock import SimClock


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


@contextlib.contextmanager
def simulated_time(clock: SimClock) -> Iterator[SimClock]:
    import botocore.endpoint
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    saved_start = ExecutionWorker.start
    saved_time = botocore.endpoint.time

    def start(worker: Any) -> None:
        clock.spawn(worker._execution_logic, name="execution")

    def retry_sleep(seconds: float) -> None:
        if clock.in_task():
            clock.sleep(seconds)

    ExecutionWorker.start = start
    botocore.endpoint.time = _BotocoreTime(clock)
    sfn_retry_sleep.SLEEPER.append(retry_sleep)
    try:
        yield clock
    finally:
        sfn_retry_sleep.SLEEPER.remove(retry_sleep)
        botocore.endpoint.time = saved_time
        ExecutionWorker.start = saved_start
