"""EventBridge rule delivery to Step Functions and Lambda targets, which moto does not do.

moto matches an event against every rule of its bus (``Rule.send_to_targets``) but only
delivers to logs, SQS, archives and other buses, and raises ``NotImplementedError`` for a
state machine target. While an ``EventBridgeEngine`` is active, that method hands Step
Functions and Lambda targets of matching rules to the engine's queue (moto keeps the targets
it knows); ``settle()`` then computes each target's input as EventBridge does (``Input``,
``InputPath`` or ``InputTransformer``, see ``transform_input``) and starts the execution or
invokes the function in-process.

Matching reuses moto's own pattern matcher (``moto.events.models.EventPattern``: exact
values, ``prefix``, ``suffix``, ``anything-but``, ``exists``, ``numeric``, ``$or``, ...).
Deliveries that fail are recorded in ``failures``; they never stop the rest of the queue. A
target with a ``DeadLetterConfig`` gets the event in that SQS queue, as EventBridge sends it once
retries are exhausted (or at once for a missing target or missing permissions): the event as the
body, with the ``RULE_ARN``, ``TARGET_ARN``, ``ERROR_CODE`` and ``ERROR_MESSAGE`` attributes. The
engine does not wait out the retry policy (24 h by default): a delivery that fails here fails
for a reason retries would not change (the target is gone, the handler raised).

``execution_ended`` publishes Step Functions' "Execution Status Change" event on the region's
default bus for an execution the engines started that ended FAILED, TIMED_OUT or ABORTED (AWS
also publishes RUNNING and SUCCEEDED; the emulator leaves those out, they would only cost time),
so rules on those events (the program's failed-executions rule) run as in AWS.
"""

from __future__ import annotations

import datetime
import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ... import interception
from ...compat.moto.core import DEFAULT_ACCOUNT_ID, mock_random
from ...compat.moto.events import EventPattern, Rule
from ...compat.moto.stepfunctions import sfn_backend
from ...patching import Patch
from .._exclusive import ExclusiveEngine

_ORIGINAL_SEND = Rule.send_to_targets
#: The engine's hook in moto; installed with the first engine and kept (it passes through while none is active).
PATCH = Patch("eventbridge_delivery", kind="service")

LambdaInvoker = Callable[[str, str, Any], Any]
"""``invoker(region, function_arn, event)``: runs a Lambda handler in-process."""


class InputTransformError(ValueError):
    """A target's input configuration cannot be applied to an event."""


# ---------------------------------------------------------------------------------------
# Input paths and transformers
# ---------------------------------------------------------------------------------------

_MISSING = object()
_PATH_STEP = re.compile(r"\.([A-Za-z0-9_\-/$@:]+)|\[(\d+)\]")


def json_path(document: Any, path: str) -> Any:
    """Resolve an EventBridge JSON path (``$``, ``$.a.b``, ``$.a[0]``); ``_MISSING`` if absent.

    EventBridge accepts dot notation with dashes, underscores, alphanumerics and array
    indices; other JSON path syntax is refused by name.
    """
    if not path.startswith("$"):
        raise InputTransformError(f"JSON path {path!r} must start with '$'")
    position = 1
    node = document
    while position < len(path):
        match = _PATH_STEP.match(path, position)
        if match is None:
            raise InputTransformError(
                f"JSON path {path!r}: unsupported syntax at {path[position:]!r}; use dot "
                "notation ($.detail.field) and array indices ($.resources[0])"
            )
        name, index = match.groups()
        if name is not None:
            if not isinstance(node, dict) or name not in node:
                return _MISSING
            node = node[name]
        else:
            if not isinstance(node, list) or int(index) >= len(node):
                return _MISSING
            node = node[int(index)]
        position = match.end()
    return node


