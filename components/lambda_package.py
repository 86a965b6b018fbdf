"""Build the Lambda code archive on `pulumi up`: our handlers plus the wheels they import,
for the Lambda runtime's Python version and architecture, cached by content.

The archive's root is ``functions/`` (handlers are ``<function folder>.<module>.<function>``, e.g.
``certificate_inspector.handler.handler``) with the ``contract/`` package beside the function folders
(``SHARED_PACKAGES``), so ``from contract import names`` works in the Lambda exactly as in the repository.

`cryptography` is not part of the Lambda runtime and has a compiled core, so the wheels must be
the manylinux ones for the function's architecture, not whatever this machine would install.
Dependencies are cached under ``.build/lambda/deps-<hash>`` keyed by requirements, Python
version and architecture; the final folder under ``.build/lambda/code-<hash>`` also keys on
the handler sources and the shared packages' sources. Repeat runs with nothing changed do no work.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

LAMBDA_PYTHON = "3.12"
RUNTIME = "python3.12"
_PLATFORMS = {
    # Lambda's python3.12 runs on Amazon Linux 2023 (glibc 2.34).
    "arm64": ("manylinux_2_34_aarch64", "manylinux_2_28_aarch64", "manylinux2014_aarch64"),
    "x86_64": ("manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux2014_x86_64"),
}


#: Packages of the repository shipped beside the functions at the archive's root (pure: standard library only).
SHARED_PACKAGES: tuple[Path, ...] = (Path(__file__).resolve().parents[1] / "contract",)


class PackagingError(RuntimeError):
    """The dependencies could not be fetched for the Lambda platform."""


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


def _source_files(source_dir: Path) -> list[Path]:
    return sorted(p for p in source_dir.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def _atomic_dir(final: Path, fill) -> Path:
    """Fill a temporary sibling folder, then rename it into place (a crash leaves no half folder)."""
    if final.exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".tmp-", dir=final.parent))
    try:
        fill(tmp)
        try:
            os.rename(tmp, final)
        except OSError:  # another run won the race; its folder is as good as ours
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def dependencies_dir(requirements: Path, architecture: str, cache_root: Path) -> Path:
    """Install the requirements' wheels for Lambda into a cached folder and return it."""
    if architecture not in _PLATFORMS:
        raise PackagingError(f"unknown Lambda architecture {architecture!r}; use arm64 or x86_64")
    key = _digest(requirements.read_bytes(), LAMBDA_PYTHON.encode(), architecture.encode())

    def fill(target: Path) -> None:
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "--no-compile", "--target", str(target), "--implementation", "cp",
               "--python-version", LAMBDA_PYTHON, "--only-binary=:all:", "-r", str(requirements)]
        for platform in _PLATFORMS[architecture]:
            cmd += ["--platform", platform]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PackagingError(
                f"could not fetch Lambda dependencies from {requirements} for {architecture}/"
                f"python{LAMBDA_PYTHON}: {result.stderr.strip().splitlines()[-1:] or result.stdout}. "
                "Check network access to the package index, or the pins in that file.")

    return _atomic_dir(cache_root / f"deps-{architecture}-{key}", fill)


def code_files(source_dir: Path, shared: Sequence[Path] = SHARED_PACKAGES) -> list[tuple[Path, Path]]:
    """Our files in the archive, as (path in the archive, file): the handlers in ``source_dir`` at the root, each
    ``shared`` package in a folder of its own name beside the function folders."""
    for package in shared:
        if (source_dir / package.name).exists():
            raise PackagingError(f"{source_dir / package.name} would hide the shared package {package}: rename it")
    files = [(p.relative_to(source_dir), p) for p in _source_files(source_dir)]
    files += [(Path(package.name) / p.relative_to(package), p) for package in shared for p in _source_files(package)]
    return sorted(files)


def build_code_dir(source_dir: Path, requirements: Path, architecture: str, cache_root: Path,
                   shared: Sequence[Path] = SHARED_PACKAGES) -> Path:
    """Return a folder holding the handlers in ``source_dir``, the ``shared`` packages and their dependencies."""
    deps = dependencies_dir(requirements, architecture, cache_root)
    files = code_files(source_dir, shared)
    key = _digest(deps.name.encode(), *(str(name).encode() + path.read_bytes() for name, path in files))

    def fill(target: Path) -> None:
        shutil.copytree(deps, target, dirs_exist_ok=True)
        for name, path in files:
            dest = target / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)

    return _atomic_dir(cache_root / f"code-{architecture}-{key}", fill)
