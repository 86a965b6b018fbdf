"""Fix ``aws_calls``: the interception hub (``localcloud.interception``) hooked into moto's stubber.

Not a moto gap but the hook tests need: every call recorded, faults injected, gates and observers asked. It is
applied and reverted with the fixes under this name; the hub itself is :mod:`localcloud.interception`, where
services, speed-ups, the storm, ``observe``, the tests and the scripts find it (``aws_calls.inject(...)`` there).
"""
from __future__ import annotations

from ..interception import PATCH, install, uninstall

NAME = "aws_calls"

__all__ = ["NAME", "PATCH", "apply", "revert"]


def apply() -> None:
    install()


def revert() -> None:
    uninstall()
