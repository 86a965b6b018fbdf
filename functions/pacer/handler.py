"""Lambda entry point of the pacer. Thin: parse the request, reserve a slot, return it.

Environment: ``PACING_TABLE`` (the regional queue table) and ``AWS_REGION`` (set by Lambda). Input, as the state
machines send it after a throttled call: ``{"Api": "iot:AttachPolicy", "Rate": 15, "HorizonSeconds": 900}``.
Output: ``{"Api", "Slot", "NotBefore", "WaitSeconds"}``; the machine waits until ``NotBefore`` and calls again.
Errors are raised as named exceptions (``QueueTooLong``, ``InvalidPacingRequest``, ``PacingContention``); Step
Functions sees their class name as the error name.
"""
from __future__ import annotations

import functools
import os
from typing import Any

import boto3

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
    return pacing.reserve(_dynamodb(os.environ["AWS_REGION"]), os.environ["PACING_TABLE"], request).as_output()
