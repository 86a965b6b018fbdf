"""Constant-time execution-name checks in moto's Step Functions (10,000 devices, 20,000 runs).

``StartExecution`` asks ``StateMachine._handle_name_input_idempotency`` whether an execution
of that name exists, and moto 5.2.5 answers by scanning every execution the machine ever
ran: a run of N devices costs O(N²) there (5.3 s of a 34 s run at 4,000 devices). ``install()``
answers from a per-machine name index that is brought up to date incrementally (executions
are only ever appended; anything else rebuilds it) with moto's exact semantics: the first
execution of that name is returned when it is RUNNING with the same input, otherwise
``ExecutionAlreadyExists``.
"""

from __future__ import annotations

from typing import Any

from localcloud.compat.moto.stepfunctions import ExecutionAlreadyExists, StateMachine
from localcloud.patching import Patch

PATCH = Patch("sfn_index", kind="speed-up")
# Kept outside the machine: moto deep-copies a machine on every start (skipping only its
# ``executions`` list), and executions hold threads and locks that cannot be copied.
# Keyed by the id of the machine's executions list, which the entry keeps alive.
_INDEXES: dict[int, tuple[list[Any], dict[str, Any], int, Any]] = {}


def _index(machine: Any) -> dict[str, Any]:
    executions = machine.executions
    entry = _INDEXES.get(id(executions))
    state = entry[1:] if entry is not None and entry[0] is executions else None
    index: dict[str, Any] = {}
    count = 0
    if state is not None:
        cached, cached_count, last = state
        # Reused while the history only grew; otherwise rebuilt.
        if not (cached_count > len(executions) or (cached_count and executions[cached_count - 1] is not last)):
            index, count = cached, cached_count
    for execution in executions[count:]:
        index.setdefault(execution.name, execution)
    _INDEXES[id(executions)] = (executions, index, len(executions), executions[-1] if executions else None)
    return index


def _handle_name_input_idempotency(self: Any, name: str, execution_input: str) -> Any:
    execution = _index(self).get(name)
    if execution is None:
        return None
    if execution_input == execution.execution_input and execution.status == "RUNNING":
        return execution
    raise ExecutionAlreadyExists("Execution Already Exists: '" + execution.execution_arn + "'")


def install() -> None:
    if not PATCH.applied:
        PATCH.on_undo(_INDEXES.clear)
        PATCH.set(StateMachine, "_handle_name_input_idempotency", _handle_name_input_idempotency)


def uninstall() -> None:
    PATCH.undo()


def installed() -> bool:
    return PATCH.applied
