"""Task states and whole programs run in the execution's own thread instead of new threads (moto Step Functions).

moto 5.2.5 evaluates every Task state (``ExecutionState._evaluate_with_timeout``) in a fresh daemon
thread and waits on an ``Event`` for it, only so that ``TimeoutSeconds`` can fire while the task is
still running. In the local cloud every task is an in-process call (moto backend, in-process Lambda)
that returns in milliseconds, and executions run one at a time (``fixes.sfn_serial_executions``):
the thread buys nothing but a thread start and two GIL hand-overs per state (~9 per device).

``install()`` evaluates a task inline, with moto's exact frame handling and ordering of outcomes and
errors, when the state has no ``TimeoutSeconds`` (moto's default is 99,999,999 s: it cannot fire). A
state that sets a timeout keeps moto's threaded evaluation, so ``States.Timeout`` and its history
(the late task's events never recorded) stay exactly moto's.

The same holds one level up: ``Program.eval`` runs the state machine's body in another daemon thread,
joined with the machine's top-level ``TimeoutSeconds`` (and appended to moto's ``TMP_THREADS`` list,
which keeps every such thread and the execution environment it references). Without a top-level
timeout the join waits for the end and cannot time out, so the body runs inline; the body catches
every ``Exception`` itself (the execution fails with ``States.Runtime``), as it does in the thread.
A machine with ``TimeoutSeconds`` keeps moto's thread. ``uninstall()`` restores moto.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from localcloud.patching import Patch

PATCH = Patch("sfn_inline_tasks", kind="speed-up")
_ORIGINAL: dict[str, Any] = {}  # moto's threaded evaluations ("evaluate", "program_eval"), while installed


def _evaluate_inline(self: Any, env: Any) -> None:
    from localcloud.compat.moto.stepfunctions_parser import EvalTimeoutError

    if not self.timeout.is_default_value():
        return _ORIGINAL["evaluate"](self, env)
    self.timeout.eval(env=env)
    timeout_seconds = env.stack.pop()

    frame = env.open_frame()
    frame.states.reset(input_value=env.states.get_input())
    frame.stack = copy.deepcopy(env.stack)
    execution_output: list[Any] = []
    execution_exception: Exception | None = None
    started = time.monotonic()
    try:
        self._eval_execution(frame)
        execution_output.extend(frame.stack)
    except Exception as error:  # noqa: BLE001 - moto's worker thread catches every Exception the same way
        execution_exception = error
    elapsed = time.monotonic() - started
    frame.set_ended()
    env.close_frame(frame)

    if execution_exception is not None:
        raise execution_exception
    if timeout_seconds is not None and elapsed > timeout_seconds:
        raise EvalTimeoutError()

    output = execution_output.pop()
    env.stack.append(output)

    if not self._is_language_query_jsonpath():
        env.states.set_result(output)
    if self.assign_decl:
        self.assign_decl.eval(env=env)
    if self.result_selector:
        self.result_selector.eval(env=env)
    if self.result_path:
        self.result_path.eval(env)
    else:
        result = env.stack.pop()
        env.states.reset(input_value=result)


def _program_eval_inline(self: Any, env: Any) -> None:
    from localcloud.compat.moto.stepfunctions_parser import EvalComponent

    if self.timeout_seconds:
        return _ORIGINAL["program_eval"](self, env)
    env.next_state_name = self.start_at.start_at_name
    EvalComponent.eval(self, env)  # what moto's worker thread runs (super().eval), here in this thread
    return None


def install() -> None:
    """Evaluate task states and programs inline (idempotent)."""
    from localcloud.compat.moto.stepfunctions_parser import ExecutionState, Program

    if PATCH.applied:
        return
    PATCH.on_undo(_ORIGINAL.clear)
    _ORIGINAL["evaluate"] = PATCH.set(ExecutionState, "_evaluate_with_timeout", _evaluate_inline)
    _ORIGINAL["program_eval"] = PATCH.set(Program, "eval", _program_eval_inline)


def uninstall() -> None:
    """Restore moto's thread-per-state and thread-per-program evaluation."""
    PATCH.undo()


def installed() -> bool:
    return PATCH.applied
