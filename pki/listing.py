"""``list``: what has been issued, with a status computed from the files on disk."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from pki.errors import PkiError
from pki.index import Index
from pki.layout import Layout
from pki.pem import common_name_of, load_certificate

KIND_ORDER = {"root": 0, "intermediate": 1, "server": 2, "device": 3}


@dataclass(frozen=True)
class Listed:
    """One row of ``list``.

    ``status``: ``valid``, ``expired``, ``not-yet-valid``, ``replaced`` (the file now holds a newer
    certificate), ``missing`` (the file is gone) or ``unindexed`` (on disk, not yet in the index;
    the next writing command indexes it).
    """

    kind: str
    name: str
    serial: str
    not_after: str
    status: str
    certificate: str


def _time_status(not_before: dt.datetime, not_after: dt.datetime, now: dt.datetime) -> str:
    if now < not_before:
        return "not-yet-valid"
    return "expired" if now > not_after else "valid"


def list_certificates(pki_dir: Path, *, now: dt.datetime | None = None) -> list[Listed]:
    """Every certificate recorded in (or found beside) the index of ``pki_dir``."""
    layout = Layout(Path(pki_dir))
    if not layout.index.exists() and not layout.root_cert.exists():
        raise PkiError(f"{layout.root} holds no PKI: run {layout.init_hint()}")
    now = now or dt.datetime.now(dt.UTC)
    index = Index.load(layout.index)
    rows: list[Listed] = []
    seen_files: set[str] = set()
    serial_on_disk: dict[str, str | None] = {}
    for entry in index.entries.values():
        path = layout.root / entry.certificate
        if entry.certificate not in serial_on_disk:
            try:
                serial_on_disk[entry.certificate] = f"{load_certificate(path.read_bytes()).serial_number:x}"
            except (OSError, PkiError):
                serial_on_disk[entry.certificate] = None
        on_disk = serial_on_disk[entry.certificate]
        if on_disk is None:
            status = "missing"
        elif on_disk != entry.serial:
            status = "replaced"
        else:
            status = _time_status(dt.datetime.fromisoformat(entry.not_before), dt.datetime.fromisoformat(entry.not_after), now)
            seen_files.add(entry.certificate)
        rows.append(Listed(entry.kind, entry.name, entry.serial, entry.not_after, status, entry.certificate))
    for directory, kind in ((layout.server_dir, "server"), (layout.devices_dir, "device")):
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.crt")):
            relative = layout.relative(path)
            if relative in seen_files:
                continue
            try:
                certificate = load_certificate(path.read_bytes())
            except (OSError, PkiError):
                rows.append(Listed(kind, path.stem, "", "", "unreadable", relative))
                continue
            rows.append(Listed(
                kind, common_name_of(certificate) or path.stem, f"{certificate.serial_number:x}",
                certificate.not_valid_after_utc.isoformat(), "unindexed", relative,
            ))
    rows.sort(key=lambda r: (KIND_ORDER.get(r.kind, 9), r.name, r.status != "valid"))
    return rows
