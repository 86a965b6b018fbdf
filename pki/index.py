"""``index.json``: the record of serials and issued certificates.

Written last and atomically, so it may *lag* the certificate files after an interruption but is
never corrupt. Readers are tolerant of that lag: a certificate file missing from the index is
reported (and re-indexed by the next writing command, see :func:`pki.store.recover`), and a
certificate's status is computed from the file on disk, not trusted from the index.

Format (``"format": 1``)::

    {"format": 1,
     "certificates": {"<serial hex>": {"kind": "root|intermediate|server|device", "name": ...,
        "serial": "<hex>", "not_before": ISO, "not_after": ISO, "certificate_id": "<sha256 hex>",
        "certificate": "devices/NAME.crt", "key": "devices/NAME.key" | null,
        "origin": "generated|csr|recovered", "issued_at": ISO}}}
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pki.atomic import PUBLIC_MODE, write_atomic
from pki.errors import PkiError

INDEX_FORMAT = 1


@dataclass(frozen=True)
class IndexEntry:
    """One issued certificate as the index records it."""

    kind: str
    name: str
    serial: str
    not_before: str
    not_after: str
    certificate_id: str
    certificate: str
    key: str | None
    origin: str
    issued_at: str

    @classmethod
    def from_certificate(
        cls, certificate: x509.Certificate, *, kind: str, name: str, certificate_path: str,
        key_path: str | None, origin: str,
    ) -> IndexEntry:
        """The entry describing ``certificate`` stored at ``certificate_path``."""
        der = certificate.public_bytes(serialization.Encoding.DER)
        return cls(
            kind=kind,
            name=name,
            serial=f"{certificate.serial_number:x}",
            not_before=certificate.not_valid_before_utc.isoformat(),
            not_after=certificate.not_valid_after_utc.isoformat(),
            certificate_id=hashlib.sha256(der).hexdigest(),
            certificate=certificate_path,
            key=key_path,
            origin=origin,
            issued_at=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        )


class Index:
    """The certificates of one PKI directory, keyed by serial (hex)."""

    def __init__(self, path: Path, entries: dict[str, IndexEntry] | None = None) -> None:
        self.path = path
        self.entries: dict[str, IndexEntry] = entries or {}

    @classmethod
    def load(cls, path: Path) -> Index:
        """Read the index; a missing file is an empty index, an unreadable one an error."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path)
        try:
            document = json.loads(text)
            if document.get("format") != INDEX_FORMAT:
                raise ValueError(f"unknown format {document.get('format')!r}")
            entries = {serial: IndexEntry(**fields) for serial, fields in document["certificates"].items()}
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise PkiError(
                f"{path} is not a valid PKI index ({exc}): move it aside; the next issue-device or "
                "sign-csr rebuilds it from the certificate files"
            ) from exc
        return cls(path, entries)

    def save(self) -> None:
        """Atomically replace the index file with the current entries."""
        document = {
            "format": INDEX_FORMAT,
            "certificates": {serial: asdict(entry) for serial, entry in self.entries.items()},
        }
        write_atomic(self.path, (json.dumps(document, indent=1) + "\n").encode("utf-8"), mode=PUBLIC_MODE)

    def add(self, entry: IndexEntry) -> None:
        """Record ``entry``; a serial is never reused, so a clash is a bug worth stopping for."""
        existing = self.entries.get(entry.serial)
        if existing is not None and existing.certificate_id != entry.certificate_id:
            raise PkiError(f"serial {entry.serial} is already used by {existing.certificate}; refusing to reuse it")
        self.entries[entry.serial] = entry

    def has_serial(self, serial: int) -> bool:
        """True if a certificate with ``serial`` was already recorded."""
        return f"{serial:x}" in self.entries

    def latest(self, kind: str, name: str) -> IndexEntry | None:
        """The most recently recorded entry for ``kind``/``name``."""
        found = None
        for entry in self.entries.values():
            if entry.kind == kind and entry.name == name:
                found = entry
        return found
