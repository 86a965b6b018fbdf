"""Manufacturing-side enrolment for the provisioning API: each device gets its own request-signing key (Ed25519),
kept with the device's files (0600), and its allow-list entry (the verifying key) is written to
``<out>/allow-list.jsonl``, the file ``python -m ops allow-list import REGION FILE`` loads.

Idempotent: a device that already has a signing key keeps it (its entry is written again from that key), so
running a batch twice yields the same file. One key per device, never a shared one (docs/design.md, provisioning API).
"""
from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from pki.atomic import KEY_MODE, PUBLIC_MODE, make_private_dir, write_atomic
from pki.errors import PkiError
from pki.names import refuse_reserved, validate_thing_name

ALLOW_LIST_FILE = "allow-list.jsonl"


def signing_key_path(out: Path, name: str) -> Path:
    return out / "devices" / f"{name}.provisioning.key"


def _signing_key(path: Path) -> ed25519.Ed25519PrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise PkiError(f"{path} is not an Ed25519 key: remove it to make a new one")
        return key
    key = ed25519.Ed25519PrivateKey.generate()
    write_atomic(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()), mode=KEY_MODE)
    return key


def enrol(out: Path, names: list[str]) -> Path:
    """Make (or reuse) each device's signing key and write the allow-list entries of ``names``; returns the file."""
    for name in names:
        refuse_reserved(validate_thing_name(name))
    make_private_dir(out / "devices")
    lines = []
    for name in names:
        public = _signing_key(signing_key_path(out, name)).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        lines.append(json.dumps({"thingName": name, "verifyingKey": public}))
    path = out / ALLOW_LIST_FILE
    write_atomic(path, ("\n".join(lines) + "\n").encode(), mode=PUBLIC_MODE)
    return path
