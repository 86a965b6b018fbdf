"""Fix: Lambda ``Invoke`` runs the real handler from ``functions/`` in-process (moto needs Docker for this).

Register which Python callable serves a function name with :func:`register`; an invocation then runs it with the
function's environment variables, ``AWS_REGION``/``AWS_DEFAULT_REGION`` of the function's region (so a bare
``boto3.client("iot")`` in the handler talks to its own region's moto backend), a minimal context object, and the
Lambda error contract: an exception becomes ``FunctionError: Unhandled`` with payload
``{"errorType": <class name>, "errorMessage": ..., "stackTrace": [...]}`` which Step Functions turns into the
error name. Unregistered functions fall back to moto's own (Docker) behaviour.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import threading
import traceback
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from ._patching import Ledger

NAME = "lambda_inprocess"
LEDGER = Ledger(NAME)

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


def run_handler(function: Any, event: Any) -> tuple[bytes, str | None]:
    """Run the registered handler of ``function`` (a moto LambdaFunction); returns (payload, error_type)."""
    handler = _resolve(_HANDLERS[function.function_name])
    variables = {
        **{str(k): str(v) for k, v in (function.environment_vars or {}).items()},
        "AWS_REGION": function.region,
        "AWS_DEFAULT_REGION": function.region,
        "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
    }
    with _ENV_LOCK:
        saved = {key: os.environ.get(key) for key in variables}
        os.environ.update(variables)
        output = io.StringIO()
        try:
            with contextlib.redirect_stdout(output):  # a Lambda's stdout is its log stream, not our console
                result = handler(event, _Context(function))
            payload, error_type = json.dumps(result).encode("utf-8"), None
        except Exception as error:  # the Lambda runtime reports any exception as an Unhandled function error
            error_type = type(error).__name__
            payload = json.dumps(
                {"errorMessage": str(error), "errorType": error_type, "stackTrace": traceback.format_tb(error.__traceback__)}
            ).encode("utf-8")
        finally:
            LOGS.setdefault(function.function_name, []).extend(output.getvalue().splitlines())
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    INVOCATIONS.append(Invocation(function.function_name, function.region, error_type))
    return payload, error_type


def apply() -> None:
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction.invoke

    def invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> str | bytes:
        if self.function_name not in _HANDLERS:
            return original(self, body, request_headers, response_headers)
        event = json.loads(body) if body else {}
        payload, error_type = run_handler(self, event)
        if error_type is not None:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    LEDGER.set(LambdaFunction, "invoke", invoke)


def revert() -> None:
    LEDGER.revert()
