"""``python -m localcloud enrol SERIAL...``: enrol serials into the local cloud a running ``up --serve`` holds.

The local cloud lives in the serving process (moto in memory), so another process cannot write its allow-list with
boto3. This command does what manufacturing and an operator do (docs/design.md, "Who gets a certificate"): it makes
each device's enrolled signing key, as ``python -m pki enrol`` does (``<state>/enrolment/devices/SERIAL.provisioning.key``,
0600, an existing one kept), and hands the allow-list entries (the verifying keys, nothing secret) to the server
through a folder under the same ``--state-dir``: ``<state>/serve/enrol/<id>.request.json``. The server's
:class:`Inbox` (started by ``up --serve``) imports them as ``python -m ops allow-list import`` does (the primary's
replica of the global table) and answers in ``<id>.result.json``; the command waits for that answer.

Two ``enrol`` commands at once: each request is its own. The keys are made under the enrolment folder's pki lock
(``pki.lock``, the lock ``python -m pki`` commands take), each request file has a unique name and is written
atomically (``pki.atomic``), and its entries are read from the serials' own signing keys, never back from the shared
``<state>/enrolment/allow-list.jsonl`` another command may have rewritten meanwhile. Success is printed only for a
serial the server's answer names as enrolled (or already enrolled).

Is a server running for the folder? The server holds an exclusive ``flock`` on ``<state>/serve/serving.lock`` for
as long as it serves (the kernel releases it when the process dies, however it dies), and writes its pid and a
random nonce to ``<state>/serve/serving.json``. ``enrol`` requires both: a live pid alone is not enough (a crashed
server's pid may have been reused by any process). No server: refused at once (exit 2), nothing sent.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SERVE_DIR = "serve"


def enrolment_dir(state_dir: Path) -> Path:
    """Where the command keeps the devices' signing keys (``python -m pki enrol``'s ``--out``)."""
    return state_dir / "enrolment"


def inbox_dir(state_dir: Path) -> Path:
    return state_dir / SERVE_DIR / "enrol"


def serving_file(state_dir: Path) -> Path:
    return state_dir / SERVE_DIR / "serving.json"


def serving_lock(state_dir: Path) -> Path:
    """The file the serving process holds an exclusive ``flock`` on while it serves."""
    return state_dir / SERVE_DIR / "serving.lock"


def _server_holds_lock(state_dir: Path) -> bool:
    """True when some process holds the serving lock (a shared lock cannot be had), i.e. a server is serving."""
    try:
        fd = os.open(serving_lock(state_dir), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as error:
        return error.errno in (errno.EAGAIN, errno.EACCES)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def default_state_dir() -> Path:
    return Path(__file__).resolve().parent.parent / ".localcloud"  # as LocalCloud's default


class Inbox:
    """The serving side: imports each request into the running cloud's allow-list, answers it."""

    def __init__(self, state_dir: Path, gate: Any, region: str, application: str) -> None:
        self.state_dir, self.gate, self.region, self.application = Path(state_dir), gate, region, application
        self.imported: list[str] = []
        self._lock_fd: int | None = None

    def __enter__(self) -> Inbox:
        from pki.atomic import make_private_dir, write_atomic

        make_private_dir(inbox_dir(self.state_dir))
        fd = os.open(serving_lock(self.state_dir), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RuntimeError(f"another `python -m localcloud up --serve` is serving the state folder "
                               f"{self.state_dir} (it holds {serving_lock(self.state_dir)}): stop it first, or give "
                               "this one another --state-dir") from None
        self._lock_fd = fd
        for stale in inbox_dir(self.state_dir).glob("*.json"):  # left by an earlier server: nobody waits for them
            stale.unlink(missing_ok=True)
        write_atomic(serving_file(self.state_dir),
                     json.dumps({"pid": os.getpid(), "nonce": secrets.token_hex(16)}).encode())
        return self

    def __exit__(self, *exc: object) -> None:
        serving_file(self.state_dir).unlink(missing_ok=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def poll(self) -> int:
        """Answer every waiting request; returns how many."""
        answered = 0
        for request in sorted(inbox_dir(self.state_dir).glob("*.request.json")):
            result = request.with_name(request.name.replace(".request.json", ".result.json"))
            try:
                answer = self._import(json.loads(request.read_text(encoding="utf-8")))
            except Exception as error:  # noqa: BLE001 - told to the waiting command, the server keeps serving
                answer = {"error": f"{type(error).__name__}: {error}"}
            from pki.atomic import write_atomic

            write_atomic(result, json.dumps(answer).encode())
            request.unlink(missing_ok=True)
            answered += 1
        return answered

    def _import(self, request: dict[str, Any]) -> dict[str, Any]:
        from ops import allow_list

        entries = allow_list.parse(list(request.get("entries") or []))
        with self.gate:
            report = allow_list.enrol(None, self.region, entries, application=self.application)
        self.imported.extend(e["thingName"] for e in entries)
        return {"region": self.region, "report": _report(report)}

    def run_until(self, stop: threading.Event, interval_s: float = 0.2) -> None:
        while not stop.wait(interval_s):
            self.poll()


def _report(report: Any) -> dict[str, Any]:
    return dict(report.to_json())  # ops.allow_list.ImportReport


def serving_pid(state_dir: Path) -> int | None:
    """The pid of the server serving ``state_dir``, or None: serving.json names a live pid and a nonce, and the
    serving lock is held (a reused pid of a dead server's does not hold it)."""
    try:
        record = json.loads(serving_file(state_dir).read_text(encoding="utf-8"))
        pid = int(record["pid"])
        nonce = record.get("nonce")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    try:
        os.kill(pid, 0)
    except PermissionError:  # alive, another user's: the lock decides
        pass
    except (OSError, ValueError, OverflowError):
        return None
    return pid if nonce and _server_holds_lock(state_dir) else None


@contextlib.contextmanager
def _enrolment_locked(state: Path) -> Iterator[None]:
    """The enrolment folder's pki lock (``<state>/enrolment/.pki.lock``), as ``python -m pki`` commands take it."""
    from pki.layout import Layout
    from pki.lock import locked

    with locked(Layout(enrolment_dir(state))):
        yield


def _own_entries(state: Path, serials: list[str]) -> list[str]:
    """The allow-list lines of exactly ``serials``, from their own signing keys (made by ``pki.enrolment.enrol``)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from pki.enrolment import signing_key_path
    from pki.errors import PkiError

    lines = []
    for serial in dict.fromkeys(serials):
        path = signing_key_path(enrolment_dir(state), serial)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise PkiError(f"{path} is not an Ed25519 key: remove it to make a new one")
        public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        lines.append(json.dumps({"thingName": serial, "verifyingKey": public}))
    return lines


def main(state_dir: Path | None, serials: list[str], timeout_s: float = 30.0) -> int:
    from pki.atomic import write_atomic
    from pki.enrolment import enrol, signing_key_path
    from pki.errors import PkiError

    state = Path(state_dir) if state_dir is not None else default_state_dir()
    if serving_pid(state) is None:
        print(f"error: no `python -m localcloud up --serve` is running with the state folder {state}: start it "
              f"first (with --state-dir {state} if that is not the default), then enrol", file=sys.stderr)
        return 2
    if not serials:
        print("error: name at least one serial to enrol", file=sys.stderr)
        return 2
    try:
        with _enrolment_locked(state):  # keys made (or reused) and read back by one command at a time
            enrol(enrolment_dir(state), serials)
            entries = _own_entries(state, serials)
    except (PkiError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    name = f"{int(time.time() * 1000)}-{os.getpid()}-{secrets.token_hex(8)}"
    request = inbox_dir(state) / f"{name}.request.json"
    result = inbox_dir(state) / f"{name}.result.json"
    write_atomic(request, json.dumps({"entries": entries}).encode())
    deadline = time.monotonic() + timeout_s
    while not result.exists():
        if time.monotonic() > deadline or serving_pid(state) is None:
            request.unlink(missing_ok=True)
            print(f"error: the running `up --serve` did not take the enrolment within {timeout_s:g} s "
                  f"({request} removed); is it still serving?", file=sys.stderr)
            return 1
        time.sleep(0.1)
    answer = json.loads(result.read_text(encoding="utf-8"))
    result.unlink(missing_ok=True)
    if "error" in answer:
        print(f"error: the running local cloud refused the enrolment: {answer['error']}", file=sys.stderr)
        return 1
    report = answer.get("report") if isinstance(answer.get("report"), dict) else {}
    enrolled, already = set(report.get("enrolled") or []), set(report.get("alreadyEnrolled") or [])
    missing = [serial for serial in serials if serial not in enrolled | already]
    for serial in serials:
        if serial in missing:
            continue
        done = "was already on" if serial in already else "enrolled into"
        print(f"{serial} {done} the running local cloud's allow-list ({answer.get('region')}, a global table); its "
              f"signing key: {signing_key_path(enrolment_dir(state), serial)}")
    if missing:
        print(f"error: the running local cloud's answer does not name {', '.join(missing)} as enrolled: not enrolled "
              f"(answer: {json.dumps(report)})", file=sys.stderr)
        return 1
    return 0
