"""``up --serve`` in a process of its own, for the tests that drive the local cloud as a user would."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
READY = "Serving until Ctrl-C"


class Serving:
    """``up --serve`` (with ``options`` before the ports) in a process of its own; its stdout read line by line."""

    def __init__(self, state: Path, *options: str, env: dict[str, str] | None = None) -> None:
        self.state = state
        self.process = subprocess.Popen(
            [sys.executable, "-m", "localcloud", "--state-dir", str(state), "up", "--serve", *options,
             "--ports", "eu-west-1=0", "us-west-2=0", "--resolver-port", "0", "--aws-port", "0"],
            cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.banner: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_ready(self, timeout_s: float = 240) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while not self.banner or not self.banner[-1].startswith(READY):
            try:
                self.banner.append(self.lines.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"not serving within {timeout_s} s: {self.banner}; "
                                     f"stderr: {self._stderr()}") from None
        return self.banner

    def _stderr(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        assert self.process.stderr is not None
        return self.process.stderr.read()[-3000:]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Ctrl-C, as the banner says
            try:
                return self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
                raise AssertionError("up --serve did not stop on Ctrl-C within 60 s") from None
        return self.process.returncode
