"""The quota-bound minimum drain time of an onboarding (pure arithmetic over measured per-device call counts).

A device costs ``origin[api]`` calls of each API in the region it first connects to and ``replica[api]`` in every
other region (measured from a calibration onboarding, never written by hand). In region ``r`` with ``n_r`` first
connections out of ``N`` devices an API is called ``n_r * origin + (N - n_r) * replica`` times; at its refill rate
that takes ``calls / rate`` seconds (the burst is spent in the first second and ignored). The largest over every
(API, region) is the bound; that API is named.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Profile:
    """Calls per device: in its origin region and in each other region, keyed ``service:Operation``."""

    origin: Mapping[str, float]
    replica: Mapping[str, float]


@dataclass
class Bound:
    seconds: float
    api: str
    region: str
    per_api: dict[str, tuple[float, str]] = field(default_factory=dict)  # api -> (seconds, region) worst region


def expected_calls(profile: Profile, first_connections: Mapping[str, int], regions: Sequence[str],
                   ) -> dict[tuple[str, str], float]:
    """Calls per (api, region) for an onboarding with ``first_connections[region]`` devices arriving there."""
    total = sum(first_connections.values())
    calls: dict[tuple[str, str], float] = {}
    for region in regions:
        here = first_connections.get(region, 0)
        for api in set(profile.origin) | set(profile.replica):
            count = here * profile.origin.get(api, 0.0) + (total - here) * profile.replica.get(api, 0.0)
            if count:
                calls[(api, region)] = count
    return calls


def bound(calls: Mapping[tuple[str, str], float], rate: Callable[[str, str], float | None]) -> Bound:
    """The slowest (api, region) at its refill rate; APIs without a rate are not bounding."""
    worst = Bound(0.0, "", "")
    for (api, region), count in sorted(calls.items()):
        per_second = rate(api, region)
        if not per_second:
            continue
        seconds = count / per_second
        if seconds > worst.per_api.get(api, (-1.0, ""))[0]:
            worst.per_api[api] = (seconds, region)
        if seconds > worst.seconds:
            worst.seconds, worst.api, worst.region = seconds, api, region
    return worst


def quota_rate(quotas) -> Callable[[str, str], float | None]:
    """``rate(api, region)`` from ``quotas.Quotas`` (APIs, then limits such as ``sfn:StateTransition``)."""
    def rate(api: str, region: str) -> float | None:
        service, _, operation = api.partition(":")
        found = quotas.bucket(service, operation, region) or quotas.limit(api, region)
        return None if found is None else found.rate
    return rate
