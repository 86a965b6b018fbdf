"""Fix: executions never run concurrently inside moto.

moto's backends are plain dicts; two executions in worker threads race ("dictionary changed size during
iteration") and interleave non-deterministically. With ``SETTINGS.synchronous_executions`` (default) an execution
runs to completion inside ``StartExecution``; otherwise it runs in a thread holding one process-wide lock.
The lock is re-entrant so an execution may start another one synchronously (used by tests to interleave).
"""
from __future__ import annotations

import threading

from ._patching import Ledger
from .settings import SETTINGS

NAME = "sfn_serial_executions"
LEDGER = Ledger(NAME)
EXECUTION_LOCK = threading.RLock()


def _start(self) -> None:
    def run() -> None:
        with EXECUTION_LOCK:
            self._execution_logic()

    if SETTINGS.synchronous_executions:
        run()
    else:
        from moto.stepfunctions.parser.utils import TMP_THREADS

        thread = threading.Thread(target=run, daemon=True)
        TMP_THREADS.append(thread)
        thread.start()


def apply() -> None:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    LEDGER.set(ExecutionWorker, "start", _start)


def revert() -> None:
    LEDGER.revert()
