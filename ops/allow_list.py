"""``python -m ops allow-list import REGION FILE`` / ``add REGION THING KEY``: enrol devices on the allow-list;
``reset REGION THING [--yes]``: let an enrolled device provision again.

FILE holds one JSON object per line, ``{"thingName": "...", "verifyingKey": "<PEM public key>"}``: the device's
own verifying key (Ed25519 or EC P-256/P-384), recorded at manufacturing. Each entry is written ``unprovisioned``
only if the thing is not enrolled yet (a conditional put): importing a file twice changes nothing, and never
resets a device that was provisioned. The allow-list is a global table: importing in one region enrols everywhere.

The whole file is checked before anything is written: a line that is not an entry, a reserved thing name
(``contract/names.py``: ``canary-``), or a thing named twice with two different keys (which of them the
device holds cannot be told) stops the import, naming the line(s). A thing named twice with the same key is one entry.

``reset`` (issue 21) is for a device the provisioning API cannot answer any more: it lost the key its certificate is
for (or an entry of the first version made its key and the response was lost), or an attempt left something the
device's own retries could not undo. With ``--yes`` it undoes every journaled attempt that did not commit, in the
region that made it (the same idempotent steps as the API: ``contract.registry.Provisioning.clean``), and puts the entry
back to ``unprovisioned``, recording as ``ReplacesCertificateId`` the certificate the inventory item names (ACTIVE).
The device's next request then takes the thing name over from that certificate: the inventory item names the new
one with the old one as ``PreviousCertificateId``, which every region's replicate machine revokes (the inventory's
rotation). Until then the old certificate keeps working. Refused (exit 1): an entry a request is provisioning right
now, a decommissioned device (inventory REVOKED). Without ``--yes`` it only says what it would do.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from contract import allow_list as entries
from contract import names
from contract.allow_list import enrol_item
from contract.registry import CleanupPending, Provisioning
from contract.resources import Names
from ops.clients import DEFAULT_APPLICATION, client_factory
from ops.errors import OpsError


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
    entries: list[dict[str, str]] = []
    seen: dict[str, tuple[int, bytes]] = {}  # thing -> (first line, its key's DER)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
            thing, pem = value["thingName"], value["verifyingKey"]
        except (ValueError, KeyError, TypeError, RecursionError):
            raise EntryError(f"line {number}: not an object with thingName and verifyingKey") from None
        if not names.is_thing_name(thing):
            raise EntryError(f"line {number}: {thing!r} is not a thing name")
        reserved = names.refusal(thing)
        if reserved:
            raise EntryError(f"line {number}: thingName {reserved}")
        try:
            key = serialization.load_pem_public_key(str(pem).encode())
        except ValueError:
            raise EntryError(f"line {number}: verifyingKey of {thing} is not a PEM public key") from None
        if not (isinstance(key, ed25519.Ed25519PublicKey) or (isinstance(key, ec.EllipticCurvePublicKey)
                                                              and key.curve.name in ("secp256r1", "secp384r1"))):
            raise EntryError(f"line {number}: the key of {thing} must be Ed25519 or EC P-256/P-384")
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if thing in seen:
            first, first_der = seen[thing]
            if first_der != der:
                raise EntryError(f"lines {first} and {number} both enrol {thing} with different verifying keys: keep "
                                 "only the line with the key the device holds")
            continue  # the same entry again
        seen[thing] = (number, der)
        entries.append({"thingName": thing, "verifyingKey": pem})
    return entries


def import_entries(dynamodb: Any, table: str, entries: list[dict[str, str]]) -> ImportReport:
    report, now = ImportReport(), dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
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
            return parse(_text(file).split("\n"))  # the lines an editor numbers (JSON may hold U+2028)
        assert thing is not None and key_file is not None
        try:
            return parse([json.dumps(entry(thing, _text(key_file)))])
        except EntryError as error:  # one entry from the command line: no line to name
            raise EntryError(str(error).removeprefix("line 1: ")) from None
    except OSError as error:
        raise EntryError(f"cannot read {error.filename}: {error.strerror}") from None


def _text(path: Path) -> str:
    """The file's text; JSON lines and PEM are UTF-8 (PEM is ASCII), so anything else is named, not a traceback."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise EntryError(f"{path} is not UTF-8 text (byte {error.start}, line {line}): save it as UTF-8 "
                         "(JSON lines for import, a PEM public key for add)") from None


def enrol(source: Any, region: str, entries: list[dict[str, str]], *,
          application: str = DEFAULT_APPLICATION) -> ImportReport:
    """Enrol ``entries`` through ``region``'s replica of the allow-list (a global table: every region sees them)."""
    report = import_entries(client_factory(source)("dynamodb", region), Names(application).allow_list_table, entries)
    report.region = region
    return report