_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def transform_input(
    input_paths_map: dict[str, str] | None,
    input_template: str,
    event: dict[str, Any],
    *,
    rule_arn: str = "",
    rule_name: str = "",
    ingestion_time: str = "",
) -> Any:
    """Apply an EventBridge ``InputTransformer`` to ``event``.

    A placeholder outside a JSON string is replaced by the value's JSON (``null`` when the
    path is missing); inside a JSON string by the value's text, escaped for JSON (a string
    without its quotes, other values as their JSON; empty when missing). The result is
    parsed as JSON when it is JSON (what a Step Functions target needs), otherwise returned
    as the string. A template that is not JSON at all (``"<a> is in state <b>"``) takes
    every value as plain text. Predefined variables: ``aws.events.rule-arn``, ``aws.events.rule-name``,
    ``aws.events.event.ingestion-time``, ``aws.events.event`` (without ``detail``) and
    ``aws.events.event.json``.
    """
    values: dict[str, Any] = {}
    for name, path in (input_paths_map or {}).items():
        if name.startswith("aws."):
            raise InputTransformError(
                f"InputPathsMap key {name!r}: keys starting with 'aws.' are reserved"
            )
        values[name] = json_path(event, path)
    values["aws.events.rule-arn"] = rule_arn
    values["aws.events.rule-name"] = rule_name
    values["aws.events.event.ingestion-time"] = ingestion_time
    values["aws.events.event"] = {k: v for k, v in event.items() if k != "detail"}
    values["aws.events.event.json"] = event

    if input_template.lstrip()[:1] not in ("{", "[", '"'):
        # A plain-text template ("<instance> is in state <status>"): values go in as text.
        return _PLACEHOLDER.sub(
            lambda m: _render_text(values[m.group(1)]) if m.group(1) in values else m.group(0),
            input_template,
        )
    out: list[str] = []
    in_string = False
    position = 0
    while position < len(input_template):
        char = input_template[position]
        if char == "\\" and in_string:
            out.append(input_template[position : position + 2])
            position += 2
            continue
        if char == '"':
            in_string = not in_string
            out.append(char)
            position += 1
            continue
        match = _PLACEHOLDER.match(input_template, position) if char == "<" else None
        if match is not None and match.group(1) in values:
            value = values[match.group(1)]
            out.append(_render(value, quoted=in_string))
            position = match.end()
            continue
        out.append(char)
        position += 1
    rendered = "".join(out)
    try:
        return json.loads(rendered)
    except ValueError:
        return rendered


def _render_text(value: Any) -> str:
    if value is _MISSING:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _render(value: Any, *, quoted: bool) -> str:
    if not quoted:
        return "null" if value is _MISSING else json.dumps(value)
    if value is _MISSING:
        return ""
    text = value if isinstance(value, str) else json.dumps(value)
    return json.dumps(text)[1:-1]


def target_input(target: dict[str, Any], event: dict[str, Any], rule: Rule) -> Any:
    """The input EventBridge sends to ``target`` for ``event``."""
    configured = [k for k in ("Input", "InputPath", "InputTransformer") if target.get(k)]
    if len(configured) > 1:
        raise InputTransformError(
            f"target {target.get('Id')!r} sets {configured}; EventBridge allows only one"
        )
    if target.get("Input"):
        return json.loads(target["Input"])
    if target.get("InputPath"):
        value = json_path(event, target["InputPath"])
        return None if value is _MISSING else value
    transformer = target.get("InputTransformer")
    if transformer:
        return transform_input(
            transformer.get("InputPathsMap"),
            transformer["InputTemplate"],
            event,
            rule_arn=rule.arn,
            rule_name=rule.name,
            ingestion_time=event.get("time", ""),
        )
    return event


# ---------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------


@dataclass
class Delivery:
    """A matched event waiting to reach one Step Functions or Lambda target."""

    account_id: str
    region: str
    rule: Rule
    target: dict[str, Any]
    event: dict[str, Any]


@dataclass
class EventBridgeStats:
    matched: int = 0  # (event, target) pairs queued
    executions_started: int = 0
    lambdas_invoked: int = 0
    failed: int = 0
    status_events: int = 0  # Step Functions status-change events published (failed executions)
    throttled: int = 0  # Step Functions deliveries the account's StartExecution quota refused (each retried)


