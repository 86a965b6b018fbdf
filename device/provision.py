"""``python -m device provision --api URL --thing NAME --key KEY [--out DIR]``: ask the provisioning API for a
certificate for a TLS key the device makes and keeps, and store it.

``--key`` is the device's enrolled signing key (Ed25519 or EC, PEM), whose public half is on the allow-list; the
request (thing name, timestamp, a new nonce, the CSR's hash) is signed with it. The device always makes its own TLS
key and sends only a CSR (``--csr`` is still accepted, for older scripts; the API no longer makes keys): a key
that never travels cannot be lost with a response, and a lost response is answered again to any request for the
same key, since a certificate is public (issue 21).

Key files in DIR, both 0600 from the start and moved into place atomically:

- ``<thing>.key``, the working key: never overwritten. A run that finds one certifies it again, and the API
  answers with the certificate it already holds (running provision twice changes nothing). To certify a new key
  (the old one may be stolen), move it away first; the entry then needs ``python -m ops allow-list reset``;
- ``<thing>.key.pending``, a new key waiting for its certificate: made only when there is no working key, kept
  across runs (a refusal, a lost response or a crash reuses it), and renamed to ``<thing>.key`` only after its
  certificate is written.

Retries: a request whose answer did not arrive (connection errors, API Gateway's 502/503/504: the function may
have answered or still be running) is sent again as it is, the same signed request; 409 ``InProgress`` and 503
``RetryLater`` are waited out with a newly signed request each time, for up to ``WAIT_SECONDS`` (a claim left by a
stopped invocation is taken over after 120 s).
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from contract.proofs import request_message
from device.inputs import InputError, check_out_dir, check_thing_name, check_url, load_signing_key
from device.keys import certifies, new_key
from device.keys import csr_pem as make_csr


class ProvisioningRefused(Exception):
    """The API answered with an error (status, error name, message)."""

    def __init__(self, status: int, body: dict[str, Any]):
        super().__init__(f"{status} {body.get('error', '')}: {body.get('message', body)}")
        self.status, self.body = status, body


def sign(key: Any, message: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(message, ec.ECDSA(hashes.SHA256()))
    raise ValueError("the signing key must be Ed25519 or EC (PEM)")


def request_body(thing: str, signing_key: Any, csr_pem: str | None) -> dict[str, Any]:
    timestamp, nonce = int(time.time()), secrets.token_urlsafe(18)
    body = {"thingName": thing, "timestamp": timestamp, "nonce": nonce,
            "signature": base64.b64encode(sign(signing_key, request_message(thing, timestamp, nonce, csr_pem))).decode()}
    if csr_pem:
        body["csr"] = csr_pem
    return body


#: How long 409 InProgress, 503 RetryLater and API Gateway's 502/503/504 are waited out (longer than the API's
#: 120 s claim timeout, so a claim left by a stopped invocation is taken over within one run).
WAIT_SECONDS = 150.0
#: Answers that mean "ask again shortly" (the API's own JSON error names).
WAIT_ERRORS = {(409, "InProgress"), (503, "RetryLater")}
#: API Gateway's own errors (no JSON of ours): the request may have reached the function, whose answer was lost.
GATEWAY_STATUSES = (502, 503, 504)


def post(url: str, body: dict[str, Any], attempts: int = 3, timeout: float = 30, *,
         resign: Callable[[], dict[str, Any]] | None = None, wait_seconds: float = WAIT_SECONDS) -> dict[str, Any]:
    """POST the signed request and return the API's answer (module docstring, "Retries"): connection failures are
    retried with the same body up to ``attempts`` times; InProgress/RetryLater with ``resign()``'s new body and
    gateway errors with the same body, backing off 1, 2, 4 ... 16 s, until ``wait_seconds`` of waiting."""
    data, waited, delay, failures = json.dumps(body).encode(), 0.0, 1.0, 0
    while True:
        request = urllib.request.Request(url, data=data, method="POST",  # noqa: S310 - http(s): inputs.check_url
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - as above
                answer = _json(response.read(), response.status)
                missing = [k for k in ANSWER_KEYS if k not in answer]
                if missing:
                    raise ProvisioningRefused(response.status, {"error": "NotTheProvisioningApi", "message": (
                        f"the answer has no {', '.join(missing)}: check --api (https://provision.<domain>/provision)")})
                return answer
        except urllib.error.HTTPError as error:
            answer = _json(error.read() or b"{}", error.code)
            ours = (error.code, answer.get("error"))
            waiting = ours in WAIT_ERRORS or (error.code in GATEWAY_STATUSES and ours != (503, "RetryLater")
                                              and answer.get("error") in (None, "NotTheProvisioningApi"))
            if not waiting or waited + delay > wait_seconds:
                raise ProvisioningRefused(error.code, answer) from None
            time.sleep(delay)
            waited, delay = waited + delay, min(2 * delay, 16.0)
            if ours in WAIT_ERRORS and resign is not None:
                data = json.dumps(resign()).encode()  # a new nonce and timestamp: the wait may be long
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            failures += 1
            if failures >= attempts:
                raise
            time.sleep(2 ** (failures - 1))


#: What a provisioning answer holds.
ANSWER_KEYS = ("thingName", "certificatePem", "caCertificatesPem", "endpoint", "region", "provisionedIn",
               "certificateId")


def _json(data: bytes, status: int) -> dict[str, Any]:
    """The API's JSON object, or a refusal naming what came back instead (a proxy's HTML page, say)."""
    try:
        answer = json.loads(data)
    except (ValueError, RecursionError):
        answer = None
    if not isinstance(answer, dict):
        return {"error": "NotTheProvisioningApi", "message": f"HTTP {status} with a body that is not the API's JSON "
                f"({data[:80]!r}): check --api (https://provision.<domain>/provision)"}
    return answer


def tls_key(out: Path, thing: str) -> tuple[ec.EllipticCurvePrivateKey, Path | None]:
    """The key to certify: the working ``<thing>.key`` if there is one (never replaced), else the pending key a
    previous run left, else a new pending key (0600). Returns (key, pending path or None for the working key)."""
    working, pending = out / f"{thing}.key", out / f"{thing}.key.pending"
    if working.exists():
        return _load_key(working), None
    if pending.exists():
        return _load_key(pending), pending
    return new_key(pending), pending


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as error:
        raise InputError(f"{path} is not an unencrypted PEM private key ({error}): move it away and run again to "
                         "make a new key (the device then needs `python -m ops allow-list reset` if it was "
                         "provisioned)") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InputError(f"{path} holds a {type(key).__name__}, not the EC key this tool makes: move it away and run "
                         "again to make a new one")
    return key


def _write_durably(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, flushed to disk, then an atomic rename."""
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def provision(url: str, thing: str, key_file: Path, out: Path, use_csr: bool = True, *,
              wait_seconds: float = WAIT_SECONDS) -> dict[str, Any]:
    """Provision ``thing`` for the device's own key; writes ``out/<thing>.crt``, ``out/ca.pem``, ``out/<thing>.json``
    (endpoint, region) and, once certified, ``out/<thing>.key`` (0600). ``use_csr`` is accepted for callers of the
    first version: a CSR is always sent. A refusal raises ``ProvisioningRefused`` and changes no key or certificate
    (a new key waits in ``<thing>.key.pending`` for the next run)."""
    signing_key = load_signing_key(key_file)  # InputError (exit 2): missing, not PEM, RSA, encrypted
    out.mkdir(parents=True, exist_ok=True)
    key, pending = tls_key(out, thing)
    csr_pem = make_csr(key, thing)
    answer = post(url, request_body(thing, signing_key, csr_pem), wait_seconds=wait_seconds,
                  resign=lambda: request_body(thing, signing_key, csr_pem))
    answer.pop("privateKeyPem", None)  # an API of the first version: never stored, the key is the device's
    if not certifies(answer["certificatePem"], key):
        raise ProvisioningRefused(200, {"error": "NotForThisKey", "message": (
            "the answer's certificate is not for the key this device sent: nothing was stored; check --api")})
    _write_durably(out / f"{thing}.crt", answer["certificatePem"])
    _write_durably(out / "ca.pem", answer["caCertificatesPem"])
    _write_durably(out / f"{thing}.json", json.dumps(
        {k: answer[k] for k in ("thingName", "endpoint", "region", "provisionedIn", "certificateId")}, indent=2))
    if pending is not None:  # certified and stored: the waiting key becomes the working key
        os.replace(pending, out / f"{thing}.key")
        _sync_folder(out)
    return answer


