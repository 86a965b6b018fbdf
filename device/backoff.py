"""Exponential backoff with full jitter: sleep a uniform random time in [0, min(cap, base * 2**attempt)].

"Full jitter" from https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/: it spreads the
reconnections of a fleet refused at once (every device's first connection is refused while JITR runs, and
every device of a failed region reconnects at the same moment).
"""

from __future__ import annotations

import random


def full_jitter(attempt: int, *, base_s: float = 0.5, cap_s: float = 30.0, rng: random.Random | None = None) -> float:
    """The delay before retry number ``attempt`` (0 = the first retry)."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    if base_s <= 0 or cap_s <= 0:
        raise ValueError("base_s and cap_s must be > 0")
    ceiling = min(cap_s, base_s * 2 ** min(attempt, 62))
    return (rng or random).uniform(0.0, ceiling)
