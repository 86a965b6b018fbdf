"""The activation life cycle every hooking engine shares.

An engine hooks moto classes while it is active, and the hooks reach the one active engine of
that kind through ``<EngineClass>.active``. A second engine of the same kind cannot be active at
the same time.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

E = TypeVar("E", bound="ExclusiveEngine")


class ExclusiveEngine:
    active: ClassVar[ExclusiveEngine | None] = None
    conflict_error: ClassVar[type[Exception]] = RuntimeError

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.active = None  # one slot per engine kind

    def _install(self) -> None:
        """Install this engine's hooks into moto (idempotent)."""

    def activate(self: E) -> E:
        kind = type(self)
        if kind.active is not None and kind.active is not self:
            raise kind.conflict_error(f"another {kind.__name__} engine is active; deactivate it first")
        self._install()
        kind.active = self
        return self

    def deactivate(self) -> None:
        if type(self).active is self:
            type(self).active = None

    def __enter__(self: E) -> E:
        return self.activate()

    def __exit__(self, *exc: object) -> None:
        self.deactivate()
