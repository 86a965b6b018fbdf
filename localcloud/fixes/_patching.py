"""A tiny attribute-patch ledger so every moto fix can be applied and reverted by name."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_MISSING = object()


@dataclass
class Ledger:
    """Remembers original attributes replaced by one named fix, so ``revert`` restores them exactly."""

    name: str
    _originals: list[tuple[Any, str, Any]] = field(default_factory=list)

    @property
    def applied(self) -> bool:
        return bool(self._originals)

    def set(self, owner: Any, attribute: str, value: Any) -> None:
        """Replace ``owner.attribute`` with ``value`` and remember the original (or its absence)."""
        original = owner.__dict__.get(attribute, _MISSING) if hasattr(owner, "__dict__") else getattr(owner, attribute, _MISSING)
        self._originals.append((owner, attribute, original))
        setattr(owner, attribute, value)

    def revert(self) -> None:
        """Restore every replaced attribute in reverse order."""
        while self._originals:
            owner, attribute, original = self._originals.pop()
            if original is _MISSING:
                delattr(owner, attribute)
            else:
                setattr(owner, attribute, original)
