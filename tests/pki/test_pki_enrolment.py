"""`python -m pki enrol`: one request-signing key per device (0600, kept across runs) and the allow-list entries
that `python -m ops allow-list import` loads."""
from __future__ import annotations

import json
import stat

from pki import cli
from pki.enrolment import signing_key_path

from ops import allow_list


def test_enrol_makes_one_private_key_per_device_and_entries_ops_can_import(tmp_path, capsys):
    assert cli.main(["enrol", "meter", "--count", "3", "--out", str(tmp_path)]) == 0
    path = tmp_path / "allow-list.jsonl"
    assert capsys.readouterr().out.strip() == str(path)

    entries = allow_list.parse(path.read_text().splitlines())
    assert [e["thingName"] for e in entries] == ["meter-0001", "meter-0002", "meter-0003"]
    assert len({e["verifyingKey"] for e in entries}) == 3  # never one shared key
    for entry in entries:
        key = signing_key_path(tmp_path, entry["thingName"])
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_enrolling_again_keeps_each_devices_key(tmp_path):
    assert cli.main(["enrol", "valve-1", "--out", str(tmp_path)]) == 0
    first = json.loads((tmp_path / "allow-list.jsonl").read_text())
    assert cli.main(["enrol", "valve-1", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "allow-list.jsonl").read_text()) == first


def test_a_name_that_is_not_a_thing_name_is_refused_and_nothing_is_written(tmp_path, capsys):
    assert cli.main(["enrol", "bad name", "--out", str(tmp_path)]) == 1
    assert "bad name" in capsys.readouterr().err
    assert not (tmp_path / "allow-list.jsonl").exists()
