"""The PKI directory on disk: init, loading the CA, issuing and signing into files.

Write order (so an interruption at any point leaves a consistent directory):

* a device or server: key and certificate are staged (temp + fsync), then the key is published,
  then the certificate (:mod:`pki.pairs`). A certificate is the proof of issuance; readers ignore
  a key without one.
* the index is updated last (and in batches), in a ``finally`` so completed work is recorded
  even when a batch is interrupted.
* every writing command holds the directory lock (:mod:`pki.lock`) and first runs
  :func:`pki.recovery.recover`, which removes temp files and keys without a certificate and
  indexes any certificate the index missed.
"""

from __future__ import annotations

import datetime as dt
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Sequence

from cryptography import x509

from pki import atomic, profiles
from pki.authority import DEFAULT_ORG, CertificateAuthority, IssuedCertificate, check_country, check_org
from pki.errors import PkiError
from pki.index import Index, IndexEntry
from pki.keys import (
    DEFAULT_KEY_TYPE,
    PASSPHRASE_ENV,
    check_key_type,
    keys_match,
    load_private_key,
    passphrase_from_env,
    private_key_pem,
)
from pki.layout import Layout
from pki.names import refuse_reserved, validate_fqdn, validate_thing_name
from pki.lock import locked
from pki.pairs import Staged, publish_pair, publish_staged, stage_all
from pki.pem import common_name_of, load_certificate
from pki.recovery import recover

INDEX_BATCH = 1000
"""A batch rewrites the index after this many devices (and at the end)."""
STAGE_BATCH = 250
"""Devices generated and staged (written + fsynced to temp files) together before publishing."""
STAGING_THREADS = 16


@dataclass(frozen=True)
class InitResult:
    """What :func:`init_pki` created."""

    layout: Layout
    authority: CertificateAuthority
    server: IssuedCertificate
    archived_to: Path | None


def _passphrase(passphrase: bytes | str | None, env_var: str) -> bytes | None:
    if passphrase is None:
        return passphrase_from_env(env_var)
    return passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase


def _read(path: Path, layout: Layout) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PkiError(f"{path} is missing: run {layout.init_hint()}") from None


# --- init -------------------------------------------------------------------------------------

def _existing_ca_files(layout: Layout) -> list[Path]:
    return [p for p in layout.ca_files() if p.exists()]


def _archive(layout: Layout) -> Path | None:
    """Move the current CA, its CRL, server, devices and index aside into archive/<UTC time>/."""
    movable = [*layout.ca_files(), layout.index, layout.crl, layout.server_dir, layout.devices_dir]
    present = [p for p in movable if p.exists()]
    if not present:
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    target = layout.archive_dir / stamp
    atomic.make_private_dir(layout.archive_dir)
    os.mkdir(target, atomic.DIR_MODE)
    os.chmod(target, atomic.DIR_MODE)
    for path in present:
        os.replace(path, target / path.name)
    atomic.fsync_dir(layout.root)
    return target


def init_pki(
    out_dir: Path,
    domain: str,
    *,
    org: str | None = DEFAULT_ORG,
    country: str | None = None,
    key_type: str = DEFAULT_KEY_TYPE,
    ca_key_type: str = DEFAULT_KEY_TYPE,
    server_days: int = profiles.SERVER_DAYS,
    force: bool = False,
    passphrase: bytes | str | None = None,
    passphrase_env: str = PASSPHRASE_ENV,
) -> InitResult:
    """Create root CA, intermediate CA, the server certificate for ``domain`` and the chain bundle.

    Refuses when ``out_dir`` already holds (part of) a CA unless ``force``, which moves the old
    material to ``archive/<time>/`` instead of destroying it. CA keys are encrypted with
    ``passphrase`` (default: the ``passphrase_env`` environment variable) when one is given.
    """
    layout = Layout(Path(out_dir))
    fqdn = validate_fqdn(domain)
    org, country = check_org(org), check_country(country)
    check_key_type(key_type)
    check_key_type(ca_key_type)
    secret = _passphrase(passphrase, passphrase_env)
    if server_days > profiles.SERVER_MAX_DAYS:
        raise PkiError(f"--days {server_days} is too long for a server certificate: at most {profiles.SERVER_MAX_DAYS}")
    with locked(layout):
        existing = _existing_ca_files(layout)
        archived = None
        if existing and not force:
            names = ", ".join(p.name for p in existing)
            if layout.root_cert.exists() and layout.intermediate_cert.exists():
                raise PkiError(f"{layout.root} already holds a CA ({names}): use --force to archive it and create a new one")
            raise PkiError(
                f"{layout.root} holds an incomplete CA ({names}), probably from an interrupted init: re-run with --force"
            )
        authority = CertificateAuthority.create(org=org, country=country, key_type=ca_key_type)
        server = authority.issue_server(fqdn, key_type=key_type, days=server_days)
        if force:
            archived = _archive(layout)
        atomic.make_private_dir(layout.server_dir)
        atomic.make_private_dir(layout.devices_dir)
        assert authority.root_key is not None
        writes = [
            (layout.root_key, private_key_pem(authority.root_key, secret), atomic.KEY_MODE),
            (layout.root_cert, authority.root_pem.encode(), atomic.PUBLIC_MODE),
            (layout.intermediate_key, private_key_pem(authority.intermediate_key, secret), atomic.KEY_MODE),
            (layout.intermediate_cert, authority.intermediate_pem.encode(), atomic.PUBLIC_MODE),
            (layout.chain, authority.chain_pem.encode(), atomic.PUBLIC_MODE),
        ]
        for path, data, mode in writes:
            atomic.write_atomic(path, data, mode=mode, sync_dir=False)
        atomic.fsync_dir(layout.root)
        publish_pair(layout.server_key(fqdn), layout.server_cert(fqdn), server)
        atomic.fsync_dir(layout.server_dir)
        index = Index(layout.index)
        for kind, certificate, cert_path, key_path in (
            ("root", authority.root_certificate, layout.root_cert, layout.root_key),
            ("intermediate", authority.intermediate_certificate, layout.intermediate_cert, layout.intermediate_key),
            ("server", server.certificate, layout.server_cert(fqdn), layout.server_key(fqdn)),
        ):
            index.add(IndexEntry.from_certificate(
                certificate, kind=kind, name=common_name_of(certificate) or "",
                certificate_path=layout.relative(cert_path), key_path=layout.relative(key_path), origin="generated",
            ))
        index.save()
    return InitResult(layout, authority, server, archived)


