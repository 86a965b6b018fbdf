"""Lambda code is packaged with manylinux wheels for the function's architecture, and cached."""

import struct
import subprocess
from pathlib import Path

import pytest

from components import lambda_package
from components.lambda_package import PackagingError, build_code_dir
from tests.unit import lambda_layout

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


def test_package_ships_the_contract_beside_the_functions(arm64_code):
    """contract/ at the root, file for file, so ``from contract import names`` works in the Lambda as in the repo."""
    ours = {name for name, _ in lambda_package.code_files(FUNCTIONS)}
    contract = {Path("contract") / p.relative_to(ROOT / "contract") for p in (ROOT / "contract").rglob("*.py")
                if "__pycache__" not in p.parts}
    assert contract and contract <= ours
    assert all((arm64_code / name).read_bytes() == (ROOT / name).read_bytes() for name in contract)


def test_every_handler_imports_with_only_the_package_on_the_path(arm64_code):
    """The Lambda's layout: the package's folder is the only place our modules can come from (no repository root, no
    editable install); every handler the components deploy imports there, and so does the contract it uses."""
    modules = lambda_layout.handler_modules()
    assert {"certificate_inspector.handler", "provisioning_api.handler", "fleet_provisioning.hook",
            "fleet_provisioning.certificate_provider", "pacer.handler", "canary.handler"} <= set(modules)
    found = lambda_layout.run(arm64_code, modules)
    assert found["strays"] == [] and not found["functions"]
    assert Path(found["contract"]).is_relative_to(arm64_code)


def test_without_the_contract_the_handlers_do_not_import(tmp_path):
    """The layout check above fails when contract/ is not shipped (it is not found anywhere else)."""
    code = tmp_path / "code"
    for name, path in lambda_package.code_files(FUNCTIONS, shared=()):
        (code / name).parent.mkdir(parents=True, exist_ok=True)
        (code / name).write_bytes(path.read_bytes())
    with pytest.raises(AssertionError, match="No module named 'contract'"):
        lambda_layout.run(code, ["certificate_inspector.handler"])


def test_changed_contract_source_gets_a_new_folder(tmp_path, arm64_code):
    """The shared packages are part of the content hash: a changed contract file is a new archive."""
    src, shared = tmp_path / "functions", tmp_path / "contract"
    src.mkdir()
    shared.mkdir()
    (src / "requirements.txt").write_text((FUNCTIONS / "requirements.txt").read_text())
    (shared / "names.py").write_text("x = 1\n")
    first = build_code_dir(src, src / "requirements.txt", "arm64", CACHE, shared=(shared,))
    (shared / "names.py").write_text("x = 2\n")
    second = build_code_dir(src, src / "requirements.txt", "arm64", CACHE, shared=(shared,))
    assert first != second and (second / "contract" / "names.py").read_text() == "x = 2\n"


def test_a_function_folder_named_like_a_shared_package_is_refused(tmp_path):
    (tmp_path / "contract").mkdir()
    with pytest.raises(PackagingError, match="would hide the shared package"):
        lambda_package.code_files(tmp_path)
