"""Lambda code is packaged with manylinux wheels for the function's architecture, and cached."""

import struct
import subprocess
from pathlib import Path

import pytest

from components import lambda_package
from components.lambda_package import PackagingError, build_code_dir

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
CACHE = ROOT / ".build" / "lambda"  # shared with `pulumi up`, so the suite downloads at most once
EM_AARCH64, EM_X86_64 = 0xB7, 0x3E


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    return struct.unpack("<H", header[18:20])[0]


@pytest.fixture(scope="module")
def arm64_code() -> Path:
    return build_code_dir(FUNCTIONS, FUNCTIONS / "requirements.txt", "arm64", CACHE)


def test_package_holds_handlers_and_arm64_cryptography(arm64_code):
    assert (arm64_code / "certificate_inspector" / "handler.py").is_file()
    (rust,) = arm64_code.glob("cryptography/hazmat/bindings/_rust*.so")
    assert elf_machine(rust) == EM_AARCH64
    assert not list(arm64_code.rglob("__pycache__"))


def test_repeat_build_reuses_the_cache_without_running_pip(arm64_code, monkeypatch):
    def no_pip(*args, **kwargs):
        raise AssertionError("pip ran although nothing changed")

    monkeypatch.setattr(subprocess, "run", no_pip)
    assert build_code_dir(FUNCTIONS, FUNCTIONS / "requirements.txt", "arm64", CACHE) == arm64_code


def test_changed_handler_source_gets_a_new_folder(tmp_path, arm64_code):
    src = tmp_path / "functions"
    src.mkdir()
    (src / "requirements.txt").write_text((FUNCTIONS / "requirements.txt").read_text())
    (src / "f.py").write_text("x = 1\n")
    first = build_code_dir(src, src / "requirements.txt", "arm64", CACHE)
    (src / "f.py").write_text("x = 2\n")
    second = build_code_dir(src, src / "requirements.txt", "arm64", CACHE)
    assert first != second and (second / "f.py").read_text() == "x = 2\n"


def test_unknown_architecture_is_refused(tmp_path):
    (tmp_path / "requirements.txt").write_text("")
    with pytest.raises(PackagingError, match="unknown Lambda architecture 'sparc'; use arm64 or x86_64"):
        lambda_package.dependencies_dir(tmp_path / "requirements.txt", "sparc", tmp_path / "cache")


def test_unfetchable_dependency_fails_clearly_and_leaves_no_half_folder(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("this-package-does-not-exist-iotmr==0.0.1\n")
    with pytest.raises(PackagingError, match="could not fetch Lambda dependencies"):
        lambda_package.dependencies_dir(req, "arm64", tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []
