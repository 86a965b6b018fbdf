"""``python -m localcloud capacity``: what an onboarding of N devices takes under the quotas, and what it costs.

From the per-device profile (calls per API in the origin region and in each other region, measured by
``run.calibrate`` from a calibration onboarding's AWS calls and execution histories) and the quota data:

- onboarding: N devices spread evenly over the regions, each registered in every region;
- backfill: N devices already onboarded replayed into one new region (the replication profile there only);
- the bounding API of each, and the refill rate that API needs for a target time (``--target-hours``);
- dollars per million devices from the price table (``quotas/prices.json``).

``plan()`` is pure: profile, quotas and prices in, figures out.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import bound as bounds


@dataclass
class Drain:
    seconds: float
    api: str
    region: str
    rate_needed: float | None  # the bounding API's refill rate for the target time (None without a target)
    rate_now: float


@dataclass
class Plan:
    devices: int
    regions: list[str]
    onboarding: Drain
    backfill: Drain
    cost_per_million: dict[str, float]
    cost_total_per_million: float


def _drain(calls: Mapping[tuple[str, str], float], quotas: Any, target_s: float | None) -> Drain:
    rate = bounds.quota_rate(quotas)
    worst = bounds.bound(calls, rate)
    now = rate(worst.api, worst.region) or 0.0
    needed = None
    if target_s:
        needed = math.ceil(calls[(worst.api, worst.region)] / target_s * 100) / 100
    return Drain(round(worst.seconds, 1), worst.api, worst.region, needed, now)


def cost_per_device(profile: bounds.Profile, regions: int, prices: Mapping[str, Any]) -> dict[str, float]:
    """Dollars per device onboarded in ``regions`` regions (first connection in one of them)."""
    table = prices["prices"]
    replicas = regions - 1

    def per(api: str) -> float:
        return profile.origin.get(api, 0.0) + replicas * profile.replica.get(api, 0.0)

    gb_s = prices.get("lambda_memory_mb", 128) / 1024 * prices.get("lambda_duration_ms", 100) / 1000
    invocations = per("lambda:Invoke")
    writes = per("dynamodb:UpdateItem") + per("dynamodb:PutItem")
    return {
        "state transitions": per("sfn:StateTransition") * table["sfn_state_transition"]["usd"],
        "Lambda requests": invocations * table["lambda_request"]["usd"],
        "Lambda GB-s": invocations * gb_s * table["lambda_gb_second_arm64"]["usd"],
        "DynamoDB writes": writes * table["dynamodb_write_request"]["usd"],
        "DynamoDB replicated writes": writes * replicas * table["dynamodb_replicated_write"]["usd"],
        "DynamoDB reads": per("dynamodb:GetItem") * table["dynamodb_read_request"]["usd"],
        "EventBridge Pipes requests": writes * replicas * table["pipes_request"]["usd"],
        "EventBridge events": per("events:PutEvents") * table["eventbridge_event"]["usd"],
        "SQS requests": per("sqs:SendMessage") * table["sqs_request"]["usd"],
    }


def plan(profile: bounds.Profile, regions: Sequence[str], devices: int, quotas: Any, prices: Mapping[str, Any],
         target_hours: float | None = None) -> Plan:
    if devices < 1 or not regions:
        raise ValueError("devices must be at least 1 and regions not empty")
    target_s = target_hours * 3600 if target_hours else None
    regions = list(regions)
    spread = {region: 0 for region in regions}
    for i in range(len(regions)):
        spread[regions[i]] = devices // len(regions) + (1 if i < devices % len(regions) else 0)
    onboarding = _drain(bounds.expected_calls(profile, spread, regions), quotas, target_s)
    new_region = regions[-1]
    backfill_calls = {(api, new_region): devices * count for api, count in profile.replica.items() if count}
    backfill = _drain(backfill_calls, quotas, target_s)
    per_device = cost_per_device(profile, len(regions), prices)
    per_million = {item: round(usd * 1_000_000, 2) for item, usd in per_device.items()}
    return Plan(devices, regions, onboarding, backfill, per_million, round(sum(per_million.values()), 2))