def cmd_provision(args: argparse.Namespace) -> int:
    check_url(args.api, "--api", "https://provision.<domain>/provision")  # InputError: cli.main exits 2
    check_thing_name(args.thing, "--thing")
    check_out_dir(args.out)
    try:
        answer = provision(args.api, args.thing, args.key, args.out)
    except ProvisioningRefused as refused:
        waiting = args.out / f"{args.thing}.key.pending"
        kept = f" (the new key waits in {waiting} for the next run)" if waiting.exists() else ""
        print(f"error: provisioning refused: {refused}{kept}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", None) or error
        print(f"error: cannot reach --api {args.api} ({reason}): check the URL and the network", file=sys.stderr)
        return 1
    print(f"provisioned {answer['thingName']}: region {answer['region']}, endpoint {answer['endpoint']}; "
          f"certificate {args.out / (args.thing + '.crt')}, key {args.out / (args.thing + '.key')}")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", required=True, help="the provisioning API URL (https://provision.<domain>/provision)")
    parser.add_argument("--thing", required=True, help="the thing name enrolled on the allow-list")
    parser.add_argument("--key", type=Path, required=True, help="the device's enrolled signing key (PEM)")
    parser.add_argument("--csr", action="store_true",
                        help="accepted for older scripts: the device always makes its TLS key here and sends a CSR")
    parser.add_argument("--out", type=Path, default=Path("device-out"), help="where to store what it gets")
    parser.set_defaults(handler=cmd_provision)


def register(commands: argparse._SubParsersAction) -> None:
    add_arguments(commands.add_parser("provision", help="get a certificate from the provisioning API"))


def main(argv: list[str] | None = None) -> int:
    from device.cli import main as device_main  # the same exit statuses and messages as python -m device provision

    return device_main(["provision", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
