"""Shared pieces of the state machine builders and ``sdk_actions`` (least-privilege IAM from a definition).

Conventions every builder follows (docs/design.md, "State machine rules"):
- aws-sdk tasks retry throttling/transient errors of their service with exponential backoff and full jitter;
- tasks whose result is not needed use ``ResultPath: null`` so the execution's state is never clobbered;
- ``Catch`` blocks write the error to ``$.Error`` (``{"Error", "Cause"}``), rollback tasks use ``ResultPath: null``;
- errors are named as Step Functions names them: ``Iot.ResourceAlreadyExistsException``,
  ``DynamoDb.ConditionalCheckFailedException``, ``Lambda.ServiceException``.
"""
from __future__ import annotations

import re
from typing import Any
from collections.abc import Iterator, Sequence

SDK_PREFIX = "arn:aws:states:::aws-sdk:"
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
EVENTS_PUT = "arn:aws:states:::events:putEvents"

# Step Functions' error prefix per aws-sdk service (the AWS SDK for Java v2 client name).
ERROR_PREFIX = {"iot": "Iot", "dynamodb": "DynamoDb", "eventbridge": "EventBridge", "lambda": "Lambda"}
# IAM action prefix per aws-sdk / optimised-integration service name.
IAM_PREFIX = {"iot": "iot", "dynamodb": "dynamodb", "eventbridge": "events", "events": "events", "lambda": "lambda",
              "sfn": "states", "states": "states"}

TRANSIENT_ERRORS: dict[str, tuple[str, ...]] = {
    "iot": ("Iot.ServiceUnavailableException", "Iot.InternalFailureException"),
    "dynamodb": ("DynamoDb.InternalServerErrorException",),
    "events": ("EventBridge.InternalException", "EventBridge.FailedEntry"),
    "lambda": (
        "Lambda.ServiceException",
        "Lambda.ResourceNotReadyException",
        "Lambda.SdkClientException",
        "Lambda.AWSLambdaException",
    ),
}
#: Throttling, per service: retried far longer than other transient errors (``THROTTLING_RETRY``). For the inspector
#: Lambda this includes its own throttled AWS calls, which it raises under botocore's error code as the error name.
THROTTLING_ERRORS: dict[str, tuple[str, ...]] = {
    "iot": ("Iot.ThrottlingException",),
    "dynamodb": (
        "DynamoDb.ProvisionedThroughputExceededException",
        "DynamoDb.ThrottlingException",
        "DynamoDb.RequestLimitExceededException",
    ),
    "events": (),
    "lambda": ("Lambda.TooManyRequestsException", "Lambda.EC2ThrottledException", "ThrottlingException",
               "ProvisionedThroughputExceededException"),
}
#: Sized from the quotas (docs/design.md, "Onboarding storms"): the tightest IoT APIs allow 10-15 calls/s per account
#: and region, so a storm builds a backlog of minutes. 2, 4, ... s capped at 60 s with full jitter, 20 attempts:
#: an execution keeps its place for about 17 minutes (8.5 on average) instead of failing after 20 s, which sent the
#: registrations back to the devices and the replications to the dead-letter queue. A retry is a billed transition,
#: so the happy path pays nothing.
THROTTLING_RETRY = {"IntervalSeconds": 2, "MaxAttempts": 20, "BackoffRate": 2.0, "MaxDelaySeconds": 60,
                    "JitterStrategy": "FULL"}

ERROR_PATH = "$.Error"

# Error names the machines branch on (Step Functions' names for the IoT / DynamoDB exceptions).
ALREADY_EXISTS = "Iot.ResourceAlreadyExistsException"
NOT_FOUND = "Iot.ResourceNotFoundException"
#: AWS IoT refuses any status change of a REVOKED certificate ("Once a certificate is revoked, its status can't be
#: changed": developer guide, revoke-ca-cert.html); the machines use that as a fence.
CERTIFICATE_STATE = "Iot.CertificateStateException"
CONDITION_FAILED = "DynamoDb.ConditionalCheckFailedException"


