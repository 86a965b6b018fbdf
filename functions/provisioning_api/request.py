"""The provisioning request: what the device sends, what its signature covers, how it is parsed from the event.

Body (JSON): ``thingName``, ``timestamp`` (integer seconds since the epoch), ``nonce`` (16 to 64 URL-safe characters,
new for every request), ``signature`` (base64) and ``csr`` (PEM, CN = the thing name). The signature covers
``contract.proofs.request_message`` (what the device signs: a fixed label, the thing name, the timestamp, the nonce
and the SHA-256 of the CSR), so a captured request can be neither re-aimed at another thing nor given another CSR.

The CSR is required (issue 21): the API certifies only a key the device made and keeps. A key the API generated
would travel once, in one response; lost with it, the entry would stay ``provisioned`` for a key nobody has. With a
CSR, a lost response is answered again to any request that certifies the same key (the certificate is public).

Malformed input is refused with ``BadRequest`` (HTTP 400), never an exception: the body is capped at
``MAX_BODY_BYTES`` and its JSON nesting at ``MAX_DEPTH`` before it is parsed (Python's parser recurses, and a deep
enough body raises ``RecursionError``), text must be UTF-8, every string field ASCII (a JSON escape such as
``\\ud800`` would otherwise smuggle in a lone surrogate), and every field has one type and range.

The client's address is API Gateway's ``requestContext.http.sourceIp`` (payload format 2.0), never a header: a
client can write ``X-Forwarded-For`` but not the address its TCP connection comes from.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping

from contract import names, proofs

MAX_BODY_BYTES = 16 * 1024
#: The body is one flat object; nesting deeper than this is refused before the JSON parser sees it.
MAX_DEPTH = 4
#: Seconds since the epoch, 1970 up to the year 5138: outside, the value is not a time (freshness is checked later).
MAX_TIMESTAMP = 10 ** 11
CSR_REQUIRED = ("csr is required: make the device's TLS key on the device and send a PEM certificate signing "
                "request whose CN is the thing name (python -m device provision does); a key made by the API could "
                "not be answered again after a lost response")


class BadRequest(Exception):
    """The request is malformed; the message says which field and why."""


@dataclass(frozen=True)
class ProvisioningRequest:
    """A well-formed request (not yet authenticated): every field has its type; ``csr_pem`` is not yet checked."""

    thing_name: str
    timestamp: int
    nonce: str
    signature: bytes
    csr_pem: str
    source_ip: str

    @property
    def message(self) -> bytes:
        return proofs.request_message(self.thing_name, self.timestamp, self.nonce, self.csr_pem)

    @property
    def digest(self) -> str:
        """What identifies this exact request (a retry of it has the same digest)."""
        return hashlib.sha256(self.message + b"\n" + self.signature).hexdigest()


#: The body's string fields: each must be ASCII (JSON's ``\\ud800`` escape decodes to a lone surrogate, which
#: valid UTF-8 text can carry and ``str.encode`` then refuses).
FIELDS = ("thingName", "nonce", "signature", "csr")


def parse_body(body: Mapping[str, Any], source_ip: str) -> ProvisioningRequest:
    """Validate the JSON body's fields (each error names the field)."""
    for field in FIELDS:
        value = body.get(field)
        if isinstance(value, str) and not value.isascii():
            raise BadRequest(f"{field} must be ASCII text (a PEM, base64 or a name); it has other characters")
    thing = body.get("thingName")
    if not names.is_thing_name(thing):
        raise BadRequest("thingName must be 1-128 letters, digits, ':', '_' or '-'")
    reserved = names.refusal(thing)
    if reserved:
        raise BadRequest(f"thingName {reserved}")
    timestamp = body.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or not 0 <= timestamp < MAX_TIMESTAMP:
        raise BadRequest("timestamp must be an integer number of seconds since the epoch (now)")
    nonce = body.get("nonce")
    if not isinstance(nonce, str) or not proofs.NONCE.fullmatch(nonce):
        raise BadRequest("nonce must be 16-64 URL-safe base64 characters, new for every request")
    raw_signature = body.get("signature")
    try:
        signature = base64.b64decode(raw_signature, validate=True) if isinstance(raw_signature, str) else b""
    except (binascii.Error, ValueError):
        signature = b""
    if not signature:
        raise BadRequest("signature must be the base64 signature of the request (see contract.proofs.request_message)")
    csr = body.get("csr")
    if csr is None:
        raise BadRequest(CSR_REQUIRED)
    if not isinstance(csr, str) or "-----BEGIN CERTIFICATE REQUEST-----" not in csr:
        raise BadRequest("csr must be a PEM certificate signing request (-----BEGIN CERTIFICATE REQUEST-----)")
    return ProvisioningRequest(thing, timestamp, nonce, signature, csr, source_ip)


def nesting_depth(text: str, limit: int) -> int:
    """The deepest nesting of JSON arrays and objects in ``text`` (brackets inside strings do not count), stopping
    as soon as it exceeds ``limit``: linear, no recursion, so it is safe on any input."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif char in "]}":
            depth -= 1
    return deepest


def from_event(event: Mapping[str, Any]) -> ProvisioningRequest:
    """An API Gateway HTTP API event (payload format 2.0) to a request. The source IP is the connection's."""
    try:
        source_ip = event["requestContext"]["http"]["sourceIp"]
    except (KeyError, TypeError):
        raise BadRequest("the event has no requestContext.http.sourceIp (not an HTTP API payload 2.0 event)") from None
    raw = event.get("body")
    if raw is None:
        raise BadRequest("the body is empty: POST a JSON object (thingName, timestamp, nonce, signature, csr)")
    if not isinstance(raw, str) or not isinstance(source_ip, str):
        raise BadRequest("the event's body and sourceIp must be strings (an HTTP API payload 2.0 event)")
    if len(raw) > 2 * MAX_BODY_BYTES:  # base64 grows by a third; anything longer is too big either way
        raise BadRequest(f"the body exceeds {MAX_BODY_BYTES} bytes")
    try:
        data = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw.encode("utf-8")
        text = data.decode("utf-8")
    except (ValueError, UnicodeError):  # binascii.Error is a ValueError; lone surrogates fail to encode
        raise BadRequest("the body is not UTF-8 JSON text (base64-encoded only when isBase64Encoded)") from None
    if len(data) > MAX_BODY_BYTES:
        raise BadRequest(f"the body exceeds {MAX_BODY_BYTES} bytes")
    if nesting_depth(text, MAX_DEPTH) > MAX_DEPTH:
        raise BadRequest(f"the body nests deeper than {MAX_DEPTH} levels: send one flat JSON object")
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):  # ValueError covers integers longer than Python's 4,300 digits too
        raise BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return parse_body(body, source_ip)
