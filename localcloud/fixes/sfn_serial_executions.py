"""Fix: executions never run concurrently inside moto.

moto's backends are plain dicts; two executions in worker threads race ("dictionary changed size during
iteration") and interleave non-deterministically. With ``SETTINGS.synchronous_executions`` (default) an execution
runs to completion inside ``StartExecution``; otherwise it runs in a thread holding one process-wide lock.

An execution may start another one from inside a task (tests do, to interleave two regions deterministically).
moto evaluates each state in its own thread, so that nested start comes from a different thread than the one
holding the lock: in synchronous mode a start issued from inside a running execution's evaluation runs nested,
without taking the lock again (the outer execution is blocked waiting for that very task, so nothing races).
"""
from __future__ import annotations

import sys
import threading

from ..patching import Patch
from .settings import SETTINGS

NAME = "sfn_serial_executions"
PATCH = Patch(NAME)
EXECUTION_LOCK = threading.RLock()


def inside_an_execution() -> bool:
    """True when the calling thread is evaluating a state of a moto execution."""
    from ..compat.moto.stepfunctions_parser import PARSER_PATH

    frame = sys._getframe(1)
    while frame is not None:
        if PARSER_PATH in frame.f_code.co_filename.replace("\\", "/"):
            return True
        frame = frame.f_back
    return False


def _start(self) -> None:
    def run() -> None:
        with EXECUTION_LOCK:
            self._execution_logic()

    if SETTINGS.synchronous_executions:
        if inside_an_execution():
            self._execution_logic()
        else:
            run()
    else:
        from ..compat.moto.stepfunctions_parser import TMP_THREADS

        thread = threading.Thread(target=run, daemon=True)
        TMP_THREADS.append(thread)
        thread.start()


def apply() -> None:
    from ..compat.moto.stepfunctions_parser import ExecutionWorker

    PATCH.set(ExecutionWorker, "start", _start)


def revert() -> None:
    PATCH.undo()
