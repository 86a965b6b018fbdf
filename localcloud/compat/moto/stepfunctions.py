"""moto's Step Functions service: state machines, their backend, the exceptions (the interpreter that runs the
executions is ``stepfunctions_parser``, a far heavier import)."""
from __future__ import annotations

from . import internals

with internals():
    from moto.stepfunctions.exceptions import ExecutionAlreadyExists
    from moto.stepfunctions.models import StateMachine
    from moto.stepfunctions.responses import get_backend as sfn_backend

__all__ = ["ExecutionAlreadyExists", "StateMachine", "sfn_backend"]
