"""Verification of a PKI directory or given certificates: chain, validity, key usages, key match.

Each certificate gets its own list of problems (empty = fine) and notes (facts that are not
problems, e.g. a device key the device keeps itself). Our explicit checks produce specific
messages; on top, cryptography's RFC 5280 path validator must accept every leaf, so a flaw the
explicit checks do not know about still fails verification.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from pki import profiles
from pki.errors import PkiError
from pki.index import Index
from pki.keys import PASSPHRASE_ENV, is_encrypted_pem, keys_match, load_private_key, passphrase_from_env
from pki.layout import Layout
from pki.names import validate_thing_name
from pki.pem import common_name_of, load_certificate, load_certificates
from pki.revocation import load_crl


@dataclass
class Finding:
    """The outcome for one file."""

    path: str
    what: str = ""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Report:
    """All findings of one verification run."""

    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def problem_count(self) -> int:
        return sum(len(f.problems) for f in self.findings)

    def failed(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]


def _extension(certificate: x509.Certificate, kind: type) -> x509.Extension | None:
    try:
        return certificate.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return None


def _check_validity(certificate: x509.Certificate, now: dt.datetime, finding: Finding) -> None:
    if now < certificate.not_valid_before_utc:
        finding.problems.append(f"not valid before {certificate.not_valid_before_utc:%Y-%m-%d %H:%M:%SZ}")
    if now > certificate.not_valid_after_utc:
        finding.problems.append(f"expired on {certificate.not_valid_after_utc:%Y-%m-%d %H:%M:%SZ}")


def _check_serial(certificate: x509.Certificate, finding: Finding) -> None:
    serial = certificate.serial_number
    if serial <= 0 or serial.bit_length() > 159:
        finding.problems.append(f"serial {serial:x} is not a positive number of at most 20 bytes")


def _check_signed_by(certificate: x509.Certificate, issuer: x509.Certificate, issuer_name: str, finding: Finding) -> None:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        finding.problems.append(
            f"not issued by {issuer_name} (issuer: {certificate.issuer.rfc4514_string()})"
        )
        return
    ski = _extension(issuer, x509.SubjectKeyIdentifier)
    aki = _extension(certificate, x509.AuthorityKeyIdentifier)
    if aki is None:
        finding.problems.append("no authority key identifier")
    elif ski is not None and aki.value.key_identifier != ski.value.digest:
        finding.problems.append(f"authority key identifier does not match {issuer_name}'s subject key identifier")


def _check_key_identifier(certificate: x509.Certificate, finding: Finding) -> None:
    if _extension(certificate, x509.SubjectKeyIdentifier) is None:
        finding.problems.append("no subject key identifier")


def _check_ca(certificate: x509.Certificate, path_length: int, finding: Finding) -> None:
    constraints = _extension(certificate, x509.BasicConstraints)
    if constraints is None or not constraints.value.ca:
        finding.problems.append("basic constraints do not say CA")
    else:
        if not constraints.critical:
            finding.problems.append("basic constraints not critical")
        if constraints.value.path_length != path_length:
            finding.problems.append(f"path length is {constraints.value.path_length}, expected {path_length}")
    usage = _extension(certificate, x509.KeyUsage)
    if usage is None or not usage.value.key_cert_sign:
        finding.problems.append("key usage lacks keyCertSign")
    elif not usage.critical:
        finding.problems.append("key usage not critical")


def _check_leaf(certificate: x509.Certificate, purpose: x509.ObjectIdentifier, finding: Finding) -> None:
    constraints = _extension(certificate, x509.BasicConstraints)
    if constraints is None or constraints.value.ca or not constraints.critical:
        finding.problems.append("basic constraints must be present, critical and not CA")
    usage = _extension(certificate, x509.KeyUsage)
    if usage is None or not usage.value.digital_signature:
        finding.problems.append("key usage lacks digitalSignature")
    else:
        if not usage.critical:
            finding.problems.append("key usage not critical")
        if usage.value.key_cert_sign:
            finding.problems.append("a leaf certificate must not have keyCertSign")
    eku = _extension(certificate, x509.ExtendedKeyUsage)
    if eku is None or purpose not in eku.value:
        name = "serverAuth" if purpose == ExtendedKeyUsageOID.SERVER_AUTH else "clientAuth"
        finding.problems.append(f"extended key usage lacks {name}")


def _check_key_file(
    certificate: x509.Certificate, key_path: Path, finding: Finding, *, passphrase: bytes | None, label: str
) -> bool:
    """Check the key next to a certificate; returns False when there is no key file."""
    if not key_path.exists():
        return False
    pem = key_path.read_bytes()
    if is_encrypted_pem(pem) and passphrase is None:
        finding.notes.append(f"{label} is encrypted; set {PASSPHRASE_ENV} to check it matches")
        return True
    mode = key_path.stat().st_mode & 0o777
    if mode & 0o077:
        finding.problems.append(f"{label} is readable by others (mode {mode:o}); chmod 600 it")
    try:
        key = load_private_key(pem, source=label, passphrase=passphrase)
    except PkiError as exc:
        finding.problems.append(str(exc))
        return True
    if not keys_match(key, certificate.public_key()):
        finding.problems.append(f"{label} does not match the certificate's public key")
    return True


class _Verifier:
    """Holds the CA and settings for one run."""

    def __init__(self, layout: Layout, root: x509.Certificate, intermediate: x509.Certificate,
                 now: dt.datetime, passphrase: bytes | None, index: Index | None) -> None:
        self.layout, self.root, self.intermediate = layout, root, intermediate
        self.now, self.passphrase, self.index = now, passphrase, index
        self.revoked: dict[int, dt.datetime] = {}
        builder = verification.PolicyBuilder().store(verification.Store([root])).time(now)
        self.server_builder = builder
        ee_policy = verification.ExtensionPolicy.webpki_defaults_ee().may_be_present(
            x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None
        )
        self.client_builder = builder.extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy
        )

    def ca_findings(self) -> list[Finding]:
        layout = self.layout
        root = Finding(layout.relative(layout.root_cert), "root CA")
        _check_signed_by(self.root, self.root, "itself", root)
        _check_ca(self.root, 1, root)
        _check_key_identifier(self.root, root)
        _check_validity(self.root, self.now, root)
        _check_serial(self.root, root)
        if not _check_key_file(self.root, layout.root_key, root, passphrase=self.passphrase, label=layout.root_key.name):
            root.notes.append(f"{layout.root_key.name} not present (kept offline?)")
        inter = Finding(layout.relative(layout.intermediate_cert), "intermediate CA")
        _check_signed_by(self.intermediate, self.root, "the root CA", inter)
        _check_ca(self.intermediate, 0, inter)
        _check_key_identifier(self.intermediate, inter)
        _check_validity(self.intermediate, self.now, inter)
        _check_serial(self.intermediate, inter)
        if not _check_key_file(self.intermediate, layout.intermediate_key, inter,
                               passphrase=self.passphrase, label=layout.intermediate_key.name):
            inter.problems.append(f"{layout.intermediate_key.name} is missing: no certificate can be issued")
        chain = Finding(layout.relative(layout.chain), "chain bundle")
        try:
            bundle = load_certificates(layout.chain.read_bytes(), source=layout.chain.name)
            if bundle != [self.intermediate, self.root]:
                chain.problems.append("must hold exactly the intermediate then the root certificate")
        except FileNotFoundError:
            chain.problems.append(f"missing: run {layout.init_hint()} --force")
        except PkiError as exc:
            chain.problems.append(str(exc))
        return [root, inter, chain]

    def leaf_finding(self, cert_path: Path) -> Finding:
        finding = Finding(self.layout.relative(cert_path))
        try:
            certificate = load_certificate(cert_path.read_bytes(), source=cert_path.name)
        except (PkiError, OSError) as exc:
            finding.problems.append(str(exc))
            return finding
        eku = _extension(certificate, x509.ExtendedKeyUsage)
        purposes = list(eku.value) if eku else []
        cn = common_name_of(certificate) or ""
        in_devices = cert_path.parent.resolve() == self.layout.devices_dir.resolve()
        in_server = cert_path.parent.resolve() == self.layout.server_dir.resolve()
        if ExtendedKeyUsageOID.SERVER_AUTH in purposes and not in_devices:
            finding.what = f"server {cn}"
            self._server_checks(certificate, cn, cert_path, finding, in_server)
        elif ExtendedKeyUsageOID.CLIENT_AUTH in purposes or in_devices:
            finding.what = f"device {cn}"
            self._device_checks(certificate, cn, cert_path, finding, in_devices)
        else:
            finding.what = cn
            finding.problems.append("extended key usage has neither serverAuth nor clientAuth")
        _check_signed_by(certificate, self.intermediate, "the intermediate CA", finding)
        _check_key_identifier(certificate, finding)
        _check_validity(certificate, self.now, finding)
        _check_serial(certificate, finding)
        self._key_checks(certificate, cert_path, finding, in_devices or in_server)
        revoked_at = self.revoked.get(certificate.serial_number)
        if revoked_at is not None:
            finding.notes.append(f"revoked on {revoked_at:%Y-%m-%d %H:%M:%SZ} ({self.layout.crl.name})")
        if finding.ok:
            self._path_validation(certificate, cn, finding)
        return finding

    def _server_checks(self, certificate: x509.Certificate, cn: str, path: Path, finding: Finding, in_server: bool) -> None:
        _check_leaf(certificate, ExtendedKeyUsageOID.SERVER_AUTH, finding)
        san = _extension(certificate, x509.SubjectAlternativeName)
        names = san.value.get_values_for_type(x509.DNSName) if san else []
        if cn not in names:
            finding.problems.append(f"subject alternative names {names} do not include the CN {cn!r}")
        lifetime = (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days
        if lifetime > profiles.SERVER_MAX_DAYS:
            finding.problems.append(f"lifetime {lifetime} days exceeds {profiles.SERVER_MAX_DAYS}")
        if in_server and path.stem != cn:
            finding.problems.append(f"file name says {path.stem!r} but the CN is {cn!r}")

    def _device_checks(self, certificate: x509.Certificate, cn: str, path: Path, finding: Finding, in_devices: bool) -> None:
        _check_leaf(certificate, ExtendedKeyUsageOID.CLIENT_AUTH, finding)
        try:
            validate_thing_name(cn)
        except PkiError as exc:
            finding.problems.append(f"CN is not a valid thing name: {exc}")
        if in_devices and path.stem != cn:
            finding.problems.append(f"file name says {path.stem!r} but the CN is {cn!r}")

    def _key_checks(self, certificate: x509.Certificate, cert_path: Path, finding: Finding, managed: bool) -> None:
        key_path = cert_path.with_suffix(".key")
        if _check_key_file(certificate, key_path, finding, passphrase=None, label=key_path.name):
            return
        entry = self.index.entries.get(f"{certificate.serial_number:x}") if self.index else None
        if entry is not None and entry.key is None:
            finding.notes.append("signed from a CSR: the device keeps its key")
        elif managed:
            finding.problems.append(f"private key {key_path.name} is missing")
        else:
            finding.notes.append(f"no {key_path.name} next to it: key not checked")

    def _path_validation(self, certificate: x509.Certificate, cn: str, finding: Finding) -> None:
        try:
            if finding.what.startswith("server"):
                self.server_builder.build_server_verifier(x509.DNSName(cn)).verify(certificate, [self.intermediate])
            else:
                self.client_builder.build_client_verifier().verify(certificate, [self.intermediate])
        except verification.VerificationError as exc:
            finding.problems.append(f"path validation failed: {exc}")


def _crl_finding(layout: Layout, intermediate: x509.Certificate, verifier: _Verifier) -> Finding:
    """Check crl.pem: one CRL, issued and signed by the intermediate, not past its next update."""
    finding = Finding(layout.relative(layout.crl), "revocation list")
    try:
        crl = load_crl(layout.crl, intermediate)
    except PkiError as exc:
        finding.problems.append(str(exc))
        return finding
    verifier.revoked = {entry.serial_number: entry.revocation_date_utc for entry in crl}
    if crl.next_update_utc is not None and verifier.now > crl.next_update_utc:
        finding.problems.append(f"past its next update {crl.next_update_utc:%Y-%m-%d %H:%M:%SZ}: renew the "
                                "intermediate CA")
    finding.notes.append(f"{len(verifier.revoked)} certificate(s) revoked; signature by the intermediate CA verified")
    return finding


def _load_ca_certificate(path: Path) -> tuple[x509.Certificate, int]:
    """The first certificate of a CA file and how many it holds (more than one is reported as a problem,
    so that the rest of the directory is still verified against the first)."""
    data = path.read_bytes()
    if not data.lstrip().startswith(b"-----"):
        return load_certificate(data, source=str(path)), 1
    certificates = load_certificates(data, source=str(path))
    return certificates[0], len(certificates)


def verify_directory(
    pki_dir: Path,
    certificates: Sequence[Path] = (),
    *,
    now: dt.datetime | None = None,
    passphrase: bytes | str | None = None,
    passphrase_env: str = PASSPHRASE_ENV,
) -> Report:
    """Verify the CA of ``pki_dir`` and ``certificates`` (default: every server and device
    certificate in it, plus keys left without a certificate)."""
    layout = Layout(Path(pki_dir))
    secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
    if secret is None:
        secret = passphrase_from_env(passphrase_env)
    missing = [p for p in (layout.root_cert, layout.intermediate_cert) if not p.exists()]
    if missing:
        raise PkiError(f"{missing[0]} is missing: run {layout.init_hint()}")
    root, root_count = _load_ca_certificate(layout.root_cert)
    intermediate, intermediate_count = _load_ca_certificate(layout.intermediate_cert)
    try:
        index: Index | None = Index.load(layout.index)
    except PkiError:
        index = None
    verifier = _Verifier(layout, root, intermediate, now or dt.datetime.now(dt.UTC), secret, index)
    report = Report(verifier.ca_findings())
    for finding, count in zip(report.findings, (root_count, intermediate_count), strict=False):  # the first two
        if count != 1:
            finding.problems.insert(0, f"holds {count} certificates but must hold exactly one: remove the extra "
                                       "PEM block(s) (a certificate appended to it is not one this PKI issued)")
    if index is None:
        report.findings.append(Finding(layout.relative(layout.index), "index", problems=["not a valid PKI index"]))
    if layout.crl.exists():
        report.findings.append(_crl_finding(layout, intermediate, verifier))
    if certificates:
        targets = [Path(c) for c in certificates]
    else:
        targets = [p for d in (layout.server_dir, layout.devices_dir) if d.is_dir() for p in sorted(d.glob("*.crt"))]
        for directory in (layout.server_dir, layout.devices_dir):
            if directory.is_dir():
                for key in sorted(directory.glob("*.key")):
                    if not key.with_suffix(".crt").exists():
                        report.findings.append(Finding(
                            layout.relative(key), "orphan key",
                            problems=["key without a certificate (interrupted issuance?); the next issue-device removes it"],
                        ))
    ca_files = {layout.root_cert.resolve(), layout.intermediate_cert.resolve()}
    for target in targets:
        if target.resolve() in ca_files:
            continue  # the CA certificates are always checked above
        if not target.exists():
            report.findings.append(Finding(str(target), problems=["no such file"]))
            continue
        report.findings.append(verifier.leaf_finding(target))
    return report
