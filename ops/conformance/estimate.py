"""A rough cost and time estimate per probe, from what it creates and uses.

Unit prices are US East list prices as we know them, not fetched: an estimate. Their pages: "AWS IoT Core pricing"
(messaging per million messages of up to 5 KB, rules triggered and actions, connectivity per million
connection-minutes; registry and certificate operations are not charged), "Amazon DynamoDB pricing" (on-demand
writes), "Amazon SQS pricing" (requests), "AWS Lambda pricing" (requests and 128 MB-seconds). IAM roles, IoT
policies, certificates, CAs, things, topic rules, templates, certificate providers, domain configurations and empty
DynamoDB tables or SQS queues cost nothing while they exist for minutes.
"""
from __future__ import annotations

from dataclasses import dataclass

from ops.conformance.probes import Probe

#: USD per unit (estimates; see the module docstring for the pricing pages).
UNIT_PRICE = {
    "IoT message": 1.00e-6,
    "IoT rule action": 0.30e-6,  # rule triggered + action executed, $0.15 per million each
    "IoT connection minute": 0.08e-6,
    "DynamoDB write": 1.25e-6,
    "SQS request": 0.40e-6,
    "Lambda invocation": 0.20e-6 + 128 / 1024 * 16.67e-6,  # request + up to one second at 128 MB
}


@dataclass(frozen=True)
class Estimate:
    usd: float
    seconds: float


def estimate(probe: Probe) -> Estimate:
    return Estimate(sum(count * UNIT_PRICE[unit] for count, unit in probe.usage), probe.seconds)


def _plural(count: int, kind: str) -> str:
    if count == 1:
        return kind
    return kind[:-1] + "ies" if kind.endswith("y") else kind + "s"


def creates_text(probe: Probe) -> str:
    return ", ".join(f"{count} {_plural(count, kind)}" for count, kind in probe.creates)


def usd(value: float) -> str:
    return "$0" if value == 0 else f"${value:.6f}"
