"""The local cloud's one patch mechanism: every fix, speed-up and run-time hook changes moto, botocore or boto3 here.

Modelled on LocalStack's ``localstack/utils/patch.py``. A :class:`Patch` is one named change (a fix in
``localcloud.fixes``, a speed-up in ``localcloud.speedups``, the interception hook, the storm's simulated time, the
cross-region meter). It makes its changes through :meth:`Patch.set` (replace an attribute of a class or module),
:meth:`Patch.extend` (add members to a list) and :meth:`Patch.on_undo` (anything else to undo), records each, and
:meth:`Patch.undo` reverts them newest first. ``applied_patches()`` lists the patches in effect, in the order they
were applied, so what is patched right now is known in one place.

Before its first change a patch checks the installed moto against the version the local cloud was written for
(``localcloud.compat.moto.require_written_for``) and refuses another one with :class:`MotoVersionMismatch`.

Undo restores an attribute only while it still holds what this patch put there. When a later patch has since
replaced it (patches undone out of order), that patch's record takes over this one's original, so undoing it later
restores what was there before either; a value put there by anything else stays.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from localcloud.compat.moto import MotoVersionMismatch, require_written_for

__all__ = ["MotoVersionMismatch", "Patch", "applied_patches"]

_MISSING: Any = object()
_LOCK = threading.RLock()
_APPLIED: list[Patch] = []


@dataclass
class _Attribute:
    owner: Any
    name: str
    original: Any  # the owner's own entry (a descriptor as stored, not as looked up), or _MISSING
    value: Any


@dataclass
class _Members:
    into: list[Any]
    items: list[Any]


@dataclass
class _Step:
    undo: Callable[[], Any]


def _own(owner: Any, name: str) -> Any:
    """``owner``'s own entry for ``name`` (its ``__dict__``), or _MISSING when it only inherits it."""
    if hasattr(owner, "__dict__"):
        return owner.__dict__.get(name, _MISSING)
    return getattr(owner, name, _MISSING)


class Patch:
    """One named change to moto, botocore or boto3, recorded so that :meth:`undo` reverts it exactly."""

    def __init__(self, name: str, kind: str = "fix") -> None:
        self.name = name
        self.kind = kind  # fix, speed-up, interception, storm, observe
        self._records: list[_Attribute | _Members | _Step] = []

    def __repr__(self) -> str:
        return f"Patch({self.name!r}, kind={self.kind!r}, changes={len(self._records)})"

    @property
    def applied(self) -> bool:
        """Whether any change of this patch is in effect."""
        return bool(self._records)

    def _record(self, record: _Attribute | _Members | _Step) -> None:
        if not self._records:
            require_written_for()
            _APPLIED.append(self)
        self._records.append(record)

    def set(self, owner: Any, name: str, value: Any) -> Any:
        """Replace ``owner.name`` (a class or module attribute) with ``value``; returns what it was (as looked up)."""
        with _LOCK:
            before = getattr(owner, name, None)
            record = _Attribute(owner, name, _own(owner, name), value)
            self._record(record)
            setattr(owner, name, value)
            return before

    def extend(self, into: list[Any], items: Iterable[Any]) -> None:
        """Append ``items`` to the list ``into``; undo removes them again."""
        with _LOCK:
            added = list(items)
            self._record(_Members(into, added))
            into.extend(added)

    def on_undo(self, step: Callable[[], Any]) -> None:
        """Run ``step`` when this patch is undone (in reverse order with its other changes)."""
        with _LOCK:
            self._record(_Step(step))

    def undo(self) -> None:
        """Revert every change of this patch, newest first (idempotent)."""
        with _LOCK:
            while self._records:
                record = self._records.pop()
                if isinstance(record, _Attribute):
                    _restore(record, self)
                elif isinstance(record, _Members):
                    for item in record.items:
                        if item in record.into:
                            record.into.remove(item)
                else:
                    record.undo()
            if self in _APPLIED:
                _APPLIED.remove(self)


def _restore(record: _Attribute, patch: Patch) -> None:
    current = _own(record.owner, record.name)
    if current is record.value:
        if record.original is _MISSING:
            delattr(record.owner, record.name)
        else:
            setattr(record.owner, record.name, record.original)
        return
    for later in _APPLIED:  # a later patch replaced it: its undo restores our original
        if later is patch:
            continue
        for other in later._records:
            if isinstance(other, _Attribute) and other.owner is record.owner and other.name == record.name \
                    and other.original is record.value:
                other.original = record.original
                return


def applied_patches() -> list[Patch]:
    """The patches in effect, in the order they were applied."""
    with _LOCK:
        return list(_APPLIED)