# --- loading ----------------------------------------------------------------------------------

def load_ca(
    pki_dir: Path, *, passphrase: bytes | str | None = None, passphrase_env: str = PASSPHRASE_ENV
) -> CertificateAuthority:
    """The CA of ``pki_dir``, ready to issue (root certificate, intermediate certificate and key).

    The intermediate key is decrypted with ``passphrase`` or, by default, the ``passphrase_env``
    environment variable.
    """
    layout = Layout(Path(pki_dir))
    root = load_certificate(_read(layout.root_cert, layout), source=str(layout.root_cert))
    intermediate = load_certificate(_read(layout.intermediate_cert, layout), source=str(layout.intermediate_cert))
    key_pem = _read(layout.intermediate_key, layout)
    key = load_private_key(key_pem, source=str(layout.intermediate_key), passphrase=_passphrase(passphrase, passphrase_env))
    if not keys_match(key, intermediate.public_key()):
        raise PkiError(f"{layout.intermediate_key} does not match {layout.intermediate_cert}: restore the right key or re-run init --force")
    subject = intermediate.subject
    org = subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    country = subject.get_attributes_for_oid(x509.NameOID.COUNTRY_NAME)
    return CertificateAuthority(
        root, intermediate, key, None,
        str(org[0].value) if org else None, str(country[0].value) if country else None,
    )


# --- issuing ----------------------------------------------------------------------------------

def _issue_unique(index: Index, make: Callable[[], IssuedCertificate]) -> IssuedCertificate:
    """Issue, re-issuing in the (astronomically unlikely) case the random serial was used before."""
    for _ in range(5):
        issued = make()
        if not index.has_serial(issued.certificate.serial_number):
            return issued
    raise PkiError("could not draw an unused serial number: the index looks corrupted")


def _check_free(layout: Layout, names: Sequence[str], force: bool) -> None:
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1}) if len(names) < 10000 else ["(several)"]
        raise PkiError(f"duplicate device names requested: {', '.join(dupes[:5])}")
    if force:
        return
    taken = [n for n in names if layout.device_cert(n).exists()]
    if taken:
        more = f" and {len(taken) - 3} more" if len(taken) > 3 else ""
        raise PkiError(
            f"device {', '.join(taken[:3])}{more} already has a certificate in {layout.devices_dir}: "
            "choose other names or use --force to replace"
        )


def _remove_previous(layout: Layout, name: str) -> None:
    """--force: withdraw the old certificate before its key, so no mismatched pair is ever visible."""
    layout.device_cert(name).unlink(missing_ok=True)
    layout.device_key(name).unlink(missing_ok=True)


