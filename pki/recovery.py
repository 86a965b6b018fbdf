"""Repairing what an interrupted run can leave in a PKI directory."""

from __future__ import annotations

from pki import atomic
from pki.authority import CertificateAuthority
from pki.errors import PkiError
from pki.index import Index, IndexEntry
from pki.layout import Layout
from pki.pem import load_certificate


def recover(layout: Layout, index: Index, ca: CertificateAuthority | None = None) -> list[str]:
    """Repair what an interrupted run can leave behind; returns a line per repair.

    Removes temp files, removes device/server keys that have no certificate (their certificate
    was never published), and indexes certificates missing from the index. Saves the index when it
    changed. Call with the directory lock held.
    """
    actions = [f"removed temp file {layout.relative(p)}" for d in (layout.root, layout.server_dir, layout.devices_dir)
               for p in atomic.remove_stale_temps(d)]
    for directory, kind in ((layout.devices_dir, "device"), (layout.server_dir, "server")):
        if not directory.is_dir():
            continue
        for key in sorted(directory.glob("*.key")):
            if not key.with_suffix(".crt").exists():
                key.unlink(missing_ok=True)
                actions.append(f"removed {layout.relative(key)}: its certificate was never published")
        changed = False
        for cert_path in sorted(directory.glob("*.crt")):
            try:
                certificate = load_certificate(cert_path.read_bytes(), source=str(cert_path))
            except (PkiError, OSError):
                continue  # verify reports unreadable files; recovery only adds what it can read
            if index.has_serial(certificate.serial_number):
                continue
            if ca is not None and certificate.issuer != ca.intermediate_certificate.subject:
                continue
            key_path = cert_path.with_suffix(".key")
            index.add(IndexEntry.from_certificate(
                certificate, kind=kind, name=cert_path.stem,
                certificate_path=layout.relative(cert_path),
                key_path=layout.relative(key_path) if key_path.exists() else None, origin="recovered",
            ))
            actions.append(f"indexed {layout.relative(cert_path)}")
            changed = True
        if changed:
            index.save()
    return actions
