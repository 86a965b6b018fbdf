"""One door into the in-process cloud for the MQTT endpoints' thread and everybody else.

moto's backends and the engines are plain Python objects without locks, so every call into them is
serialised: the endpoints' event loop hands each engine call to one worker thread that holds
:attr:`EngineGate.lock` while it runs (the loop itself never blocks on it, so slow settling in another
thread delays a CONNACK but freezes no socket); code in any other thread (tests, ``up --serve``'s settler,
the demo) takes the same lock with ``with gate:`` around its own calls into the cloud. Never wait for the
endpoints' loop while holding the lock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class EngineGate:
    """A re-entrant lock plus one worker thread that runs engine calls for the event loop."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="localcloud-engine")

    def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` holding the lock (from any thread but the event loop's)."""
        with self.lock:
            return function(*args)

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """From the event loop: run ``function(*args)`` on the worker thread holding the lock."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.run, function, *args)

    def __enter__(self) -> EngineGate:
        self.lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock.release()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