@dataclass
class ResetReport:
    """What ``allow-list reset`` found and did (or, without ``--yes``, would do)."""

    region: str
    thing: str
    status: str = ""  # the entry's status as read
    certificate_id: str = ""  # the certificate the entry recorded as provisioned
    replaces: str = ""  # the certificate the next provisioning takes the name over from
    attempts: list[str] = field(default_factory=list)  # journaled attempts that did not commit (to undo)
    attempt_region: str = ""
    cleaned: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # attempts not undone yet, with why
    refused: str = ""  # why the entry was left as it was
    confirmed: bool = False
    done: bool = False  # the entry is unprovisioned as planned

    @property
    def ok(self) -> bool:
        return not self.refused and not self.left

    def to_json(self) -> dict[str, Any]:
        return {"command": "allow-list reset", "region": self.region, "thingName": self.thing, "status": self.status,
                "certificateId": self.certificate_id, "replacesCertificateId": self.replaces,
                "attempts": self.attempts, "attemptRegion": self.attempt_region, "cleaned": self.cleaned,
                "left": self.left, "refused": self.refused, "confirmed": self.confirmed, "done": self.done}


def reset(source: Any, region: str, thing: str, *, application: str = DEFAULT_APPLICATION, confirm: bool = False,
          clock: Callable[[], float] = time.time) -> ResetReport:
    """Plan (and with ``confirm`` do) the reset of ``thing``'s entry through ``region`` (module docstring)."""
    if not names.is_thing_name(thing):
        raise OpsError(f"{thing!r} is not a thing name: 1-128 letters, digits, ':', '_' or '-'")
    clients, physical = client_factory(source), Names(application)
    dynamodb = clients("dynamodb", region)
    entry = entries.read(dynamodb, physical.allow_list_table, thing)
    if entry is None:
        raise OpsError(f"{thing!r} is not on the allow-list ({physical.allow_list_table} in {region}): check THING and "
                       "--application; enrol it with `python -m ops allow-list add REGION THING KEY`")
    report = ResetReport(region, thing, status=entry.get("Status", ""), certificate_id=entry.get("CertificateId", ""),
                         confirmed=confirm)
    if entries.claim_is_fresh(entry, clock()):
        report.refused = (f"a request is provisioning {thing} right now (in progress since epoch "
                          f"{entry.get('ClaimedAt')}, through {entry.get('ClaimRegion')}): run this again after "
                          f"{entries.CLAIM_TIMEOUT_SECONDS} s")
        return report
    item = dynamodb.get_item(TableName=physical.inventory_table, Key={"ThingName": {"S": thing}},
                             ConsistentRead=True).get("Item") or {}
    current = item.get("CertificateId", {}).get("S", "")
    if item.get("Status", {}).get("S") == "REVOKED":
        report.refused = (f"{thing} was decommissioned (its inventory item is REVOKED): a decommissioned thing name is "
                          "not provisioned again; enrol the device under a new name")
        return report
    journaled = entries.attempts(entry)
    report.replaces = current if item.get("Status", {}).get("S") == "ACTIVE" else ""
    report.attempts = [cid for cid in journaled if cid != current]  # one the inventory names is committed: kept
    report.attempt_region = (entry.get(entries.ATTEMPT_REGION) or entry.get("ClaimRegion") or region) \
        if journaled else ""
    unchanged = (report.status == entries.UNPROVISIONED and not journaled and not entry.get("ClaimToken")
                 and report.replaces == (entry.get(entries.REPLACES) or ""))
    if unchanged or not confirm:
        report.done = unchanged
        return report
    if report.attempts:
        work = Provisioning(clients("iot", report.attempt_region), clients("dynamodb", report.attempt_region),
                            physical.inventory_table, physical.device_policy, report.attempt_region, "", "")
        for cid in report.attempts:
            try:
                work.clean(thing, cid, entry.get(entries.REPLACES) or None)
                report.cleaned.append(cid)
            except CleanupPending as pending:
                report.left.append(f"{cid}: {pending}; run this again in a few seconds (or the device's next "
                                   "request finishes it)")
    at = dt.datetime.fromtimestamp(clock(), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    forget = report.cleaned + [cid for cid in journaled if cid == current]
    report.done = entries.reset(dynamodb, physical.allow_list_table, thing, entry, replaces=report.replaces or None,
                                forget=forget, at=at)
    if not report.done:
        report.refused = f"the entry of {thing} changed while it was being reset (a request?): run this again"
    return report
