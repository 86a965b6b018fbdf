"""The interception hub: every AWS API call that reaches moto is recorded, shown to observers, can be refused by a
gate, and can have a fault injected into it.

Services, speed-ups, the storm and ``observe`` all go through here (none of it is a moto gap; it is the hook tests,
the storm and the meters need):

- **recorded calls** (service, operation, region): ``calls()``, ``CALLS``, ``clear()`` ("no call ever reached
  region R");
- **faults**: ``inject("iot", "AttachPolicy", error_code="ThrottlingException", region=..., nth=2)`` fails chosen
  calls, ``before=callback`` runs something first (deterministic interleaving of two executions);
- **gates** (``add_gate``): ``gate.decide(call)`` returns an error code or None; the storm's throttle is one.
  ``service_refusal`` asks them for a call a service makes on the account's behalf;
- **observers** (``add_observer``): hear of every recorded call (the cross-region meter, the storm's counter).

Calls are seen at botocore's ``before-send`` (moto's stubber, hooked by :func:`install`) or, for the calls
``localcloud.speedups.direct_sdk`` answers in-process, through :func:`seen`, so Step Functions tasks, Lambda handlers
and test code are all covered. An injected error is returned as a real HTTP error response in the service's JSON
protocol, so botocore raises the same modelled exception class (``client.exceptions.ThrottlingException``) as AWS
would. The hook is installed with the fixes, as the fix named ``aws_calls`` (``localcloud.fixes.aws_calls``).
"""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from localcloud.botocore_models import service_model
from localcloud.patching import Patch

#: The hook in moto's stubber; applied and reverted with the fixes, under the fix name ``aws_calls``.
PATCH = Patch("aws_calls", kind="interception")

# botocore event names use the hyphenised service id; accept the client names people type.
_ALIASES = {"events": "eventbridge", "states": "sfn", "stepfunctions": "sfn", "dynamodbstreams": "dynamodb-streams"}
_CLIENT_NAMES = {"eventbridge": "events", "sfn": "stepfunctions", "dynamodb-streams": "dynamodbstreams"}
_CREDENTIAL_REGION = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
_HOST_REGION = re.compile(r"\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com")


def canonical_service(service: str) -> str:
    lowered = service.lower()
    return _ALIASES.get(lowered, lowered)


@dataclass(frozen=True)
class Call:
    service: str  # hyphenised service id: iot, dynamodb, eventbridge, lambda, sfn
    operation: str  # API operation name: AttachPolicy
    region: str


@dataclass
class Fault:
    """Fail (or precede with ``before``) the ``nth``.. ``nth+times-1`` matching calls."""

    service: str
    operation: str
    region: str | None = None
    nth: int = 1
    times: int = 1
    error_code: str | None = None
    message: str = "Injected by localcloud.interception"
    before: Callable[[], Any] | None = None
    seen: int = 0
    fired: int = 0

    def matches(self, call: Call) -> bool:
        return (
            self.service == call.service
            and self.operation.lower() == call.operation.lower()
            and (self.region is None or self.region == call.region)
        )


CALLS: list[Call] = []
_FAULTS: list[Fault] = []
# Gates decide per call whether it is refused (a throttle on a simulated clock, ``localcloud.storm.throttle``):
# ``decide(call) -> error code or None``, asked on the stubber path and by ``speedups.direct_sdk`` (through ``seen``).
_GATES: list[Any] = []
_OBSERVERS: list[Callable[[Call], Any]] = []
_LOCK = threading.RLock()


def add_observer(observer: Callable[[Call], Any]) -> None:
    """Call ``observer(call)`` for every call recorded from now on (while the hook is installed)."""
    with _LOCK:
        _OBSERVERS.append(observer)


def remove_observer(observer: Callable[[Call], Any]) -> None:
    with _LOCK:
        if observer in _OBSERVERS:
            _OBSERVERS.remove(observer)


def add_gate(gate: Any) -> None:
    """Let ``gate`` refuse calls: ``gate.decide(call)`` returns an error code (e.g. ``ThrottlingException``) or None."""
    with _LOCK:
        _GATES.append(gate)


def remove_gate(gate: Any) -> None:
    with _LOCK:
        if gate in _GATES:
            _GATES.remove(gate)


#: The message of a call a gate refuses (AWS's throttling message).
GATE_MESSAGE = "Rate exceeded"


def fault_armed(call: Call) -> bool:
    """Whether a fault that has not fired all its times matches ``call`` (it must take moto's stubber path)."""
    with _LOCK:
        return any(fault.fired < fault.times and fault.matches(call) for fault in _FAULTS)


def seen(call: Call) -> str | None:
    """Record a call answered in-process without moto's stubber (``speedups.direct_sdk``), as the stubber path would,
    and return the error code a gate (a throttle) refuses it with, or None when it may go on.

    Only calls no armed fault matches come here (see :func:`fault_armed`); nothing is recorded
    and no gate asked while the hook is not installed, as on the stubber path.
    """
    if not PATCH.applied:
        return None
    with _LOCK:
        CALLS.append(call)
        for fault in _FAULTS:
            if fault.matches(call):
                fault.seen += 1
        observers = list(_OBSERVERS)
    for observer in observers:
        observer(call)
    return _gate_refusal(call)


