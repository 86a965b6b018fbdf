"""moto as the local cloud was written for it: the pinned version, and every moto internal the local cloud uses.

One module per moto service holds the imports (``core``, ``iot``, ``stepfunctions`` and its interpreter
``stepfunctions_parser``, ``dynamodb``, ``iam``, ``events`` with pipes, ``services`` for the rest); nothing else in
``localcloud`` imports ``moto`` (``tests/localcloud/test_patching.py`` checks), and modules the speed-ups name in
tables are imported by :func:`internal_module`. Importing this package
imports no moto module (the commands that never start moto stay fast); importing one of its modules imports that
service's moto modules.

``WRITTEN_FOR`` is the moto version the fixes and speed-ups were written and checked against; ``INSTALLED`` the one
this process has (the installed distribution's metadata). :func:`require_written_for` refuses any other, and
``localcloud.patching`` calls it before a fix or speed-up changes anything: a patch written against one moto's
internals can silently do the wrong thing in another. The fix is to install the pinned version
(``pip install moto==5.2.5``, as ``pyproject.toml``'s ``localcloud`` group pins it); to move to a new moto, re-check
every fix and speed-up against it (``tests/statemachines/test_patches.py``, ``tests/localcloud/engines``) and then
change ``WRITTEN_FOR``.
"""
from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

#: The moto version every fix, speed-up and engine here was written for.
WRITTEN_FOR = "5.2.5"


def _installed() -> str | None:
    try:
        return importlib.metadata.version("moto")
    except importlib.metadata.PackageNotFoundError:
        return None


#: The moto version installed in this environment (None: moto is not installed).
INSTALLED: str | None = _installed()


class MotoVersionMismatch(RuntimeError):
    """The installed moto is not the one the local cloud was written for."""


def mismatch() -> str | None:
    """Why the installed moto will not do (installed vs. expected version, and the fix), or None when it is the one."""
    if INSTALLED == WRITTEN_FOR:
        return None
    found = f"moto {INSTALLED} is installed" if INSTALLED else "moto is not installed"
    return (f"the local cloud patches moto {WRITTEN_FOR} and refuses another: {found}. "
            f"Install the pinned version: pip install moto=={WRITTEN_FOR}")


def require_written_for() -> None:
    """Raise :class:`MotoVersionMismatch` unless the installed moto is :data:`WRITTEN_FOR`."""
    problem = mismatch()
    if problem is not None:
        raise MotoVersionMismatch(problem)


@contextmanager
def internals() -> Iterator[None]:
    """Around imports of moto internals: a name missing from another moto version is reported as that mismatch."""
    try:
        yield
    except ImportError as error:
        problem = mismatch()
        if problem is not None:
            raise MotoVersionMismatch(f"{problem} ({error})") from error
        raise


def internal_module(name: str) -> ModuleType:
    """moto's module ``name`` (``moto.…``), for the speed-ups that patch modules they list by name."""
    if not name.startswith("moto."):
        raise ValueError(f"{name!r} is not a moto module; localcloud.compat.moto only imports moto's")
    with internals():
        return importlib.import_module(name)
