"""Fix: ``Retry`` intervals sleep ``interval * SETTINGS.retry_time_scale`` seconds.

moto 5.2.5 really sleeps the full (backed-off) interval, so a test that exhausts a retrier with
``IntervalSeconds: 1, BackoffRate: 2, MaxAttempts: 3`` spends 7 s asleep. The backoff arithmetic is unchanged.
"""
from __future__ import annotations

import time as _time

from ..patching import Patch
from .settings import SETTINGS

NAME = "sfn_retry_sleep"
PATCH = Patch(NAME)

SLEPT: list[float] = []  # unscaled intervals requested, newest last (lets tests check the backoff)
#: When set (``localcloud.storm``: simulated time), retry waits go to it instead of ``time.sleep``.
SLEEPER: list = []


class _ScaledTime:
    """Stands in for the ``time`` module inside moto's retrier: only ``sleep`` differs."""

    def __getattr__(self, name: str):
        return getattr(_time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        SLEPT.append(seconds)
        if SLEEPER:
            SLEEPER[-1](seconds)
            return
        _time.sleep(max(0.0, seconds * SETTINGS.retry_time_scale))


def apply() -> None:
    from ..compat.moto.stepfunctions_parser import retrier_decl

    PATCH.set(retrier_decl, "time", _ScaledTime())


def revert() -> None:
    PATCH.undo()
