"""The certificate revocation list (``DIR/crl.pem``): the serials our intermediate CA revoked.

``python -m pki revoke NAME`` adds the serial of ``devices/NAME.crt`` (a key stolen at the factory, a device
that must never be onboarded). The CRL is an X.509 v2 CRL signed by the intermediate (the CA registered in
IoT, whose certificates the inspector checks), with a CRL number that grows with every change. It is
replaced atomically (:mod:`pki.atomic`) under the directory lock; revoking a serial already listed changes
nothing (idempotent). ``nextUpdate`` is the intermediate's own expiry: the list's only consumer, the
certificate inspector, re-reads the published copy every minute, so staleness is governed by publishing
(``pulumi up``), not by the CRL's dates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pki import atomic
from pki.authority import CertificateAuthority
from pki.errors import PkiError
from pki.keys import PASSPHRASE_ENV, signature_hash
from pki.layout import Layout
from pki.lock import locked
from pki.names import validate_thing_name
from pki.pem import load_certificate
from pki.store import load_ca


@dataclass(frozen=True)
class Revocation:
    """The outcome of :func:`revoke_device`."""

    name: str
    serial: str
    revoked_at: dt.datetime
    already: bool  # True: it was listed before and crl.pem was left unchanged
    crl_path: Path


def load_crl(path: Path, issuer: x509.Certificate) -> x509.CertificateRevocationList:
    """Read one CRL and check it is ``issuer``'s and validly signed; raise :class:`PkiError` otherwise."""
    data = path.read_bytes()
    if data.count(b"-----BEGIN X509 CRL-----") != 1:
        raise PkiError(f"{path} must hold exactly one PEM CRL (-----BEGIN X509 CRL-----): restore it from a "
                       "backup or move it aside and revoke again")
    try:
        crl = x509.load_pem_x509_crl(data)
    except ValueError as exc:
        raise PkiError(f"{path} is not a readable certificate revocation list ({exc})") from None
    signer = issuer.public_key()
    if crl.issuer != issuer.subject or not isinstance(signer, ec.EllipticCurvePublicKey | rsa.RSAPublicKey) \
            or not crl.is_signature_valid(signer):
        raise PkiError(f"{path} is not signed by this directory's intermediate CA ({issuer.subject.rfc4514_string()}): "
                       "it was altered or belongs to another CA; restore it from a backup")
    return crl


def _crl_number(crl: x509.CertificateRevocationList | None) -> int:
    if crl is None:
        return 0
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return 0


def build_crl(authority: CertificateAuthority, entries: dict[int, dt.datetime], number: int,
              now: dt.datetime) -> x509.CertificateRevocationList:
    """A CRL of ``entries`` (serial -> revocation date) signed by the intermediate."""
    intermediate = authority.intermediate_certificate
    ski = intermediate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(intermediate.subject)
        .last_update(now)
        .next_update(max(intermediate.not_valid_after_utc, now + dt.timedelta(days=1)))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
    )
    for serial, revoked_at in sorted(entries.items()):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revoked_at).build())
    key = authority.intermediate_key
    return builder.sign(key, signature_hash(key))


def revoke_device(out_dir: Path, name: str, *, passphrase: bytes | str | None = None,
                  passphrase_env: str = PASSPHRASE_ENV, now: dt.datetime | None = None) -> Revocation:
    """Add the serial of ``devices/NAME.crt`` to ``crl.pem`` (created if absent); idempotent."""
    layout = Layout(Path(out_dir))
    validate_thing_name(name)
    cert_path = layout.device_cert(name)
    if not cert_path.is_file():
        raise PkiError(f"no certificate for device {name!r} in {layout.devices_dir}: nothing to revoke "
                       f"(`python -m pki list --out {layout.root}` shows the devices)")
    authority = load_ca(layout.root, passphrase=passphrase, passphrase_env=passphrase_env)
    certificate = load_certificate(cert_path.read_bytes(), source=str(cert_path))
    try:
        certificate.verify_directly_issued_by(authority.intermediate_certificate)
    except Exception:  # noqa: BLE001 - any failure means "not ours"
        raise PkiError(f"{cert_path} was not issued by this directory's intermediate CA: revoke it with the CA "
                       "that issued it") from None
    moment = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    serial = certificate.serial_number
    with locked(layout):
        existing = load_crl(layout.crl, authority.intermediate_certificate) if layout.crl.exists() else None
        entries = {entry.serial_number: entry.revocation_date_utc for entry in existing or []}
        if serial in entries:
            return Revocation(name, f"{serial:x}", entries[serial], True, layout.crl)
        entries[serial] = moment
        crl = build_crl(authority, entries, _crl_number(existing) + 1, moment)
        atomic.write_atomic(layout.crl, crl.public_bytes(serialization.Encoding.PEM), mode=atomic.PUBLIC_MODE)
    return Revocation(name, f"{serial:x}", moment, False, layout.crl)


def revoked_serials(pki_dir: Path, issuer: x509.Certificate) -> dict[int, dt.datetime]:
    """Serial -> revocation date from ``crl.pem`` (empty when there is none)."""
    layout = Layout(Path(pki_dir))
    if not layout.crl.exists():
        return {}
    return {entry.serial_number: entry.revocation_date_utc for entry in load_crl(layout.crl, issuer)}