def retry(service: str, *, interval: int = 1, attempts: int = 4, backoff: float = 2.0, max_delay: int = 20) -> list[dict[str, Any]]:
    """Retry throttling of ``service`` with ``THROTTLING_RETRY`` and its other transient errors (a
    ``TRANSIENT_ERRORS`` key) with the given exponential backoff; both with full jitter."""
    if service not in TRANSIENT_ERRORS:
        raise ValueError(f"no transient-error list for service {service!r}; add it to TRANSIENT_ERRORS ({sorted(TRANSIENT_ERRORS)})")
    rules = [{"ErrorEquals": list(THROTTLING_ERRORS[service]), **THROTTLING_RETRY}] if THROTTLING_ERRORS[service] else []
    return [*rules, {
        "ErrorEquals": list(TRANSIENT_ERRORS[service]),
        "IntervalSeconds": interval,
        "MaxAttempts": attempts,
        "BackoffRate": backoff,
        "MaxDelaySeconds": max_delay,
        "JitterStrategy": "FULL",
    }]


def catch(errors: Sequence[str], next_state: str, result_path: str | None = ERROR_PATH) -> dict[str, Any]:
    return {"ErrorEquals": list(errors), "Next": next_state, "ResultPath": result_path}


def sdk_task(service: str, action: str, parameters: dict[str, Any], *, next_state: str | None = None,
             result_path: str | None = None, catches: list[dict[str, Any]] | None = None,
             result_selector: dict[str, Any] | None = None, comment: str | None = None) -> dict[str, Any]:
    """An ``arn:aws:states:::aws-sdk:<service>:<action>`` task with retries; ends when ``next_state`` is None."""
    state: dict[str, Any] = {"Type": "Task", "Resource": f"{SDK_PREFIX}{service}:{action}", "Parameters": parameters}
    if comment:
        state["Comment"] = comment
    if result_selector is not None:
        state["ResultSelector"] = result_selector
    state["ResultPath"] = result_path
    state["Retry"] = retry(service)
    if catches:
        state["Catch"] = catches
    if next_state is None:
        state["End"] = True
    else:
        state["Next"] = next_state
    return state


def rollback_task(service: str, action: str, parameters: dict[str, Any], next_state: str, comment: str | None = None) -> dict[str, Any]:
    """A best-effort step (a quarantine, a revocation on the way to a Fail): retried like any task, and any error still
    continues to ``next_state``, so it never keeps the execution from reporting what happened."""
    state = sdk_task(service, action, parameters, next_state=next_state, result_path=None,
                     catches=[catch(["States.ALL"], next_state, result_path=None)], comment=comment)
    return state


def put_event(*, event_bus_name: str, source: str, detail_type: str, detail: dict[str, Any], next_state: str | None,
              catches: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The optimised EventBridge ``putEvents`` integration (``Detail`` may be a JSON object)."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": EVENTS_PUT,
        "Parameters": {"Entries": [{"EventBusName": event_bus_name, "Source": source, "DetailType": detail_type, "Detail": detail}]},
        "ResultPath": None,
        "Retry": retry("events"),
    }
    if catches:
        state["Catch"] = catches
    if next_state is None:
        state["End"] = True
    else:
        state["Next"] = next_state
    return state


def tolerant(errors: list[str], next_state: str, *, otherwise: str) -> list[dict[str, Any]]:
    """Catchers that treat ``errors`` as "already done" (continue to ``next_state``) and send anything else to
    ``otherwise`` with the error under ``$.Error``."""
    return [catch(errors, next_state, result_path=None), catch(["States.ALL"], otherwise)]


