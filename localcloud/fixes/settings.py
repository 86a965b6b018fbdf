"""Run-time knobs of the moto fixes, read by the fixes at call time (so tests can change them).

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


def _env_number(name: str, default: float, parse: type, example: str) -> float:
    """``parse(os.environ[name])`` when set and non-empty, else ``default``; refuses what is not a number >= 0."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = parse(raw)
    except ValueError as error:
        kind = "whole number" if parse is int else "number"
        raise ValueError(f"{name}={raw!r} is not a {kind}; set it to e.g. {example} or unset it") from error
    if value < 0:
        raise ValueError(f"{name}={raw!r} must be >= 0")
    return value


def _env_float(name: str, default: float) -> float:
    return float(_env_number(name, default, float, "0.01"))


def _env_count(name: str, default: int) -> int:
    return int(_env_number(name, default, int, "3 (0 = synchronous)"))


DEFAULT_DETACH_DELAY_CALLS = 3


@dataclass
class Settings:
    retry_time_scale: float = 1.0
    synchronous_executions: bool = True
    detach_delay_calls: int = DEFAULT_DETACH_DELAY_CALLS

    @classmethod
    def from_environment(cls) -> Settings:
        return cls(
            retry_time_scale=_env_float("LOCALCLOUD_RETRY_TIME_SCALE", 1.0),
            synchronous_executions=os.environ.get("LOCALCLOUD_SYNCHRONOUS_EXECUTIONS", "1") not in ("0", "false", "no"),
            detach_delay_calls=_env_count("LOCALCLOUD_DETACH_DELAY_CALLS", DEFAULT_DETACH_DELAY_CALLS),
        )


SETTINGS = Settings.from_environment()
