"""What a device signs with its enrolled key (the allow-list entry's ``VerifyingKey``) to prove it is the device.

Two wire formats, each made on the device and checked in a Lambda, so each is written once here:

The provisioning API's request (``python -m device provision``: ``device/provision.py`` signs;
``functions/provisioning_api/request.py`` and ``authenticity.py`` check)
    The device signs :func:`request_message`: :data:`REQUEST_LABEL`, the thing name, the timestamp (integer seconds
    since the epoch), the nonce and the SHA-256 of the CSR as sent (:func:`csr_digest`), joined by newlines. So a
    captured request can be neither re-aimed at another thing nor given another CSR.

The fleet provisioning CSR's enrolment proof (``python -m device fleet-provision`` and the tests make it with
``functions/fleet_provisioning/proof.py``; the certificate provider checks it)
    The value of the CSR's PKCS#9 ``challengePassword`` attribute (RFC 2985 section 5.4.1), which the CSR's own
    signature covers: ``v1.<timestamp>.<nonce>.<signature>`` (:func:`encode_fleet_proof`, at most 255 ASCII
    characters as the attribute allows), the signature (base64url, no padding) over :func:`fleet_message`: a fixed
    label, the serial, the timestamp, the nonce and the SHA-256 of the CSR key's SubjectPublicKeyInfo. So a proof
    names one serial and one key.

Both take a nonce of :data:`NONCE` (new for every request) and refuse a timestamp further than
:data:`MAX_AGE_SECONDS` from the Lambda's clock, either way (device clock skew).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re

#: 16-64 URL-safe base64 characters (``secrets.token_urlsafe(18)`` makes 24); use with ``fullmatch``.
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
#: A request or proof older or further in the future than this is refused (the provisioning API's window).
MAX_AGE_SECONDS = 300

# ---- the provisioning API's request --------------------------------------------------------------------------
REQUEST_LABEL = "iotmr-provision-v1"


def csr_digest(csr_pem: str | None) -> str:
    """SHA-256 (hex) of the CSR's PEM text as sent, ``-`` without one (requests of version 1 allowed that)."""
    return hashlib.sha256(csr_pem.encode()).hexdigest() if csr_pem else "-"


def request_message(thing_name: str, timestamp: int, nonce: str, csr_pem: str | None) -> bytes:
    """The bytes the device signs for the provisioning API."""
    return "\n".join([REQUEST_LABEL, thing_name, str(int(timestamp)), nonce, csr_digest(csr_pem)]).encode()


# ---- the fleet provisioning CSR's enrolment proof ------------------------------------------------------------
FLEET_LABEL = "iotmr-fleet-csr-v1"
FLEET_VERSION = "v1"
_FLEET_VALUE = re.compile(
    re.escape(FLEET_VERSION) + r"\.([0-9]{1,12})\.(" + NONCE.pattern + r")\.([A-Za-z0-9_-]{40,200})")


def fleet_message(serial: str, timestamp: int, nonce: str, key_digest: str) -> bytes:
    """The bytes the enrolled signing key signs for a fleet provisioning CSR (``key_digest``: SHA-256, hex, of the
    CSR key's DER SubjectPublicKeyInfo)."""
    return "\n".join([FLEET_LABEL, serial, str(int(timestamp)), nonce, key_digest]).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def encode_fleet_proof(timestamp: int, nonce: str, signature: bytes) -> str:
    """The challengePassword value."""
    if not NONCE.fullmatch(nonce):
        raise ValueError("the nonce must be 16-64 URL-safe base64 characters")
    return f"{FLEET_VERSION}.{int(timestamp)}.{nonce}.{_b64(signature)}"


def parse_fleet_proof(text: str) -> tuple[int, str, bytes]:
    """(timestamp, nonce, signature) of a challengePassword value; ``ValueError`` saying what is wrong."""
    found = _FLEET_VALUE.fullmatch(text)
    if found is None:
        raise ValueError("the CSR's challengePassword is not an enrolment proof (v1.<timestamp>.<nonce>.<signature>)")
    try:
        signature = base64.urlsafe_b64decode(found.group(3) + "=" * (-len(found.group(3)) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("the proof's signature is not base64url") from None
    return int(found.group(1)), found.group(2), signature
