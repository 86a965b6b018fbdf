"""A token bucket as AWS describes its API throttling: ``burst`` tokens at most, ``rate`` tokens added per second.

A call takes one token; with none left it is throttled (it does not wait). What AWS delays instead of refusing
(Step Functions state transitions) reserves the next token and waits for it. Pure: time is passed in, so the same
bucket works on a simulated clock and in unit tests.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    burst: float
    rate: float  # tokens per second
    tokens: float = field(init=False)
    updated: float = field(default=0.0)  # time of the last refill

    def __post_init__(self) -> None:
        if self.burst < 1 or self.rate <= 0:
            raise ValueError(f"a token bucket needs burst >= 1 and rate > 0, got burst={self.burst} rate={self.rate}")
        self.tokens = float(self.burst)

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def take(self, now: float) -> bool:
        """Take one token at time ``now``; False (throttled) when the bucket is empty."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def available(self, now: float) -> float:
        self._refill(now)
        return self.tokens

    def wait_for_token(self, now: float) -> float:
        """Seconds from ``now`` until a token is available (0 if one is)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def reserve(self, now: float) -> float:
        """Take the next token, now or when it comes: the seconds from ``now`` until it is this caller's (0 when one
        is available). Reservations queue: each one is a token later than the one before."""
        self._refill(now)
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0.0 else -self.tokens / self.rate
