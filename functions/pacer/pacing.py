"""Pure logic of the pacer: a slot on a per-API queue of this region, for a call AWS just throttled.

AWS IoT throttles its control plane per account and region with token buckets (AttachPolicy 15/s,
DescribeCertificate 10/s, ...). When an onboarding storm meets one, every execution that was refused must call again
later. Retrying at random (exponential backoff with jitter) keeps the bucket busy while the backlog is long but leaves
it idle at the end, and the last executions land up to a whole backoff cap after the quota would have allowed them
(docs/design.md, "Onboarding storms"). A queue does better: each refused call takes the next free slot of its API at
the API's rate, waits for it in a Step Functions Wait state (no cost while waiting) and calls then.

The queue is one DynamoDB item per API holding its theoretical arrival time ``Tat`` (the generic cell rate
algorithm): the next free slot is ``max(Tat, now)``, and taking it moves ``Tat`` on by ``1 / rate``. Both cases are
one atomic, conditional UpdateItem, so concurrent pacers never hand out one slot twice and never read first:

- the queue is busy (``Tat >= now``): ``SET Tat = Tat + :interval``, the slot is the old ``Tat``;
- the queue is idle (``Tat < now`` or no item): ``SET Tat = :now + :interval``, the slot is ``now``.

A Wait state's timestamp has whole-second precision, so the execution wakes at the first whole second after its slot:
the ``rate`` slots of one second wake together at its end, when the bucket (burst = rate) has refilled. A slot
further away than ``horizon_seconds`` is refused (:class:`QueueTooLong`): the caller's own failure path decides what
that means (a JITR device retries on its next connection; replication's horizon is long enough never to give up).
"""
from __future__ import annotations

import datetime
import math
import re
import time
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Mapping

KEY = "Api"
#: ``service:Operation`` as IAM and the quota data name it.
API = re.compile(r"[a-z0-9-]{2,32}:[A-Za-z0-9]{2,64}")
#: Rounds of the two conditional writes before giving up (each lost round means another pacer moved ``Tat``).
ROUNDS = 8


class PacingError(Exception):
    """Base of the errors the state machines see by class name."""


class InvalidPacingRequest(PacingError):
    """The request names no API, or a rate or horizon that is not a positive number."""


class QueueTooLong(PacingError):
    """The API's queue in this region is longer than the caller's horizon."""


class PacingContention(PacingError):
    """Every round lost to other pacers (the state machine's Retry calls again)."""


@dataclass(frozen=True)
class Request:
    api: str
    rate: float  # calls per second the API admits in this region (the quota)
    horizon_seconds: float  # the furthest slot the caller accepts

    @classmethod
    def parse(cls, event: Mapping[str, Any]) -> Request:
        """``{"Api": "iot:AttachPolicy", "Rate": 15, "HorizonSeconds": 900}`` as the state machines send it."""
        if not isinstance(event, Mapping):
            raise InvalidPacingRequest(f"expected an object with Api, Rate and HorizonSeconds, got {event!r}")
        api = event.get("Api")
        if not isinstance(api, str) or not API.fullmatch(api):
            raise InvalidPacingRequest(f"Api must look like 'iot:AttachPolicy', got {api!r}")
        numbers = {}
        for name in ("Rate", "HorizonSeconds"):
            value = event.get(name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise InvalidPacingRequest(f"{name} must be a positive number, got {value!r}")
            numbers[name] = float(value)
        return cls(api, numbers["Rate"], numbers["HorizonSeconds"])


@dataclass(frozen=True)
class Slot:
    api: str
    at: float  # epoch seconds: when the call may be made
    not_before: str  # the first whole second at or after ``at``, as a Wait state's timestamp
    wait_seconds: float  # from now until ``not_before``

    def as_output(self) -> dict[str, Any]:
        return {"Api": self.api, "Slot": round(self.at, 3), "NotBefore": self.not_before,
                "WaitSeconds": round(self.wait_seconds, 3)}


def _number(value: float) -> dict[str, str]:
    """A DynamoDB number to the microsecond, in plain decimal notation (``1e-05`` would be ambiguous to a reader)."""
    return {"N": f"{value:.6f}"}


def _timestamp(epoch_second: int) -> str:
    return datetime.datetime.fromtimestamp(epoch_second, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reserve(dynamodb: Any, table: str, request: Request, *, clock: Callable[[], float] | None = None) -> Slot:
    """Take the next free slot of ``request.api`` in ``table``; see the module docstring. A queue longer than the
    horizon is refused without taking a slot (the busy write is conditional on the horizon too)."""
    interval = 1.0 / request.rate
    key = {KEY: {"S": request.api}}
    for _ in range(ROUNDS):
        now = (clock or time.time)()  # the wall clock, read when called (a simulation stands in for it)
        horizon = now + request.horizon_seconds
        try:
            answer = dynamodb.update_item(
                TableName=table, Key=key, UpdateExpression="SET Tat = Tat + :interval",
                ConditionExpression="Tat BETWEEN :now AND :horizon",
                ExpressionAttributeValues={":interval": _number(interval), ":now": _number(now),
                                           ":horizon": _number(horizon)},
                ReturnValues="UPDATED_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD")
            at = float(answer["Attributes"]["Tat"]["N"]) - interval
        except dynamodb.exceptions.ConditionalCheckFailedException as refused:
            old = refused.response.get("Item", {}).get("Tat", {}).get("N")
            if old is not None and float(old) > horizon:
                raise QueueTooLong(
                    f"{request.api}: the next free slot in this region is {float(old) - now:.0f} s away, beyond this "
                    f"caller's horizon of {request.horizon_seconds:.0f} s; the quota ({request.rate:g}/s) is too low "
                    "for the backlog: ask AWS for a higher quota and set it in the program's quotas file") from None
            try:
                dynamodb.update_item(
                    TableName=table, Key=key, UpdateExpression="SET Tat = :next",
                    ConditionExpression="attribute_not_exists(Tat) OR Tat < :now",
                    ExpressionAttributeValues={":next": _number(now + interval), ":now": _number(now)})
                at = now
            except dynamodb.exceptions.ConditionalCheckFailedException:
                continue  # another pacer made the queue busy between the two writes: take a busy slot
        wake = math.floor(at) + 1  # the call at ``now`` was just refused: never before the next second
        return Slot(request.api, at, _timestamp(wake), wake - now)
    raise PacingContention(f"{request.api}: {ROUNDS} rounds lost to concurrent pacers; retry")
