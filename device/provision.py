"""``python -m device provision --api URL --thing NAME --key KEY [--csr] [--out DIR]``: ask the provisioning API
for a certificate and store what it returns.

``--key`` is the device's enrolled signing key (Ed25519 or EC, PEM), whose public half is on the allow-list; the
request (thing name, timestamp, a new nonce, the CSR's hash) is signed with it. With ``--csr`` (preferred) the
device makes its own TLS key in ``DIR/<thing>.key`` and sends only a CSR; without it the API generates the key and
returns it once. Keys are written 0600, atomically; a lost response is retried with the same signed request, which
the API answers with the same certificate (CSR mode).
"""
from __future__ import annotations

import argparse
import base64
import json
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from device.keys import csr_pem as make_csr
from device.keys import new_key, write_private

LABEL = "iotmr-provision-v1"  # = functions.provisioning_api.request.LABEL


class ProvisioningRefused(Exception):
    """The API answered with an error (status, error name, message)."""

    def __init__(self, status: int, body: dict[str, Any]):
        super().__init__(f"{status} {body.get('error', '')}: {body.get('message', body)}")
        self.status, self.body = status, body


def signed_message(thing: str, timestamp: int, nonce: str, csr_pem: str | None) -> bytes:
    import hashlib

    digest = hashlib.sha256(csr_pem.encode()).hexdigest() if csr_pem else "-"
    return "\n".join([LABEL, thing, str(timestamp), nonce, digest]).encode()


def sign(key: Any, message: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(message, ec.ECDSA(hashes.SHA256()))
    raise ValueError("the signing key must be Ed25519 or EC (PEM)")


def request_body(thing: str, signing_key: Any, csr_pem: str | None) -> dict[str, Any]:
    timestamp, nonce = int(time.time()), secrets.token_urlsafe(18)
    body = {"thingName": thing, "timestamp": timestamp, "nonce": nonce,
            "signature": base64.b64encode(sign(signing_key, signed_message(thing, timestamp, nonce, csr_pem))).decode()}
    if csr_pem:
        body["csr"] = csr_pem
    return body


def post(url: str, body: dict[str, Any], attempts: int = 3, timeout: float = 30) -> dict[str, Any]:
    """POST the signed request; connection failures are retried with the same body (same nonce)."""
    data = json.dumps(body).encode()
    for attempt in range(attempts):
        request = urllib.request.Request(url, data=data, method="POST", headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) URL given)
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            answer = json.loads(error.read() or b"{}")
            if error.code == 409 and answer.get("error") == "InProgress" and attempt < attempts - 1:
                time.sleep(2 ** attempt)
                continue
            raise ProvisioningRefused(error.code, answer) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            if attempt == attempts - 1:
                raise
            time.sleep(2 ** attempt)
    raise AssertionError("unreachable")


def provision(url: str, thing: str, key_file: Path, out: Path, use_csr: bool = True) -> dict[str, Any]:
    """Provision ``thing``; writes ``out/<thing>.crt``, ``out/<thing>.key`` (0600), ``out/ca.pem``,
    ``out/<thing>.json`` (endpoint, region); returns the API's answer without the private key."""
    signing_key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    csr_pem, key_path = None, out / f"{thing}.key"
    if use_csr:
        csr_pem = make_csr(new_key(key_path), thing)
    answer = post(url, request_body(thing, signing_key, csr_pem))
    if answer.get("privateKeyPem"):
        write_private(key_path, answer.pop("privateKeyPem"))
    (out / f"{thing}.crt").write_text(answer["certificatePem"])
    (out / "ca.pem").write_text(answer["caCertificatesPem"])
    (out / f"{thing}.json").write_text(json.dumps(
        {k: answer[k] for k in ("thingName", "endpoint", "region", "provisionedIn", "certificateId")}, indent=2))
    return answer


def cmd_provision(args: argparse.Namespace) -> int:
    try:
        answer = provision(args.api, args.thing, args.key, args.out, use_csr=args.csr)
    except ProvisioningRefused as refused:
        print(f"error: provisioning refused: {refused}", file=sys.stderr)
        return 1
    print(f"provisioned {answer['thingName']}: region {answer['region']}, endpoint {answer['endpoint']}; "
          f"certificate {args.out / (args.thing + '.crt')}, key {args.out / (args.thing + '.key')}")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", required=True, help="the provisioning API URL (https://provision.<domain>/provision)")
    parser.add_argument("--thing", required=True, help="the thing name enrolled on the allow-list")
    parser.add_argument("--key", type=Path, required=True, help="the device's enrolled signing key (PEM)")
    parser.add_argument("--csr", action="store_true", help="make the TLS key here and send a CSR (preferred)")
    parser.add_argument("--out", type=Path, default=Path("device-out"), help="where to store what it gets")
    parser.set_defaults(handler=cmd_provision)


def register(commands: argparse._SubParsersAction) -> None:
    add_arguments(commands.add_parser("provision", help="get a certificate from the provisioning API"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m device.provision", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
