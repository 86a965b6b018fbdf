"""Deterministic execution names, idempotent ``StartExecution`` and waiting for executions.

A Standard workflow refuses a second execution of the same name (``ExecutionAlreadyExists``) for 90
days once the first has ended, so a name derived from *what* is being replayed makes every command
safe to run twice: the second run finds the name taken and counts it as already done. (A start with
the same name and input as a *running* execution succeeds and returns that execution; inputs are
serialised with sorted keys so a replay's input is byte-identical.)
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ops.clients import error_code
from ops.ratelimit import TokenBucket

MAX_NAME = 80
_NOT_ALLOWED = re.compile(r"[^0-9A-Za-z_-]")
_DIGEST_CHARS = 40
ENDED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def execution_name(prefix: str, *parts: str) -> str:
    """``<prefix>-<40 hex of sha256(parts)>``: at most 80 characters of ``[0-9A-Za-z_-]``, the same for the same parts."""
    if not parts:
        raise ValueError("execution_name needs at least one part to derive the name from")
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:_DIGEST_CHARS]
    clean = _NOT_ALLOWED.sub("-", prefix).strip("-")[: MAX_NAME - _DIGEST_CHARS - 1] or "ops"
    return f"{clean}-{digest}"


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN an execution ``name`` of ``state_machine_arn`` has (Standard workflows)."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


class Outcome(str, Enum):
    STARTED = "started"
    ALREADY_DONE = "already done"
    FAILED = "failed"


@dataclass(frozen=True)
class Start:
    """What one start did: the execution's name and ARN, and an error text when it failed."""

    outcome: Outcome
    name: str
    execution_arn: str
    error: str = ""


def canonical_input(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def start(sfn: Any, state_machine_arn: str, name: str, payload: dict[str, Any],
          bucket: TokenBucket | None = None) -> Start:
    """Start ``state_machine_arn`` as ``name`` with ``payload``; a taken name is ALREADY_DONE, not an error."""
    if bucket is not None:
        bucket.acquire()
    try:
        response = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=canonical_input(payload))
    except Exception as error:  # noqa: BLE001 - every failure is reported per item, never aborts the run
        code = error_code(error)
        if code == "ExecutionAlreadyExists":
            return Start(Outcome.ALREADY_DONE, name, execution_arn(state_machine_arn, name))
        return Start(Outcome.FAILED, name, execution_arn(state_machine_arn, name),
                     f"{code or type(error).__name__}: {error}")
    return Start(Outcome.STARTED, name, response["executionArn"])


def wait(sfn: Any, arns: Iterable[str], *, timeout_s: float = 600.0, poll_s: float = 2.0,
         clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> dict[str, str]:
    """Poll ``DescribeExecution`` until every execution ended (or ``timeout_s``); returns ARN -> status."""
    statuses: dict[str, str] = {arn: "RUNNING" for arn in arns}
    deadline = clock() + timeout_s
    while True:
        for arn, status in list(statuses.items()):
            if status in ENDED:
                continue
            try:
                statuses[arn] = sfn.describe_execution(executionArn=arn)["status"]
            except Exception as error:  # noqa: BLE001 - reported as the status
                statuses[arn] = f"UNKNOWN ({error_code(error) or type(error).__name__})"
        if all(s != "RUNNING" and s != "PENDING_REDRIVE" for s in statuses.values()) or clock() >= deadline:
            return statuses
        sleep(poll_s)
