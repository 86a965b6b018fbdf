"""Run-time knobs of the moto fixes, read by the patches at call time (so tests can change them).

- ``retry_time_scale``: factor applied to every Step Functions ``Retry`` interval. AWS waits the real
  interval (1.0); tests set a small factor so retry paths run in milliseconds. Environment:
  ``LOCALCLOUD_RETRY_TIME_SCALE``.
- ``synchronous_executions``: when true, ``StartExecution`` runs the whole execution before it returns
  (deterministic tests, no thread races inside moto's dict backends); when false, executions run in
  moto's worker threads but one at a time (a process-wide lock). Environment:
  ``LOCALCLOUD_SYNCHRONOUS_EXECUTIONS`` (``1``/``0``).
- ``detach_delay_calls``: how many further IoT API calls in the same region still see a thing-principal
  attachment after ``DetachThingPrincipal`` returned (AWS: "asynchronous ... several seconds"; see
  ``iot_detach_propagation``). ``0`` makes the detach synchronous (moto's own behaviour). Environment:
  ``LOCALCLOUD_DETACH_DELAY_CALLS``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as error:
        raise ValueError(f"{name}={raw!r} is not a number; set it to e.g. 0.01 or unset it") from error
    if value < 0:
        raise ValueError(f"{name}={raw!r} must be >= 0")
    return value


def _env_count(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise ValueError(f"{name}={raw!r} is not a whole number; set it to e.g. 3 (0 = synchronous) or unset it") from error
    if value < 0:
        raise ValueError(f"{name}={raw!r} must be >= 0")
    return value


DEFAULT_DETACH_DELAY_CALLS = 3


@dataclass
class Settings:
    retry_time_scale: float = 1.0
    synchronous_executions: bool = True
    detach_delay_calls: int = DEFAULT_DETACH_DELAY_CALLS

    @classmethod
    def from_environment(cls) -> "Settings":
        return cls(
            retry_time_scale=_env_float("LOCALCLOUD_RETRY_TIME_SCALE", 1.0),
            synchronous_executions=os.environ.get("LOCALCLOUD_SYNCHRONOUS_EXECUTIONS", "1") not in ("0", "false", "no"),
            detach_delay_calls=_env_count("LOCALCLOUD_DETACH_DELAY_CALLS", DEFAULT_DETACH_DELAY_CALLS),
        )


SETTINGS = Settings.from_environment()
