"""AWS Lambda behaviour moto lacks without Docker: a function's handler from ``functions/`` runs in this process.

Register which Python callable serves a function name with :func:`register`; :func:`run_handler` then runs it with
the function's environment variables, ``AWS_REGION``/``AWS_DEFAULT_REGION`` of the function's region (so a bare
``boto3.client("iot")`` in the handler talks to its own region's moto backend), a minimal context object, and the
Lambda error contract: an exception becomes ``FunctionError: Unhandled`` with payload
``{"errorType": <class name>, "errorMessage": ..., "stackTrace": [...]}`` which Step Functions turns into the
error name. What the handler prints is its log stream (``LOGS``); every run is recorded (``INVOCATIONS``).

moto's ``Invoke`` reaches it through the fix ``localcloud.fixes.lambda_inprocess``; the engines' Lambda targets
(EventBridge, IoT rules) call :func:`run_handler` directly, as an asynchronous invocation.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Handler = Callable[[Any, Any], Any]
_HANDLERS: dict[str, Handler | str] = {}
_ENV_LOCK = threading.RLock()


@dataclass
class Invocation:
    """One in-process invocation, recorded for tests and benchmarks."""

    function_name: str
    region: str
    error_type: str | None


INVOCATIONS: list[Invocation] = []


def register(function_name: str, handler: Handler | str) -> None:
    """Serve ``function_name`` (name, not ARN) with ``handler``: a callable or ``"package.module:function"``."""
    if isinstance(handler, str) and ":" not in handler:
        raise ValueError(f"handler {handler!r} must look like 'functions.certificate_inspector.handler:handler'")
    _HANDLERS[function_name] = handler


def registered_handlers() -> list[str]:
    """The ``"package.module:function"`` handlers registered by name (callables are left out)."""
    return [handler for handler in _HANDLERS.values() if isinstance(handler, str)]


def serves(function_name: str) -> bool:
    """Whether a handler is registered for ``function_name``."""
    return function_name in _HANDLERS


def unregister_all() -> None:
    _HANDLERS.clear()


def _resolve(handler: Handler | str) -> Handler:
    if callable(handler):
        return handler
    module_name, attribute = handler.split(":", 1)
    return getattr(importlib.import_module(module_name), attribute)


class _Context:
    def __init__(self, function: Any) -> None:
        self.function_name = function.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function.function_arn
        self.memory_limit_in_mb = getattr(function, "memory_size", 128)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.function_name}"
        self.log_stream_name = self.aws_request_id
        self._timeout_ms = int(getattr(function, "timeout", 3)) * 1000

    def get_remaining_time_in_millis(self) -> int:
        return self._timeout_ms


#: What each function printed, by function name: its CloudWatch Logs stream in AWS.
LOGS: dict[str, list[str]] = {}


@dataclass(frozen=True)
class LogLine:
    """One line a function printed, with what CloudWatch Logs files it under: the function's region (function names
    repeat across regions) and the invocation's request id (its log stream), and when (milliseconds since the epoch)."""

    function_name: str
    region: str
    request_id: str
    timestamp_ms: int
    text: str


#: Every line every function printed, in order (``localcloud.local_metrics`` turns them into CloudWatch Logs events
#: and, for embedded-metric-format lines, into metrics, as CloudWatch does).
LOG_LINES: list[LogLine] = []


def run_handler(function: Any, event: Any) -> tuple[bytes, str | None]:
    """Run the registered handler of ``function`` (a moto LambdaFunction); returns (payload, error_type)."""
    handler = _resolve(_HANDLERS[function.function_name])
    variables = {
        **{str(k): str(v) for k, v in (function.environment_vars or {}).items()},
        "AWS_REGION": function.region,
        "AWS_DEFAULT_REGION": function.region,
        "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
    }
    context = _Context(function)
    with _ENV_LOCK:
        saved = {key: os.environ.get(key) for key in variables}
        os.environ.update(variables)
        output = io.StringIO()
        try:
            with contextlib.redirect_stdout(output):  # a Lambda's stdout is its log stream, not our console
                result = handler(event, context)
            payload, error_type = json.dumps(result).encode("utf-8"), None
        except Exception as error:  # noqa: BLE001 - the Lambda runtime reports any exception as an Unhandled error
            error_type = type(error).__name__
            payload = json.dumps(
                {"errorMessage": str(error), "errorType": error_type, "stackTrace": traceback.format_tb(error.__traceback__)}
            ).encode("utf-8")
        finally:
            printed = output.getvalue().splitlines()
            LOGS.setdefault(function.function_name, []).extend(printed)
            now_ms = int(time.time() * 1000)
            LOG_LINES.extend(LogLine(function.function_name, function.region, context.aws_request_id, now_ms, text)
                             for text in printed)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    INVOCATIONS.append(Invocation(function.function_name, function.region, error_type))
    return payload, error_type
