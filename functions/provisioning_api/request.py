"""The provisioning request: what the device sends, what its signature covers, how it is parsed from the event.

Body (JSON): ``thingName``, ``timestamp`` (integer seconds since the epoch), ``nonce`` (16 to 64 URL-safe characters,
new for every request), ``signature`` (base64), and optionally ``csr`` (PEM). The signature covers
:func:`signed_message`: a fixed label, the thing name, the timestamp, the nonce and the SHA-256 of the CSR (``-``
without one), so a captured request can be neither re-aimed at another thing nor given another CSR.

The client's address is API Gateway's ``requestContext.http.sourceIp`` (payload format 2.0), never a header: a
client can write ``X-Forwarded-For`` but not the address its TCP connection comes from.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

LABEL = "iotmr-provision-v1"
THING_NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}")  # AWS IoT's thing name pattern
#: Thing names the program keeps for itself: each region's canary (builders/canary.py RESERVED_PREFIX).
RESERVED_PREFIX = "canary-"
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
MAX_BODY_BYTES = 16 * 1024


class BadRequest(Exception):
    """The request is malformed; the message says which field and why."""


@dataclass(frozen=True)
class ProvisioningRequest:
    thing_name: str
    timestamp: int
    nonce: str
    signature: bytes
    csr_pem: str | None
    source_ip: str

    @property
    def message(self) -> bytes:
        return signed_message(self.thing_name, self.timestamp, self.nonce, self.csr_pem)

    @property
    def digest(self) -> str:
        """What identifies this exact request (a retry of it has the same digest)."""
        return hashlib.sha256(self.message + b"\n" + self.signature).hexdigest()


def csr_digest(csr_pem: str | None) -> str:
    return hashlib.sha256(csr_pem.encode()).hexdigest() if csr_pem else "-"


def signed_message(thing_name: str, timestamp: int, nonce: str, csr_pem: str | None) -> bytes:
    """The bytes the device signs with its enrolled key."""
    return "\n".join([LABEL, thing_name, str(int(timestamp)), nonce, csr_digest(csr_pem)]).encode()


def parse_body(body: Mapping[str, Any], source_ip: str) -> ProvisioningRequest:
    """Validate the JSON body's fields (each error names the field)."""
    thing = body.get("thingName")
    if not isinstance(thing, str) or not THING_NAME.fullmatch(thing):
        raise BadRequest("thingName must be 1-128 letters, digits, ':', '_' or '-'")
    if thing.startswith(RESERVED_PREFIX):
        raise BadRequest(f"thingName may not start with {RESERVED_PREFIX!r}: reserved for the regions' canaries")
    timestamp = body.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise BadRequest("timestamp must be an integer number of seconds since the epoch")
    nonce = body.get("nonce")
    if not isinstance(nonce, str) or not NONCE.fullmatch(nonce):
        raise BadRequest("nonce must be 16-64 URL-safe base64 characters, new for every request")
    raw_signature = body.get("signature")
    try:
        signature = base64.b64decode(raw_signature, validate=True) if isinstance(raw_signature, str) else b""
    except (binascii.Error, ValueError):
        signature = b""
    if not signature:
        raise BadRequest("signature must be the base64 signature of the request (see request.signed_message)")
    csr = body.get("csr")
    if csr is not None and (not isinstance(csr, str) or "-----BEGIN CERTIFICATE REQUEST-----" not in csr):
        raise BadRequest("csr, when given, must be a PEM certificate signing request")
    return ProvisioningRequest(thing, timestamp, nonce, signature, csr, source_ip)


def from_event(event: Mapping[str, Any]) -> ProvisioningRequest:
    """An API Gateway HTTP API event (payload format 2.0) to a request. The source IP is the connection's."""
    try:
        source_ip = event["requestContext"]["http"]["sourceIp"]
    except (KeyError, TypeError):
        raise BadRequest("the event has no requestContext.http.sourceIp (not an HTTP API payload 2.0 event)") from None
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest("the body is not base64-encoded UTF-8 text") from None
    if len(raw.encode()) > MAX_BODY_BYTES:
        raise BadRequest(f"the body exceeds {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw)
    except ValueError:
        raise BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return parse_body(body, source_ip)
