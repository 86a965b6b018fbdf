"""Lambda entry point of the pacer. Thin: parse the request, reserve a slot, return it.

Environment: ``PACING_TABLE`` (the regional queue table) and ``AWS_REGION`` (set by Lambda). Input, as the state
machines send it after a throttled call: ``{"Api": "iot:AttachPolicy", "Rate": 15, "HorizonSeconds": 900}``.
Output: ``{"Api", "Slot", "NotBefore", "WaitSeconds"}``; the machine waits until ``NotBefore`` and calls again.
Errors are raised as named exceptions (``QueueTooLong``, ``InvalidPacingRequest``, ``PacingContention``); Step
Functions sees their class name as the error name. Each invocation writes one record: ``PacerSlots`` and
``PacerWait``, or ``PacerRefusals`` (contract/metrics.py, in ``METRICS_NAMESPACE``).
"""
from __future__ import annotations

import functools
import os
from typing import Any

import boto3

from contract import metrics

from . import pacing

QueueTooLong = pacing.QueueTooLong
InvalidPacingRequest = pacing.InvalidPacingRequest
PacingContention = pacing.PacingContention


@functools.cache
def _dynamodb(region: str) -> Any:
    """Made once per Lambda environment and reused (AWS's advice: initialise SDK clients outside the handler)."""
    return boto3.client("dynamodb", region_name=region)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = pacing.Request.parse(event)
    try:
        slot = pacing.reserve(_dynamodb(os.environ["AWS_REGION"]), os.environ["PACING_TABLE"], request)
    except (QueueTooLong, PacingContention) as refused:
        metrics.emit([(metrics.PACER_REFUSALS, 1)], dimensions={"Api": request.api, "Reason": type(refused).__name__},
                     fields={"level": "WARNING", "message": "no slot given", "rate": request.rate,
                             "horizonSeconds": request.horizon_seconds, "error": str(refused)})
        raise
    # Each call here is one call AWS throttled (the machines ask for a slot only then): PacerSlots counts them, and
    # PacerWait is how far ahead the API's queue reaches, its backlog.
    metrics.emit([(metrics.PACER_SLOTS, 1), (metrics.PACER_WAIT, round(slot.wait_seconds, 3))], dimensions={"Api": request.api},
                 fields={"level": "INFO", "message": "slot given", "notBefore": slot.not_before, "rate": request.rate})
    return slot.as_output()
