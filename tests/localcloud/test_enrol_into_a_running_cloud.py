"""``python -m localcloud enrol SERIAL``: enrolling into the cloud a running ``up --serve`` holds, through the inbox
folder ``<state>/serve/enrol/``. Bad serials and malformed or planted inbox requests are refused; two commands at
once each enrol their own serial and report the server's answer for it; a server that is gone (its pid reused by
another process included) is refused at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from localcloud import enrol as enrol_mod
from localcloud.cloud import LocalCloud
from pki.claim import issue_claim

EU = "eu-west-1"
PROJECT = Path(__file__).resolve().parents[2]

@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, enrol_mod.Inbox]]:
    """A deployed fleet cloud and the inbox ``up --serve`` runs for it (the gate a lock, as no broker serves)."""
    with LocalCloud(state_dir=tmp_path_factory.mktemp("enrol-running"),
                    config_overrides={"provisioning": "fleet,jitr"}) as cloud:
        issue_claim(cloud.ensure_pki())
        cloud.deploy()
        state = cloud.state_dir
        box = enrol_mod.Inbox(state, threading.RLock(), EU, "multi-region-iot")
        stop = threading.Event()
        with box:
            worker = threading.Thread(target=box.run_until, args=(stop, 0.05), daemon=True)
            worker.start()
            yield Path(state), box
            stop.set()
            worker.join(5)


def run_enrol(state: Path, *serials: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run([sys.executable, "-m", "localcloud", "--state-dir", str(state), "enrol", *serials],
                          cwd=PROJECT, capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("serial", ["../../evil", "canary-eu-west-1", "claim-x", "a/b", "", "x" * 200, "-rf"])
def test_enrol_refuses_bad_serials(inbox, serial) -> None:
    state, _ = inbox
    result = run_enrol(state, serial)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert not (state.parent / "evil.provisioning.key").exists()


def test_the_inbox_answers_malformed_and_symlinked_requests_and_keeps_serving(inbox, tmp_path) -> None:
    state, _ = inbox
    folder = enrol_mod.inbox_dir(state)
    (folder / "a.request.json").write_text("[1, 2")
    (folder / "b.request.json").write_text('["not an object"]')
    (folder / "c.request.json").write_text(json.dumps({"entries": ["{\"thingName\": \"sym\"}"]}))
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"entries": []}))
    (folder / "d.request.json").symlink_to(outside)
    deadline = time.monotonic() + 10
    while any(folder.glob("*.request.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    results = {p.name: json.loads(p.read_text()) for p in folder.glob("*.result.json")}
    print(results)
    assert set(results) >= {"a.result.json", "b.result.json", "c.result.json", "d.result.json"}
    for name in ("a", "b", "c"):
        assert "error" in results[f"{name}.result.json"], results
    assert outside.exists()  # the symlink was unlinked, not its target
    for p in folder.glob("*.result.json"):
        p.unlink()


def test_an_inbox_request_naming_a_reserved_serial_is_refused(inbox) -> None:
    """The folder is the server's trust boundary: an entry planted there gets no past pki enrol's reserved-name check."""
    state, _ = inbox
    folder = enrol_mod.inbox_dir(state)
    key = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    (folder / "r.request.json").write_text(json.dumps(
        {"entries": [json.dumps({"thingName": "canary-eu-west-1", "verifyingKey": key})]}))
    deadline = time.monotonic() + 10
    while not (folder / "r.result.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    answer = json.loads((folder / "r.result.json").read_text())
    (folder / "r.result.json").unlink()
    print(answer)
    assert "error" in answer, answer


def test_two_enrols_racing_each_enrol_their_own_serial(inbox, monkeypatch) -> None:
    """Both `enrol` commands write the same <state>/enrolment/allow-list file, then read it back: interleaved, one
    sends the other's entry and still prints that its own serial was enrolled."""
    import pki.enrolment as enrolment

    state, _ = inbox
    real = enrolment.enrol
    first_wrote, second_wrote = threading.Event(), threading.Event()

    def interleaved(out, names):
        if names == ["race-a"]:
            path = real(out, names)
            first_wrote.set()
            second_wrote.wait(10)  # A reads the file only after B wrote it
        else:
            first_wrote.wait(10)  # B writes after A wrote
            path = real(out, names)
            second_wrote.set()
        return path

    monkeypatch.setattr(enrolment, "enrol", interleaved)
    codes: dict[str, int] = {}
    threads = [threading.Thread(target=lambda s=s: codes.__setitem__(s, enrol_mod.main(state, [s])))
               for s in ("race-a", "race-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    print(codes)
    assert codes == {"race-a": 0, "race-b": 0}
    entry_a = _allow(state, "race-a")
    assert entry_a is not None, "enrol race-a reported success, but race-a is not on the allow-list"


def _allow(state: Path, serial: str):
    return boto3.client("dynamodb", region_name=EU).get_item(
        TableName="multi-region-iot-allow-list", Key={"ThingName": {"S": serial}}, ConsistentRead=True).get("Item")


def test_two_enrol_processes_racing_each_enrol_their_own_serial(inbox) -> None:
    """The same race with real processes (no interleaving forced): 6 pairs."""
    state, _ = inbox
    missing = []
    for i in range(6):
        serials = [f"proc-{i}-a", f"proc-{i}-b"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        procs = [subprocess.Popen([sys.executable, "-m", "localcloud", "--state-dir", str(state), "enrol", s],
                                  cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for s in serials]
        outs = [p.communicate(timeout=120) for p in procs]
        for s, p, (out, err) in zip(serials, procs, outs, strict=True):
            assert p.returncode == 0, err[-2000:]
            assert f"{s} enrolled into" in out, out
            if _allow(state, s) is None:
                missing.append(s)
    print("reported enrolled but absent:", missing)
    assert missing == []


def test_enrol_when_the_server_is_gone_or_its_pid_reused_is_refused_at_once(tmp_path) -> None:
    state = tmp_path / "gone"
    (state / "serve").mkdir(parents=True)
    (state / "serve" / "serving.json").write_text(json.dumps({"pid": 999999}))
    result = run_enrol(state, "gone-0001")
    assert result.returncode == 2 and "no `python -m localcloud up --serve` is running" in result.stderr
    (state / "serve" / "serving.json").write_text('{"pid": 1}')  # pid 1 is alive (init) but is not a server
    result = run_enrol(state, "gone-0002")
    print(result.returncode, result.stderr[-500:])
    assert result.returncode == 2, "a live unrelated pid in serving.json is taken for a server"
    assert "no `python -m localcloud up --serve` is running" in result.stderr
    # a live pid and a nonce, as a crashed server leaves them, but nobody holds the serving lock: refused too
    (state / "serve" / "serving.json").write_text(json.dumps({"pid": os.getpid(), "nonce": "left-by-a-crash"}))
    t0 = time.monotonic()
    result = run_enrol(state, "gone-0003")
    assert result.returncode == 2 and "no `python -m localcloud up --serve` is running" in result.stderr
    assert time.monotonic() - t0 < 30  # at once: nothing waited for
    assert not any((state / "serve").glob("enrol/*.request.json"))  # nothing sent
