"""Build the Lambda code archive on `pulumi up`: our handlers plus the wheels they import,
for the Lambda runtime's Python version and architecture, cached by content.

`cryptography` is not part of the Lambda runtime and has a compiled core, so the wheels must be
the manylinux ones for the function's architecture, not whatever this machine would install.
Dependencies are cached under ``.build/lambda/deps-<hash>`` keyed by requirements, Python
version and architecture; the final folder under ``.build/lambda/code-<hash>`` also keys on
the handler sources. Repeat runs with nothing changed do no work.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

LAMBDA_PYTHON = "3.12"
RUNTIME = "python3.12"
_PLATFORMS = {
    # Lambda's python3.12 runs on Amazon Linux 2023 (glibc 2.34).
    "arm64": ("manylinux_2_34_aarch64", "manylinux_2_28_aarch64", "manylinux2014_aarch64"),
    "x86_64": ("manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux2014_x86_64"),
}


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
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise PackagingError(
                f"could not fetch Lambda dependencies from {requirements} for {architecture}/"
                f"python{LAMBDA_PYTHON}: {result.stderr.strip().splitlines()[-1:] or result.stdout}. "
                "Check network access to the package index, or the pins in that file.")

    return _atomic_dir(cache_root / f"deps-{architecture}-{key}", fill)


def build_code_dir(source_dir: Path, requirements: Path, architecture: str, cache_root: Path) -> Path:
    """Return a folder holding the handlers in ``source_dir`` and their dependencies."""
    deps = dependencies_dir(requirements, architecture, cache_root)
    files = _source_files(source_dir)
    key = _digest(deps.name.encode(), *(str(p.relative_to(source_dir)).encode() + p.read_bytes() for p in files))

    def fill(target: Path) -> None:
        shutil.copytree(deps, target, dirs_exist_ok=True)
        for path in files:
            dest = target / path.relative_to(source_dir)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)

    return _atomic_dir(cache_root / f"code-{architecture}-{key}", fill)
