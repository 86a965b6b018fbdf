"""A token bucket that paces calls against the IoT quotas our machines share with onboarding.

The replicate machine's tightest quota is ``AttachPolicy`` at 15 TPS per account and region, and
just-in-time registration of real devices uses the same quota; every start (backfill, redrive,
repair) and every ``DetachPolicy`` (detach-all) therefore takes a token first. Clock and sleep are
injected so tests advance a fake clock instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Default starts per second: a third of AttachPolicy's 15 TPS, leaving the rest to onboarding.
DEFAULT_RATE = 5.0
#: AttachPolicy's default quota (TPS); a higher rate would throttle onboarding devices.
ATTACH_POLICY_TPS = 15.0


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; ``acquire()`` blocks until one is available.

    The default burst of 1 spreads calls evenly (no initial spike against a per-second quota).
    """

    def __init__(self, rate: float = DEFAULT_RATE, *, burst: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be a positive number of calls per second, got {rate!r}")
        if not burst >= 1:
            raise ValueError(f"burst must be at least 1 token, got {burst!r}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._last = clock()
        self.waited = 0.0  # total seconds slept, for reports and tests

    def acquire(self) -> float:
        """Take one token, sleeping until it is there; returns the seconds slept."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._last) * self.rate)
        self._last = max(self._last, now)
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        wait = (1 - self._tokens) / self.rate
        self._sleep(wait)
        # At ``now + wait`` exactly one token had accrued and it is spent; oversleeping is credited on the next call.
        self._tokens = 0.0
        self._last = self._last + wait
        self.waited += wait
        return wait


class Unlimited(TokenBucket):
    """A bucket that never waits (tests and one-off calls)."""

    def __init__(self) -> None:
        super().__init__(rate=1.0)

    def acquire(self) -> float:
        return 0.0
