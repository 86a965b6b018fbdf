"""A Step Functions definition already validated is not parsed again on create/update.

moto parses a definition with its ANTLR grammar (~0.2 s for the JITR machine) to validate it at
``CreateStateMachine`` and again for every execution. Validation has no side effect, so remembering the
definitions (exact text) that passed is safe; executions still parse their own copy.
"""
from __future__ import annotations

from localcloud.fixes._patching import Ledger

LEDGER = Ledger("sfn_definition_cache")
_VALID: set[str] = set()


def install() -> None:
    if LEDGER.applied:
        return
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.__dict__["_validate_definition"].__func__

    def _validate_definition(definition: str) -> None:
        if definition in _VALID:
            return
        original(definition)
        _VALID.add(definition)

    LEDGER.set(StepFunctionsParserBackend, "_validate_definition", staticmethod(_validate_definition))


def uninstall() -> None:
    LEDGER.revert()


def installed() -> bool:
    return LEDGER.applied
