"""``python -m ops allow-list import REGION FILE`` / ``add REGION THING KEY``: enrol devices on the allow-list.

FILE holds one JSON object per line, ``{"thingName": "...", "verifyingKey": "<PEM public key>"}``: the device's
own verifying key (Ed25519 or EC P-256/P-384), recorded at manufacturing. Each entry is written ``unprovisioned``
only if the thing is not enrolled yet (a conditional put): importing a file twice changes nothing, and never
resets a device that was provisioned. The allow-list is a global table: importing in one region enrols everywhere.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from components.naming import Names
from functions.provisioning_api.allow_list import enrol_item
from functions.provisioning_api.request import THING_NAME
from ops.clients import DEFAULT_APPLICATION, client_factory


class EntryError(ValueError):
    """A line of the file is not a valid entry (the message names the line)."""


@dataclass
class ImportReport:
    enrolled: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    region: str = ""

    @property
    def ok(self) -> bool:
        return True  # an entry already enrolled is left as it is, by design

    def to_json(self) -> dict[str, Any]:
        return {"command": "allow-list", "region": self.region, "enrolled": self.enrolled,
                "alreadyEnrolled": self.already}


def entry(thing_name: str, verifying_key_pem: str) -> dict[str, str]:
    """One line of an allow-list file (what manufacturing emits for a device)."""
    return {"thingName": thing_name, "verifyingKey": verifying_key_pem}


def parse(lines: Iterable[str]) -> list[dict[str, str]]:
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
            thing, pem = value["thingName"], value["verifyingKey"]
        except (ValueError, KeyError, TypeError):
            raise EntryError(f"line {number}: not an object with thingName and verifyingKey") from None
        if not isinstance(thing, str) or not THING_NAME.fullmatch(thing):
            raise EntryError(f"line {number}: {thing!r} is not a thing name")
        try:
            key = serialization.load_pem_public_key(str(pem).encode())
        except ValueError:
            raise EntryError(f"line {number}: verifyingKey of {thing} is not a PEM public key") from None
        if not (isinstance(key, ed25519.Ed25519PublicKey) or (isinstance(key, ec.EllipticCurvePublicKey)
                                                              and key.curve.name in ("secp256r1", "secp384r1"))):
            raise EntryError(f"line {number}: the key of {thing} must be Ed25519 or EC P-256/P-384")
        entries.append({"thingName": thing, "verifyingKey": pem})
    return entries


def import_entries(dynamodb: Any, table: str, entries: list[dict[str, str]]) -> ImportReport:
    report, now = ImportReport(), dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    for item in entries:
        try:
            dynamodb.put_item(TableName=table, Item=enrol_item(item["thingName"], item["verifyingKey"], now),
                              ConditionExpression="attribute_not_exists(ThingName)")
            report.enrolled.append(item["thingName"])
        except dynamodb.exceptions.ConditionalCheckFailedException:
            report.already.append(item["thingName"])
    return report


def read_entries(action: str, *, file: Path | None = None, thing: str | None = None,
                 key_file: Path | None = None) -> list[dict[str, str]]:
    """The entries an ``import`` (a JSON-lines file) or an ``add`` (one thing and its PEM public key) names."""
    try:
        if action == "import":
            assert file is not None
            return parse(file.read_text().splitlines())
        assert thing is not None and key_file is not None
        return parse([json.dumps(entry(thing, key_file.read_text()))])
    except OSError as error:
        raise EntryError(f"cannot read {error.filename}: {error.strerror}") from None


def enrol(source: Any, region: str, entries: list[dict[str, str]], *,
          application: str = DEFAULT_APPLICATION) -> ImportReport:
    """Enrol ``entries`` through ``region``'s replica of the allow-list (a global table: every region sees them)."""
    report = import_entries(client_factory(source)("dynamodb", region), Names(application).allow_list_table, entries)
    report.region = region
    return report