@dataclass
class DeliveryFailure:
    rule_arn: str
    target_arn: str
    reason: str
    dead_letter_queue_arn: str | None = None  # where the event went, if the target has a DLQ


def _error_code(error: Exception) -> str:
    """The DLQ ``ERROR_CODE`` EventBridge reports for a failed target call (its documented codes)."""
    name = type(error).__name__
    if "DoesNotExist" in name or "NotFound" in name:
        return "NO_RESOURCE"
    if "AccessDenied" in name or "Unauthorized" in name:
        return "NO_PERMISSIONS"
    if "Throttl" in name or "LimitExceeded" in name:
        return "THROTTLING"
    return "SDK_CLIENT_ERROR"


def dead_letter(delivery: Delivery, error: Exception) -> str | None:
    """Send ``delivery``'s event to its target's dead-letter queue; return the queue ARN, or None without one."""
    from ...compat.moto.services import sqs_backends

    arn = (delivery.target.get("DeadLetterConfig") or {}).get("Arn")
    if not arn:
        return None
    _, _, _, region, account, queue_name = arn.split(":", 5)

    def text(value: str) -> dict[str, str]:
        return {"DataType": "String", "StringValue": value}

    sqs_backends[account][region].send_message(
        queue_name,
        json.dumps(delivery.event),
        message_attributes={
            "RULE_ARN": text(delivery.rule.arn),
            "TARGET_ARN": text(delivery.target["Arn"]),
            "ERROR_CODE": text(_error_code(error)),
            "ERROR_MESSAGE": text(str(error)[:256] or type(error).__name__),
        },
    )
    return arn


