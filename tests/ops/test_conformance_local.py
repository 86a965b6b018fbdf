"""``python -m ops conformance REGION --local``: the kit's probes against the local cloud, held to the same list of
expectations a live run is (``ops.conformance.expectations``).

The first test runs the command exactly as docs/operations.md shows it, in a subprocess. The others run in this
process: with a register switch at its other value the local cloud disagrees (exit 1, on that row only); with every
switch at its other value, expectations read under the same switches agree again (the list follows the switches).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from localcloud.assumptions import AWS_AS_REPORTED, KINDER
from ops import cli
from ops.conformance import cli as conformance_cli
from ops.conformance.expectations import expectations
from ops.conformance.local import LocalWorld
from ops.conformance.probes import PROBES
from ops.conformance.resources import Run
from ops.conformance.runner import run_probes

ROOT = Path(__file__).resolve().parents[2]
#: The commands docs/operations.md shows (its "conformance" block) and the README names, run here as pasted.
LOCAL_COMMAND = "python -m ops conformance eu-west-1 --local --json"
LIVE_COMMANDS = ["python -m ops conformance eu-west-1 --profile sandbox",
                 "python -m ops conformance eu-west-1 --profile sandbox --yes --json"]
#: The rows the brief asks for (issue 20, "A live conformance kit"), then the register's other probed rows.
ROWS = ["iot-sql.get-dynamodb-missing-item", "iot.jitr-event-on-reconnect", "iot.delete-thing-with-principal",
        "iot.detach-propagation", "iot.revoked-is-final", "iot.error-action-message", "fleet.hook-invoke-source",
        "fleet.certificate-provider-per-account", "fleet.register-thing-role", "fleet.csr-certificate-status",
        "mqtt.tls12-refused"]
MORE_ROWS = ["iot.jitp-registration-event", "iot.delete-certificate-active", "iot.certificate-id"]


def pasted(command: str) -> list[str]:
    words = command.split()
    assert words[0] == "python"
    return [sys.executable, *words[1:]]


def test_the_documented_commands_are_the_ones_run_here():
    section = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8").split("## `conformance", 1)[1]
    block = section.split("\n## ", 1)[0].split("```", 2)[1]
    assert [line.strip() for line in block.strip().splitlines()] == [LOCAL_COMMAND, *LIVE_COMMANDS]
    assert f"`{LOCAL_COMMAND}`" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_local_run_as_pasted_agrees_on_every_probe():
    done = subprocess.run(pasted(LOCAL_COMMAND), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)  # stdout is the JSON object and nothing else
    assert list(report) == ["probes"]
    probes = report["probes"]
    assert len(probes) >= 11
    assert all(list(p) == ["name", "register_row", "expected", "observed", "agree"] for p in probes)
    assert sorted(p["register_row"] for p in probes) == sorted(ROWS + MORE_ROWS)
    assert all(p["agree"] is True for p in probes), [p for p in probes if not p["agree"]]
    assert f"All {len(probes)} probes agree" in done.stderr


def _args(*argv: str):
    return cli.build_parser().parse_args(["conformance", *argv])


def test_a_disagreement_exits_1_and_names_the_row(tmp_path, capsys):
    """The local cloud switched to the other reading of get_dynamodb()'s missing item, the expectations not."""
    world = LocalWorld("eu-west-1", "us-west-2", state_dir=tmp_path,
                       assumptions=AWS_AS_REPORTED.with_other("get_dynamodb_missing_item"))
    status = conformance_cli.main(_args("eu-west-1", "--local", "--json"), world=world)
    assert status == 1
    probes = {p["register_row"]: p for p in json.loads(capsys.readouterr().out)["probes"]}
    assert [row for row, p in probes.items() if not p["agree"]] == ["iot-sql.get-dynamodb-missing-item"]
    row = probes["iot-sql.get-dynamodb-missing-item"]
    assert row["expected"]["action_ran"] is False and row["observed"]["action_ran"] is True


def test_expectations_follow_every_register_switch(tmp_path):
    """Under every switch at its other value the local cloud answers otherwise on six rows, and the expectations
    read under the same switches agree with it: the list is the local cloud's, not a copy."""
    differ = [p.register_row for p in PROBES
              if expectations(KINDER)[p.register_row].value != expectations(AWS_AS_REPORTED)[p.register_row].value]
    assert differ == ["iot-sql.get-dynamodb-missing-item", "iot.jitp-registration-event",
                      "iot.delete-thing-with-principal", "fleet.hook-invoke-source",
                      "fleet.certificate-provider-per-account", "fleet.register-thing-role"]
    selected = [p for p in PROBES if p.register_row in differ]
    with LocalWorld("eu-west-1", "us-west-2", state_dir=tmp_path, assumptions=KINDER) as world:
        report = run_probes(world, Run("00c0ffee"), selected, expectations(KINDER))
    assert [(r.probe.register_row, r.agree) for r in report.results] == [(row, True) for row in differ], \
        [r.observed for r in report.results if not r.agree]
    assert not report.left


@pytest.mark.parametrize("argv, fix", [
    *[(command.split()[4:], "no AWS profile named 'sandbox'") for command in LIVE_COMMANDS],  # as documented
    (["mars-east-1", "--local"], "is not a region where AWS IoT Core is available"),
    (["eu-west-1", "--local", "--profile", "sandbox"], "drop --profile"),
    (["eu-west-1", "--json"], "add --yes"),
    (["eu-west-1", "CREDENTIALS"], "nobody can confirm (stdin is not a terminal): add --yes"),
    (["eu-west-1", "--yes"], "no AWS credentials found"),
    (["eu-west-1", "--yes", "--profile", "no-such-profile"], "no AWS profile named 'no-such-profile'"),
])
def test_bad_input_exits_2_naming_the_fix(argv, fix, tmp_path):
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AWS_CONFIG_FILE": str(tmp_path / "none"),
                   "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true",
                   "NO_COLOR": "1", "COLUMNS": "200"}
    if "CREDENTIALS" in argv:  # some (never used: the command stops before any call)
        argv = [a for a in argv if a != "CREDENTIALS"]
        environment.update(AWS_ACCESS_KEY_ID="AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY="example")
    done = subprocess.run(pasted("python -m ops conformance " + " ".join(argv)), cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=environment, stdin=subprocess.DEVNULL)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert fix in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
