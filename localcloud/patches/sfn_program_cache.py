"""Speed-up (not a fidelity fix): executions of the same definition share one parsed program.

moto parses the definition with its ANTLR grammar for every execution (~0.2 s for the JITR machine, most of an
execution's cost). moto's evaluation components keep per-execution state in the execution's ``Environment``
(``env.heap``/``env.stack``), not in themselves, so the parsed program can be reused. Disable with
``SETTINGS.cache_programs = False`` (env ``LOCALCLOUD_SFN_PROGRAM_CACHE=0``) if a construct ever proves stateful.
"""
from __future__ import annotations

import threading
from typing import Any

from ._patching import Ledger
from .settings import SETTINGS

NAME = "sfn_program_cache"
LEDGER = Ledger(NAME)
_PROGRAMS: dict[str, Any] = {}
_LOCK = threading.Lock()


def apply() -> None:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original = ExecutionWorker._get_evaluation_entrypoint

    def _get_evaluation_entrypoint(self: Any) -> Any:
        if not SETTINGS.cache_programs:
            return original(self)
        definition = self._evaluation_details.state_machine_details.definition
        with _LOCK:
            program = _PROGRAMS.get(definition)
        if program is None:
            program = original(self)
            with _LOCK:
                _PROGRAMS[definition] = program
        return program

    LEDGER.set(ExecutionWorker, "_get_evaluation_entrypoint", _get_evaluation_entrypoint)


def revert() -> None:
    LEDGER.revert()
