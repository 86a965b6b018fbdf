"""Crash safety: file modes, atomic writes, interrupted runs (exception, disk error, SIGKILL), recovery,
tolerant readers and the write lock."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import pki
from pki import atomic
from pki.index import Index

DOMAIN = "iot.example.com"
REPO_ROOT = Path(__file__).resolve().parents[2]


def assert_consistent(pki_dir: Path, *, index_may_lag: bool) -> None:
    """The invariants an interruption must never break.

    * no temp file and no key without its certificate;
    * every file is complete (parses) and each key matches its certificate;
    * the index parses, and everything it lists is on disk;
    * unless ``index_may_lag``, every certificate on disk is in the index.
    """
    devices = pki_dir / "devices"
    assert not [p.name for p in devices.iterdir() if atomic.TEMP_MARK in p.name]
    certs = {p.stem: p for p in devices.glob("*.crt")}
    keys = {p.stem: p for p in devices.glob("*.key")}
    assert set(keys) <= set(certs), f"keys without certificates: {set(keys) - set(certs)}"
    for name, cert_path in certs.items():
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(keys[name].read_bytes(), None)
        assert key.public_key() == certificate.public_key()
    index = Index.load(pki_dir / "index.json")
    indexed = {e.name for e in index.entries.values() if e.kind == "device"}
    assert indexed <= set(certs)
    if not index_may_lag:
        assert indexed == set(certs)


def test_private_keys_are_0600_and_certificates_0644_whatever_the_umask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pki.PASSPHRASE_ENV, raising=False)
    for umask, directory in ((0o000, tmp_path / "open"), (0o077, tmp_path / "closed")):
        previous = os.umask(umask)
        try:
            pki.init_pki(directory, DOMAIN)
            pki.issue_device_certificates(directory, ["mode-check"])
        finally:
            os.umask(previous)
        for key in ["root-ca.key", "intermediate-ca.key", f"server/{DOMAIN}.key", "devices/mode-check.key"]:
            assert (directory / key).stat().st_mode & 0o777 == 0o600, key
        for cert in ["root-ca.crt", "intermediate-ca.crt", "ca-chain.pem", f"server/{DOMAIN}.crt", "devices/mode-check.crt", "index.json"]:
            assert (directory / cert).stat().st_mode & 0o777 == 0o644, cert


def test_write_atomic_replaces_the_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("old")
    atomic.write_atomic(target, b"new content", mode=0o600)
    assert target.read_bytes() == b"new content"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "file.txt"
    target.write_text("old")

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        atomic.write_atomic(target, b"new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


class Interrupt(BaseException):
    """Stands in for Ctrl-C / a kill at one precise step."""


def interrupt_call(monkeypatch: pytest.MonkeyPatch, module: object, name: str, at: int, error: BaseException) -> list[int]:
    """Make the ``at``-th call of ``module.name`` raise ``error`` (once); returns the call counter."""
    original = getattr(module, name)
    calls = [0]
    lock = threading.Lock()  # staging runs in a thread pool

    def wrapper(*args: object, **kwargs: object) -> object:
        with lock:
            calls[0] += 1
            fire = calls[0] == at
        if fire:
            raise error
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


# Issuing 3 devices publishes key, cert, key, cert, key, cert and then the index: 7 renames, 14 fsyncs+.
@pytest.mark.parametrize("step", range(1, 8))
def test_interrupting_any_rename_of_a_batch_leaves_a_consistent_directory(
    pki_dir: Path, monkeypatch: pytest.MonkeyPatch, step: int
) -> None:
    calls = interrupt_call(monkeypatch, atomic, "publish", step, Interrupt())
    with pytest.raises(Interrupt):
        pki.issue_device_certificates(pki_dir, ["b-1", "b-2", "b-3"])
    assert calls[0] >= step
    monkeypatch.undo()
    assert_consistent(pki_dir, index_may_lag=True)
    completed = (step - 1) // 2  # devices whose certificate was published before the interruption
    assert len(list((pki_dir / "devices").glob("*.crt"))) == min(completed, 3)
    # the next writing command recovers: everything on disk is indexed and verifies
    pki.issue_device_certificates(pki_dir, ["after"])
    assert_consistent(pki_dir, index_may_lag=False)
    assert pki.verify_directory(pki_dir).ok


# 4 devices: 2 staged files each (fsyncs 1-8, in parallel threads), the devices directory (9), the index file (10) and
# the root directory after the index rename (11).
@pytest.mark.parametrize("step", range(1, 12))
def test_a_disk_error_at_any_fsync_leaves_a_consistent_directory(
    pki_dir: Path, monkeypatch: pytest.MonkeyPatch, step: int
) -> None:
    interrupt_call(monkeypatch, atomic.os, "fsync", step, OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(OSError, match="No space left on device"):
        pki.issue_device_certificates(pki_dir, ["f-1", "f-2", "f-3", "f-4"])
    monkeypatch.undo()
    assert_consistent(pki_dir, index_may_lag=True)
    pki.issue_device_certificates(pki_dir, ["after"])
    assert_consistent(pki_dir, index_may_lag=False)


def test_a_sigkilled_batch_leaves_no_corrupt_file_and_is_recovered(pki_dir: Path) -> None:
    devices = pki_dir / "devices"
    process = subprocess.Popen(
        [sys.executable, "-m", "pki", "issue-device", "killed", "--count", "5000", "--out", str(pki_dir)],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while len(os.listdir(devices)) < 300 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert process.returncode == -signal.SIGKILL, "the batch finished before it could be killed"

    # Readers tolerate the state a kill leaves: at most one key whose certificate rename never happened.
    keys = {p.stem for p in devices.glob("*.key")}
    certs = {p.stem for p in devices.glob("*.crt")}
    assert len(keys - certs) <= 1
    for cert in devices.glob("*.crt"):
        x509.load_pem_x509_certificate(cert.read_bytes())  # every visible certificate is complete
    rows = pki.list_certificates(pki_dir)
    assert {r.status for r in rows if r.kind == "device"} <= {"valid", "unindexed"}
    assert sum(1 for r in rows if r.kind == "device") == len(certs)

    pki.issue_device_certificates(pki_dir, ["after-kill"])  # runs recovery under the lock
    assert_consistent(pki_dir, index_may_lag=False)
    assert {r.status for r in pki.list_certificates(pki_dir)} == {"valid"}


def test_interrupted_init_is_detected_and_force_recovers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pki.PASSPHRASE_ENV, raising=False)
    directory = tmp_path / "pki"
    interrupt_call(monkeypatch, atomic, "publish", 3, Interrupt())  # after root key + root cert
    with pytest.raises(Interrupt):
        pki.init_pki(directory, DOMAIN)
    monkeypatch.undo()
    with pytest.raises(pki.PkiError, match=r"incomplete CA .*--force"):
        pki.init_pki(directory, DOMAIN)
    with pytest.raises(pki.PkiError, match=r"intermediate-ca\.crt are missing: run python -m pki init"):
        pki.load_endpoint_material(directory, DOMAIN)
    pki.init_pki(directory, DOMAIN, force=True)
    assert pki.verify_directory(directory).ok


def test_list_reports_certificates_the_index_has_not_caught_up_with(pki_dir: Path) -> None:
    stray = pki.load_ca(pki_dir).issue_device("stray")
    (pki_dir / "devices" / "stray.crt").write_text(stray.certificate_pem)
    (pki_dir / "devices" / "stray.key").write_text(stray.private_key_pem)
    assert [r.status for r in pki.list_certificates(pki_dir) if r.name == "stray"] == ["unindexed"]
    pki.issue_device_certificates(pki_dir, ["next"])
    assert [r.status for r in pki.list_certificates(pki_dir) if r.name == "stray"] == ["valid"]


def test_a_corrupt_index_is_reported_with_the_fix(pki_dir: Path) -> None:
    (pki_dir / "index.json").write_text('{"format": 1, "certificates": ')
    with pytest.raises(pki.PkiError, match=r"not a valid PKI index.*move it aside"):
        pki.list_certificates(pki_dir)
    with pytest.raises(pki.PkiError, match="not a valid PKI index"):
        pki.issue_device_certificates(pki_dir, ["x"])


def test_concurrent_batches_are_serialised_by_the_lock(pki_dir: Path) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "pki", "issue-device", prefix, "--count", "100", "--out", str(pki_dir)],
            cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        for prefix in ("left", "right")
    ]
    for process in processes:
        assert process.wait(30) == 0, process.stderr.read() if process.stderr else ""
    document = json.loads((pki_dir / "index.json").read_text())
    devices = [e["name"] for e in document["certificates"].values() if e["kind"] == "device"]
    assert len(devices) == 200 and len(set(devices)) == 200
    assert_consistent(pki_dir, index_may_lag=False)
