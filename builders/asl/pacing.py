"""Pacing: a throttled call waits for a slot on its API's queue instead of retrying at random.

``pace(states, name, api, pacer)`` rewrites the task ``states[name]`` so that when AWS throttles it
(``Iot.ThrottlingException``; for the inspector Lambda its own throttled call, raised as ``ThrottlingException``), it
is caught (no Retry first) and goes through two new states before being called again:

    <name> --throttled--> Pace: <name>  (the pacer Lambda takes the next free slot of the API in this region)
                          Wait: <name>  (a Wait state until the slot's second: free while waiting)
                          <name>        (called again at its slot)

The happy path is unchanged: a Catch costs no transition, and the pacer runs only after a refusal. A throttled call
costs 3 transitions and 1 Lambda invocation more (docs/design.md, "Onboarding storms"). If the pacer cannot give a
slot (its queue is longer than the caller's horizon, or it keeps failing) the error goes where the task's own
``States.ALL`` catcher sends it, with the error under ``$.Error`` as usual.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contract import errors

from .common import LAMBDA_INVOKE, SDK_PREFIX, catch, retry

#: What each kind of task raises when AWS throttles it, as Step Functions names it.
THROTTLED = {"iot": "Iot.ThrottlingException", "lambda": "ThrottlingException"}
#: The pacer's error worth a quick retry (functions/pacer/pacing.py); its others go where the task's errors go.
CONTENTION = errors.PACING_CONTENTION
PACE_PREFIX = "Pace: "
WAIT_PREFIX = "Wait: "
SLOT_PATH = "$.Pace"


@dataclass(frozen=True)
class Pacer:
    """The regional pacer and what it paces: ``rates`` maps ``service:Operation`` to the calls per second the
    account's quota admits in this region; calls whose API has no rate are not paced (they keep the throttling
    Retry). ``horizon_seconds`` is the furthest slot this machine's callers accept."""

    function_arn: str
    rates: Mapping[str, float] = field(default_factory=dict)
    horizon_seconds: int = 900

    def __post_init__(self) -> None:
        if not isinstance(self.function_arn, str) or not self.function_arn:
            raise ValueError("Pacer.function_arn must be the pacer Lambda's ARN")
        for api, rate in self.rates.items():
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0:
                raise ValueError(f"Pacer.rates[{api!r}] must be a positive number of calls per second, got {rate!r}")
        if isinstance(self.horizon_seconds, bool) or not isinstance(self.horizon_seconds, int) or self.horizon_seconds < 1:
            raise ValueError(f"Pacer.horizon_seconds must be a whole number of seconds >= 1, got {self.horizon_seconds!r}")


def _failure_catcher(state: dict[str, Any], name: str) -> dict[str, Any]:
    """Where the task sends any error: the pacer's own failures go the same way, with the same ResultPath."""
    for catcher in state.get("Catch", []):
        if "States.ALL" in catcher["ErrorEquals"]:
            return {"ErrorEquals": ["States.ALL"], "Next": catcher["Next"], "ResultPath": catcher.get("ResultPath", "$")}
    raise ValueError(f"state {name!r} has no States.ALL catcher: pacing needs somewhere to send a refused slot")


def _kind(state: dict[str, Any], name: str) -> str:
    resource = state.get("Resource", "")
    if resource == LAMBDA_INVOKE:
        return "lambda"
    if resource.startswith(f"{SDK_PREFIX}iot:"):
        return "iot"
    raise ValueError(f"state {name!r}: only IoT aws-sdk tasks and Lambda invocations are paced, not {resource!r}")


def pace(states: dict[str, Any], name: str, api: str, pacer: Pacer | None) -> None:
    """Make the task ``states[name]`` (calling ``api``, e.g. ``iot:AttachPolicy``) wait for a slot when throttled;
    nothing changes without a pacer or without a rate for ``api``."""
    if pacer is None or api not in pacer.rates:
        return
    state = states[name]
    kind = _kind(state, name)
    throttled = THROTTLED[kind]
    # Throttling is caught at once (a Retry would be evaluated first); other transient errors keep their Retry.
    state["Retry"] = [{**rule, "ErrorEquals": [e for e in rule["ErrorEquals"] if e != throttled]}
                      for rule in state.get("Retry", []) if rule["ErrorEquals"] != [throttled]]
    pace_name, wait_name = f"{PACE_PREFIX}{name}", f"{WAIT_PREFIX}{name}"
    state["Catch"] = [catch([throttled], pace_name, result_path=None), *state.get("Catch", [])]
    states[pace_name] = {
        "Type": "Task",
        "Comment": f"{api} was throttled: take the next free slot of its queue in this region",
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": pacer.function_arn,
                       "Payload": {"Api": api, "Rate": pacer.rates[api], "HorizonSeconds": pacer.horizon_seconds}},
        "ResultSelector": {"NotBefore.$": "$.Payload.NotBefore"},
        "ResultPath": SLOT_PATH,
        "Retry": [*retry("lambda"), {"ErrorEquals": [CONTENTION], "IntervalSeconds": 1, "MaxAttempts": 3,
                                     "BackoffRate": 2.0, "JitterStrategy": "FULL"}],
        "Catch": [_failure_catcher(state, name)],
        "Next": wait_name,
    }
    states[wait_name] = {"Type": "Wait", "Comment": "Free while waiting; the slot's second has whole-second precision",
                         "TimestampPath": f"{SLOT_PATH}.NotBefore", "Next": name}


def pace_iot_tasks(states: dict[str, Any], pacer: Pacer | None, *, lambdas: Mapping[str, str] | None = None) -> None:
    """Pace every top-level IoT aws-sdk task of ``states`` (its API named from the resource: ``iot:AttachPolicy``)
    and the Lambda tasks in ``lambdas`` (state name -> the API whose throttling the function raises)."""
    if pacer is None:
        return
    prefix = f"{SDK_PREFIX}iot:"
    targets = {}
    for name, state in list(states.items()):
        resource = state.get("Resource", "") if state.get("Type") == "Task" else ""
        if resource.startswith(prefix):
            action = resource[len(prefix):]
            targets[name] = f"iot:{action[:1].upper()}{action[1:]}"
    targets.update(lambdas or {})
    for name, api in targets.items():
        pace(states, name, api, pacer)