def issue_device_certificates(
    out_dir: Path,
    names: Sequence[str],
    *,
    key_type: str = DEFAULT_KEY_TYPE,
    days: int = profiles.DEVICE_DAYS,
    force: bool = False,
    passphrase: bytes | str | None = None,
    passphrase_env: str = PASSPHRASE_ENV,
    authority: CertificateAuthority | None = None,
) -> list[IssuedCertificate]:
    """Issue a key and certificate for every name into ``out_dir/devices`` and record them.

    All names are validated and checked for clashes before anything is written; an existing
    device is an error unless ``force``. ``authority`` saves re-loading the CA between calls.
    """
    layout = Layout(Path(out_dir))
    names = list(names)
    if not names:
        raise PkiError("no device names given")
    for name in names:
        refuse_reserved(validate_thing_name(name), canary=True)
    ca = authority or load_ca(layout.root, passphrase=passphrase, passphrase_env=passphrase_env)
    issued: list[IssuedCertificate] = []
    with locked(layout):
        index = Index.load(layout.index)
        recover(layout, index, ca)
        _check_free(layout, names, force)
        atomic.make_private_dir(layout.devices_dir)
        pending = 0
        batch: list[Staged] = []
        try:
            with ThreadPoolExecutor(max_workers=STAGING_THREADS) as pool:
                for start in range(0, len(names), STAGE_BATCH):
                    batch = []
                    for name in names[start:start + STAGE_BATCH]:
                        device = _issue_unique(index, lambda name=name: ca.issue_device(name, key_type=key_type, days=days))
                        batch.append(Staged(device, layout.device_key(name), layout.device_cert(name)))
                    stage_all(pool, batch)
                    for staged in batch:
                        if force:
                            _remove_previous(layout, staged.issued.name)
                        publish_staged(staged)
                        index.add(_entry(layout, staged.issued, "generated"))
                        issued.append(staged.issued)
                        pending += 1
                    if pending >= INDEX_BATCH:
                        atomic.fsync_dir(layout.devices_dir)
                        index.save()
                        pending = 0
        finally:
            for staged in batch:
                staged.discard()  # staged but never published because of an interruption
            if pending:
                atomic.fsync_dir(layout.devices_dir)
                index.save()
    return issued


def issue_server_certificate(
    out_dir: Path,
    domain: str,
    *,
    key_type: str = DEFAULT_KEY_TYPE,
    days: int = profiles.SERVER_DAYS,
    force: bool = False,
    passphrase: bytes | str | None = None,
    passphrase_env: str = PASSPHRASE_ENV,
) -> IssuedCertificate:
    """Issue (or with ``force`` renew) the server certificate for ``domain`` from the existing CA.

    Server certificates live at most 397 days while the CA lives for years: renew with this, not
    with ``init --force`` (which makes a new CA that every device would have to trust anew).
    """
    layout = Layout(Path(out_dir))
    fqdn = validate_fqdn(domain)
    check_key_type(key_type)
    ca = load_ca(layout.root, passphrase=passphrase, passphrase_env=passphrase_env)
    with locked(layout):
        index = Index.load(layout.index)
        recover(layout, index, ca)
        if layout.server_cert(fqdn).exists() and not force:
            raise PkiError(
                f"{layout.server_cert(fqdn)} already exists: use --force to renew it (the old one moves out of use)"
            )
        server = _issue_unique(index, lambda: ca.issue_server(fqdn, key_type=key_type, days=days))
        atomic.make_private_dir(layout.server_dir)
        layout.server_cert(fqdn).unlink(missing_ok=True)  # withdraw the old certificate before its key
        layout.server_key(fqdn).unlink(missing_ok=True)
        publish_pair(layout.server_key(fqdn), layout.server_cert(fqdn), server)
        atomic.fsync_dir(layout.server_dir)
        index.add(IndexEntry.from_certificate(
            server.certificate, kind="server", name=fqdn,
            certificate_path=layout.relative(layout.server_cert(fqdn)),
            key_path=layout.relative(layout.server_key(fqdn)), origin="generated",
        ))
        index.save()
    return server


def sign_csr_file(
    out_dir: Path,
    csr_data: bytes,
    *,
    days: int = profiles.DEVICE_DAYS,
    force: bool = False,
    passphrase: bytes | str | None = None,
    passphrase_env: str = PASSPHRASE_ENV,
) -> tuple[IssuedCertificate, Path]:
    """Sign a device's CSR into ``out_dir/devices/<CN>.crt``; returns the certificate and its path."""
    layout = Layout(Path(out_dir))
    ca = load_ca(layout.root, passphrase=passphrase, passphrase_env=passphrase_env)
    with locked(layout):
        index = Index.load(layout.index)
        recover(layout, index, ca)
        device = _issue_unique(index, lambda: ca.sign_csr(csr_data, days=days))
        refuse_reserved(device.name)  # a CSR naming itself a canary: nothing is written
        _check_free(layout, [device.name], force)
        atomic.make_private_dir(layout.devices_dir)
        if force:
            _remove_previous(layout, device.name)
        publish_pair(layout.device_key(device.name), layout.device_cert(device.name), device)
        atomic.fsync_dir(layout.devices_dir)
        index.add(_entry(layout, device, "csr"))
        index.save()
    return device, layout.device_cert(device.name)


def _entry(layout: Layout, device: IssuedCertificate, origin: str) -> IndexEntry:
    key = layout.relative(layout.device_key(device.name)) if device.private_key is not None else None
    return IndexEntry.from_certificate(
        device.certificate, kind="device", name=device.name,
        certificate_path=layout.relative(layout.device_cert(device.name)), key_path=key, origin=origin,
    )