def service_refusal(call: Call) -> str | None:
    """The error code a gate refuses a call with that a service makes on the account's behalf (an IoT rule's or an
    EventBridge target's StartExecution), or None. Such a call is not an SDK call, so it is not recorded here, but
    it counts against the account's quota for that API like one (a throttle applies to it)."""
    return _gate_refusal(call)


def _gate_refusal(call: Call) -> str | None:
    for gate in list(_GATES):
        code = gate.decide(call)
        if code is not None:
            return code
    return None


def error_parts(call: Call, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of the service's modelled error ``code``, as AWS answers it (JSON protocols)."""
    model = service_model(_CLIENT_NAMES.get(call.service, call.service))
    if model.protocol not in ("json", "rest-json"):
        raise ValueError(f"fault injection supports JSON protocols only, not {model.protocol} ({call.service})")
    status = 400
    for shape in model.error_shapes:  # pyright: ignore[reportGeneralTypeIssues]  # botocore's CachedProperty is untyped
        if shape.name == code:
            status = shape.metadata.get("error", {}).get("httpStatusCode", 400)
    body = json.dumps({"__type": code, "message": message}).encode("utf-8")
    headers = {"x-amzn-ErrorType": code, "content-type": "application/json", "x-amzn-requestid": "injected"}
    return status, headers, body


def inject(service: str, operation: str, *, error_code: str | None = None, region: str | None = None, nth: int = 1,
           times: int = 1, message: str | None = None, before: Callable[[], Any] | None = None) -> Fault:
    """Arm a fault on ``service:operation`` (e.g. ``"iot", "AttachPolicy"``); returns it (``fired`` counts hits)."""
    if error_code is None and before is None:
        raise ValueError("inject() needs error_code (e.g. 'ThrottlingException') or before (a callable)")
    if nth < 1 or times < 1:
        raise ValueError("nth and times count from 1")
    fault = Fault(canonical_service(service), operation, region, nth, times, error_code,
                  message or f"Injected {error_code} for {service}:{operation}", before)
    with _LOCK:
        _FAULTS.append(fault)
    return fault


def clear() -> None:
    """Forget recorded calls and armed faults (observers stay)."""
    with _LOCK:
        CALLS.clear()
        _FAULTS.clear()


def calls(service: str | None = None, operation: str | None = None, region: str | None = None) -> list[Call]:
    """Recorded calls, filtered."""
    wanted = canonical_service(service) if service else None
    return [c for c in CALLS if (wanted is None or c.service == wanted) and (operation is None or c.operation == operation)
            and (region is None or c.region == region)]


def _region_of(request: Any) -> str:
    authorization = request.headers.get("Authorization", b"")
    if isinstance(authorization, bytes):
        authorization = authorization.decode("utf-8", "replace")
    found = _CREDENTIAL_REGION.search(authorization or "") or _HOST_REGION.search(request.url)
    return found.group(1) if found else "unknown"


def _error_response(call: Call, fault: Fault, request: Any) -> Any:
    from botocore.awsrequest import AWSResponse

    from localcloud.compat.moto.core import MockRawResponse

    status, headers, body = error_parts(call, fault.error_code, fault.message)
    return AWSResponse(request.url, status, headers, MockRawResponse(body))


def install() -> None:
    """Hook the hub into moto's stubber (idempotent): every call it answers is recorded, gated, maybe failed."""
    from localcloud.compat.moto.core import BotocoreStubber

    if PATCH.applied:
        return
    original = BotocoreStubber.__call__

    def __call__(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        if not self.enabled:
            return original(self, event_name, request, **kwargs)
        parts = event_name.split(".")
        call = Call(parts[1] if len(parts) > 1 else "unknown", parts[2] if len(parts) > 2 else "unknown", _region_of(request))
        triggered: list[Fault] = []
        with _LOCK:
            CALLS.append(call)
            for fault in _FAULTS:
                if fault.matches(call):
                    fault.seen += 1
                    if fault.nth <= fault.seen < fault.nth + fault.times:
                        fault.fired += 1
                        triggered.append(fault)
            observers = list(_OBSERVERS)
        for observer in observers:
            observer(call)
        for fault in triggered:
            if fault.before is not None:
                fault.before()
            if fault.error_code is not None:
                return _error_response(call, fault, request)
        code = _gate_refusal(call)
        if code is not None:
            refusal = Fault(call.service, call.operation, call.region, error_code=code, message=GATE_MESSAGE)
            return _error_response(call, refusal, request)
        return original(self, event_name, request, **kwargs)

    PATCH.set(BotocoreStubber, "__call__", __call__)


def uninstall() -> None:
    """Take the hook out of moto's stubber (recorded calls, faults, gates and observers stay)."""
    PATCH.undo()


def installed() -> bool:
    return PATCH.applied