def read_item(inventory_table: str, thing_name_path: str, *, next_state: str, catches: list[dict[str, Any]],
              result_path: str = "$.Current") -> dict[str, Any]:
    """A consistent GetItem of the thing's inventory item into ``result_path`` (its ``Item`` absent when there is
    none): every machine decides from the item as it is now, never from the (possibly stale or replayed) event."""
    return sdk_task(
        "dynamodb", "getItem",
        {"TableName": inventory_table, "Key": {"ThingName": {"S.$": thing_name_path}}, "ConsistentRead": True},
        result_path=result_path, next_state=next_state, catches=catches,
        comment="Act on the inventory as it is now (consistent read of this region's replica)",
    )


# arn:<partition>:iot:<region>:<account>:cert/<id>, partition/region/account from the running state machine's ARN.
_ARN_PART = "States.ArrayGetItem(States.StringSplit($$.StateMachine.Id, ':'), {})"


def certificate_arn(certificate_id_path: str) -> str:
    """Intrinsic expression: this region's ARN of the certificate whose id is at ``certificate_id_path``."""
    return (f"States.Format('arn:{{}}:iot:{{}}:{{}}:cert/{{}}', {_ARN_PART.format(1)}, {_ARN_PART.format(3)}, "
            f"{_ARN_PART.format(4)}, {certificate_id_path})")


def certificate_id_of(certificate_arn_path: str) -> str:
    """Intrinsic expression: the certificate id at the end of the certificate ARN at ``certificate_arn_path``."""
    return f"States.ArrayGetItem(States.StringSplit({certificate_arn_path}, '/'), 1)"


def require(name: str, value: str) -> str:
    """Builder arguments must be non-empty strings: fail early with the argument's name."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def iter_states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (name, state) of a definition, including states nested in Parallel branches and Map iterators."""
    for name, state in definition.get("States", {}).items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from iter_states(branch)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from iter_states(state[key])


def _pascal(action: str) -> str:
    return action[:1].upper() + action[1:]


_LAMBDA_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:")
_OPTIMISED = re.compile(r"^arn:aws[a-z-]*:states:::(?P<service>[a-z0-9-]+):(?P<action>[A-Za-z0-9]+)"
                        r"(?:\.(?:sync|waitForTaskToken)(?::2)?)?$")
_SDK = re.compile(r"^arn:aws[a-z-]*:states:::aws-sdk:(?P<service>[a-z0-9-]+):(?P<action>[A-Za-z0-9]+)(?:\.waitForTaskToken)?$")
_OPTIMISED_ACTIONS = {("lambda", "invoke"): "lambda:InvokeFunction", ("events", "putEvents"): "events:PutEvents"}


def sdk_actions(definition: dict[str, Any]) -> set[str]:
    """IAM actions the state machine's role needs to run ``definition`` (e.g. ``{"iot:CreateThing", "lambda:InvokeFunction"}``).

    Derived from every Task's ``Resource``: aws-sdk integrations map to ``<iam prefix>:<Action>``; the optimised
    Lambda and EventBridge integrations and direct Lambda ARNs map to ``lambda:InvokeFunction`` / ``events:PutEvents``.
    An unrecognised resource raises ``ValueError`` (a policy must never be silently too narrow or too wide).
    """
    actions: set[str] = set()
    for name, state in iter_states(definition):
        if state.get("Type") != "Task":
            continue
        resource = state.get("Resource", "")
        if _LAMBDA_ARN.match(resource):
            actions.add("lambda:InvokeFunction")
            continue
        sdk = _SDK.match(resource)
        if sdk:
            service = sdk.group("service")
            actions.add(f"{IAM_PREFIX.get(service, service)}:{_pascal(sdk.group('action'))}")
            continue
        optimised = _OPTIMISED.match(resource)
        if optimised and (optimised.group("service"), optimised.group("action")) in _OPTIMISED_ACTIONS:
            actions.add(_OPTIMISED_ACTIONS[(optimised.group("service"), optimised.group("action"))])
            continue
        if optimised and optimised.group("service") == "dynamodb":
            actions.add(f"dynamodb:{_pascal(optimised.group('action'))}")
            continue
        raise ValueError(f"state {name!r}: cannot derive IAM actions from Resource {resource!r}; extend builders.asl.common.sdk_actions")
    return actions
