"""The local cloud's one patch mechanism and its one door to moto's internals (localcloud.patching, localcloud.compat)."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest

from localcloud import patching
from localcloud.compat import moto as compat_moto
from localcloud.patching import MotoVersionMismatch, Patch

LOCALCLOUD = Path(__file__).resolve().parents[2] / "localcloud"
MOTO_IMPORT = re.compile(r"^\s*(from moto[. ]|import moto\b)", re.MULTILINE)


class Owner:
    def method(self) -> str:
        return "original"


class Child(Owner):
    pass


def test_a_patch_records_what_it_replaced_and_undo_restores_it_exactly() -> None:
    module = types.ModuleType("m")
    module.items = []
    patch = Patch("example", kind="test")
    assert not patch.applied
    original = patch.set(Owner, "method", lambda self: "patched")
    patch.set(Child, "method", lambda self: "child")  # inherited: undo deletes it again
    patch.extend(module.items, ["x"])
    undone: list[str] = []
    patch.on_undo(lambda: undone.append("step"))
    assert original(Owner()) == "original"
    assert patch.applied and patch in patching.applied_patches()
    assert Owner().method() == "patched" and Child().method() == "child" and module.items == ["x"]
    patch.undo()
    assert not patch.applied and patch not in patching.applied_patches()
    assert Owner().method() == "original" and "method" not in Child.__dict__
    assert module.items == [] and undone == ["step"]
    patch.undo()  # idempotent


def test_patches_undone_out_of_order_leave_the_original_behind() -> None:
    first, second = Patch("first", kind="test"), Patch("second", kind="test")
    first.set(Owner, "method", lambda self: "first")
    second.set(Owner, "method", lambda self: "second")
    first.undo()  # the later patch still holds the attribute: it takes over first's original
    assert Owner().method() == "second"
    second.undo()
    assert Owner().method() == "original"


def test_a_value_put_there_outside_the_mechanism_stays() -> None:
    class Elsewhere(Owner):
        def method(self) -> str:
            return "own"

    patch = Patch("example", kind="test")
    patch.set(Elsewhere, "method", lambda self: "patched")
    Elsewhere.method = lambda self: "replaced by hand"
    patch.undo()
    assert Elsewhere().method() == "replaced by hand"


def test_another_moto_version_is_refused_before_anything_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compat_moto, "INSTALLED", "5.3.0")
    patch = Patch("example", kind="test")
    with pytest.raises(MotoVersionMismatch) as refused:
        patch.set(Owner, "method", lambda self: "patched")
    message = str(refused.value)
    assert "moto 5.3.0 is installed" in message and "moto 5.2.5" in message
    assert "pip install moto==5.2.5" in message
    assert Owner().method() == "original" and not patch.applied


def test_the_installed_moto_is_the_one_the_local_cloud_was_written_for() -> None:
    assert compat_moto.WRITTEN_FOR == "5.2.5"
    assert compat_moto.INSTALLED == compat_moto.WRITTEN_FOR, compat_moto.mismatch()


def test_only_the_compatibility_package_imports_moto() -> None:
    importers = sorted(str(path.relative_to(LOCALCLOUD)) for path in LOCALCLOUD.rglob("*.py")
                       if "compat" not in path.relative_to(LOCALCLOUD).parts
                       and MOTO_IMPORT.search(path.read_text(encoding="utf-8")))
    assert importers == [], f"import moto's internals through localcloud.compat.moto, not in {importers}"


def test_services_reach_neither_the_fixes_nor_mockrun() -> None:
    offenders = sorted(str(path.relative_to(LOCALCLOUD)) for path in (LOCALCLOUD / "services").rglob("*.py")
                       if re.search(r"^\s*from (localcloud|\.\.+)\.?(fixes|mockrun)\b|^\s*from \.\.+ import (fixes|mockrun)\b",
                                    path.read_text(encoding="utf-8"), re.MULTILINE))
    assert offenders == []
