"""A Step Functions definition already validated is not parsed again on create/update.

moto parses a definition with its ANTLR grammar (~0.2 s for the JITR machine) to validate it at
``CreateStateMachine`` and again for every execution. Validation has no side effect, so remembering the
definitions (exact text) that passed is safe; executions still parse their own copy.
"""
from __future__ import annotations

from localcloud.patching import Patch

PATCH = Patch("sfn_definition_cache", kind="speed-up")
_VALID: set[str] = set()


def install() -> None:
    if PATCH.applied:
        return
    from localcloud.compat.moto.stepfunctions_parser import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.__dict__["_validate_definition"].__func__

    def _validate_definition(definition: str) -> None:
        if definition in _VALID:
            return
        original(definition)
        _VALID.add(definition)

    PATCH.set(StepFunctionsParserBackend, "_validate_definition", staticmethod(_validate_definition))


def uninstall() -> None:
    PATCH.undo()


def installed() -> bool:
    return PATCH.applied
