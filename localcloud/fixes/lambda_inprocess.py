"""Fix: Lambda ``Invoke`` runs the real handler from ``functions/`` in-process (moto needs Docker for this).

The runtime (which handler serves which function, how it runs: environment, region, context, the Lambda error
contract) is ``localcloud.services.awslambda.inprocess``; this fix makes moto's ``LambdaFunction.invoke`` use it for
every function a handler is registered for (``FunctionError: Unhandled`` when the handler raised). Unregistered
functions fall back to moto's own (Docker) behaviour. Handlers are registered with the runtime
(``inprocess.register(...)``), by the deployer, the tests and the scripts.
"""
from __future__ import annotations

import json
from typing import Any

from ..patching import Patch
from ..services.awslambda.inprocess import run_handler, serves

NAME = "lambda_inprocess"
PATCH = Patch(NAME)

__all__ = ["NAME", "PATCH", "apply", "revert"]


def apply() -> None:
    from ..compat.moto.services import LambdaFunction

    original = LambdaFunction.invoke

    def invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> str | bytes:
        if not serves(self.function_name):
            return original(self, body, request_headers, response_headers)
        event = json.loads(body) if body else {}
        payload, error_type = run_handler(self, event)
        if error_type is not None:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    PATCH.set(LambdaFunction, "invoke", invoke)


def revert() -> None:
    PATCH.undo()
