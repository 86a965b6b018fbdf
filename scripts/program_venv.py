"""Proof that the Pulumi program installs and previews from a virtualenv holding only its own dependency group.

    python3 -m scripts.program_venv [--venv DIR]      # from the repository root; .ci/run runs it

Does what Pulumi does for Pulumi.yaml's ``virtualenv`` (.venv-program) when it is missing: ``python -m venv`` and
``pip install -r requirements.txt`` (= pyproject.toml's ``program`` group) into a fresh folder (a temporary one, or
``--venv``, which must not exist yet), and prints how long each took. Then, with that venv's interpreter and the
repository root first on ``sys.path`` (as Pulumi's language host runs the program: ``runpy.run_path`` of the project
folder), it refuses if moto, rich or pytest are importable (the venv would not be program-only), makes a throwaway PKI
and runs ``__main__.py`` under Pulumi mocks (``localcloud.mockrun.run_stack``, whose mocks need nothing beyond the
program's group) for every shipped stack, primaries first, each secondary reading its primary's exports through its
stack reference; it prints each stack's resource count. Exits non-zero on any failure.

tests/test_packaging.py checks, without a venv, that everything this module and the program import is in the
program's group.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: What a program-only venv must not be able to import (the local cloud's, the tools' and the tests' dependencies).
NOT_IN_THE_PROGRAM = ("moto", "rich", "pytest")
#: Credentials that can reach nothing: the mocks answer every call, and nothing may get to AWS.
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled"}


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / "python"


def _clean_env() -> dict[str, str]:
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("AWS_")}
    return {**env, **FAKE_AWS, "PYTHONNOUSERSITE": "1"}


def _timed(label: str, command: list[str], *, quiet: bool = True) -> float:
    """Run ``command`` from ROOT; its output only if it fails (``quiet``) or always."""
    started = time.monotonic()
    completed = subprocess.run(command, cwd=ROOT, env=_clean_env(), text=True, capture_output=quiet)
    elapsed = time.monotonic() - started
    if completed.returncode != 0:
        if quiet:
            sys.stderr.write(completed.stdout[-4000:] + completed.stderr[-4000:])
        raise SystemExit(f"{label} failed (exit {completed.returncode}): {' '.join(command)}")
    print(f"{label}: {elapsed:.1f} s", flush=True)
    return elapsed


def build_and_preview(venv: Path) -> None:
    """Create ``venv`` with the program's group only, then preview every stack with its interpreter."""
    _timed("python -m venv", [sys.executable, "-m", "venv", str(venv)])
    python = str(_venv_python(venv))
    _timed("pip install -r requirements.txt", [python, "-m", "pip", "install", "--quiet",
                                                "--disable-pip-version-check", "-r", str(ROOT / "requirements.txt")])
    # -E -s: nothing from PYTHONPATH or the user's site-packages; -m from ROOT puts the project folder first.
    _timed("preview under mocks", [python, "-E", "-s", "-m", "scripts.program_venv", "--inside"], quiet=False)


def _stacks() -> list[tuple[str, str | None]]:
    """Every shipped stack with the stack reference to its primary (None for a primary), primaries first."""
    import yaml

    stacks = []
    for path in sorted(ROOT.glob("Pulumi.*.yaml")):
        config = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("config") or {}
        stacks.append((path.name[len("Pulumi."):-len(".yaml")], config.get("multi-region-iot:primaryStack")))
    return sorted(stacks, key=lambda stack: stack[1] is not None)


def preview_inside() -> None:
    """Run in the program-only venv: every shipped stack under Pulumi mocks, printing its resource count."""
    import importlib.util
    from importlib.metadata import version

    present = [name for name in NOT_IN_THE_PROGRAM if importlib.util.find_spec(name) is not None]
    if present:
        raise SystemExit(f"{sys.prefix} is not a program-only venv: it can import {', '.join(present)}")

    import pki
    from localcloud.mockrun import run_stack

    with tempfile.TemporaryDirectory(prefix="program-venv-pki-") as folder:
        pki.init_pki(Path(folder), "iot.example.com")
        outputs: dict[str, dict] = {}
        for stack, primary in _stacks():
            references = {} if primary is None else {primary: outputs[primary.rsplit("/", 1)[-1]]}
            run = run_stack(stack, config_overrides={"pkiDir": folder}, stack_outputs=references)
            outputs[stack] = run.outputs
            kind = "primary" if primary is None else f"secondary of {primary}"
            print(f"{stack} ({kind}): {len(run.resources)} resources, {len(run.outputs)} outputs", flush=True)
    print(f"previewed with {sys.executable} (pulumi {version('pulumi')}; no moto, rich or pytest)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, help="where to create the venv (must not exist; default: a temporary "
                                                  "folder, removed afterwards)")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inside:
        preview_inside()
        return 0
    if args.venv is not None:
        if args.venv.exists():
            parser.error(f"--venv {args.venv} exists: name a folder that does not, so the venv is fresh")
        build_and_preview(args.venv.resolve())
        return 0
    with tempfile.TemporaryDirectory(prefix="program-venv-") as folder:
        build_and_preview(Path(folder) / "venv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
