"""Fix: an execution started without a name gets a unique one (a UUID), as in AWS.

moto 5.2.5 passes ``name=None`` through, so every unnamed execution's ARN ends in ``:None`` and the second
unnamed execution of a state machine is taken for an idempotent replay of the first.
"""
from __future__ import annotations

import uuid
from typing import Any

from ..patching import Patch

NAME = "sfn_execution_names"
PATCH = Patch(NAME)


def apply() -> None:
    from ..compat.moto.stepfunctions_parser import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    PATCH.set(StepFunctionsParserBackend, "start_execution", start_execution)


def revert() -> None:
    PATCH.undo()