def _epoch_ms(moment: datetime.datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def _iso(timestamp: Any) -> Any:
    if isinstance(timestamp, (int, float)):
        moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return timestamp


def _hooked_send(self: Rule, original_event: Any, transform_input: bool = True) -> None:
    engine = EventBridgeEngine.active
    ours = [
        t
        for t in self.targets
        if t["Arn"].split(":")[2] in ("states", "lambda")
    ]
    if engine is None or not ours:
        _ORIGINAL_SEND(self, original_event, transform_input)
        return
    if not self.event_pattern.matches_event(original_event):
        return
    theirs = [t for t in self.targets if t not in ours]
    if theirs:
        saved = self.targets
        self.targets = theirs
        try:
            _ORIGINAL_SEND(self, original_event, transform_input)
        finally:
            self.targets = saved
    if getattr(self, "state", "ENABLED") != "ENABLED":
        return
    event = {k: v for k, v in dict(original_event).items() if k != "ingestion-time"}
    event["time"] = _iso(event.get("time"))
    for target in ours:
        engine.queue.append(
            Delivery(self.account_id, self.region_name, self, target, json.loads(json.dumps(event)))
        )
        engine.stats.matched += 1


class EventBridgeEngine(ExclusiveEngine):
    """Delivers matched events to Step Functions (StartExecution) and Lambda targets."""

    def __init__(
        self,
        account_id: str = DEFAULT_ACCOUNT_ID,
        lambda_invoker: LambdaInvoker | None = None,
    ) -> None:
        self.account_id = account_id
        self.lambda_invoker = lambda_invoker
        self.queue: deque[Delivery] = deque()
        self.throttled: list[Delivery] = []  # refused by the StartExecution quota: retried on the next settle
        self.stats = EventBridgeStats()
        self.failures: list[DeliveryFailure] = []
        self.started_executions: list[str] = []
        self.on_execution: Callable[[Any], None] | None = None  # e.g. settle's waiter

    def _install(self) -> None:
        if not PATCH.applied:
            PATCH.set(Rule, "send_to_targets", _hooked_send)

    def pending(self) -> int:
        return len(self.queue) + len(self.throttled)

    def settle(self, limit: int | None = None) -> int:
        """Deliver queued events (at most ``limit``); return how many reached their target. A delivery the account's
        StartExecution quota refuses waits for the next ``settle`` (EventBridge retries throttled deliveries with
        back-off for up to 24 hours; the emulator retries at its next settle, a second later in a storm)."""
        self.queue.extend(self.throttled)
        self.throttled.clear()
        delivered = 0
        while self.queue and (limit is None or delivered < limit):
            delivery = self.queue.popleft()
            try:
                if not self._deliver(delivery):
                    self.throttled.append(delivery)
                    self.stats.throttled += 1
                    continue
                delivered += 1
            except Exception as error:  # noqa: BLE001 - recorded (and dead-lettered), as EventBridge would
                self.stats.failed += 1
                self.failures.append(
                    DeliveryFailure(
                        delivery.rule.arn,
                        delivery.target["Arn"],
                        f"{type(error).__name__}: {error}",
                        dead_letter(delivery, error),
                    )
                )
        return delivered

    def execution_ended(self, execution: Any) -> None:
        """Publish the status-change event of an execution that did not succeed (see the module docstring)."""
        from ...compat.moto.events import events_backends

        status = getattr(getattr(execution, "exec_status", None), "value", None) or getattr(execution, "status", "")
        if status not in ("FAILED", "TIMED_OUT", "ABORTED"):
            return
        arn = execution.execution_arn
        detail = {
            "executionArn": arn,
            "stateMachineArn": execution.state_machine_arn,
            "name": execution.name,
            "status": status,
            "startDate": _epoch_ms(execution.start_date),
            "stopDate": _epoch_ms(execution.stop_date),
            "input": execution.execution_input,
            "output": None,
            "error": execution.error,
            "cause": execution.cause,
        }
        events_backends[execution.account_id][execution.region_name].put_events([{
            "Source": "aws.states", "DetailType": "Step Functions Execution Status Change",
            "Detail": json.dumps(detail), "Resources": [arn], "EventBusName": "default",
        }])
        self.stats.status_events += 1

    def _deliver(self, delivery: Delivery) -> bool:
        """Deliver one event; False when the account's StartExecution quota refused it (to be retried)."""
        target = delivery.target
        arn = target["Arn"]
        payload = target_input(target, delivery.event, delivery.rule)
        target_region = arn.split(":")[3]
        if arn.split(":")[2] == "states":
            if interception.service_refusal(interception.Call("sfn", "StartExecution", target_region)) is not None:
                return False
            backend = sfn_backend(delivery.account_id, target_region)
            name = str(mock_random.uuid4())
            execution = backend.start_execution(arn, name, json.dumps(payload))
            self.started_executions.append(execution.execution_arn)
            if self.on_execution is not None:
                self.on_execution(execution)
            self.stats.executions_started += 1
            return True
        if self.lambda_invoker is None:
            raise RuntimeError(
                f"Lambda target {arn} needs an in-process invoker: pass "
                "EventBridgeEngine(lambda_invoker=...) (moto's Lambda needs Docker)"
            )
        self.lambda_invoker(target_region, arn, payload)
        self.stats.lambdas_invoked += 1
        return True


def inprocess_lambda_invoker(account_id: str = DEFAULT_ACCOUNT_ID) -> LambdaInvoker:
    """An invoker that runs the handler registered with ``localcloud.services.awslambda.inprocess``
    for the moto function named by the ARN (asynchronous invocation: errors are raised to the
    caller, which records them as failed deliveries)."""
    from ...compat.moto.services import lambda_backends
    from ..awslambda.inprocess import run_handler

    def invoke(region: str, function_arn: str, event: Any) -> Any:
        function = lambda_backends[account_id][region].get_function(function_arn)
        payload, error_type = run_handler(function, event)
        if error_type is not None:
            raise RuntimeError(f"{function_arn} failed with {error_type}: {payload.decode()}")
        return json.loads(payload) if payload else None

    return invoke


def pattern_matches(pattern: dict[str, Any] | str, event: dict[str, Any]) -> bool:
    """EventBridge pattern matching (moto's matcher) for a JSON-compatible ``event``."""
    raw = pattern if isinstance(pattern, str) else json.dumps(pattern)
    return EventPattern.load(raw).matches_event(event)
