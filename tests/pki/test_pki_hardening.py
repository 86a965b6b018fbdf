"""Issue 11: files that must hold one certificate, private folders under any umask, the CRL (`revoke`)
and a PKI folder made for another domain."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

import pki
from pki.cli import main
from pki.layout import Layout

DOMAIN = "iot.example.com"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def foreign_pem() -> bytes:
    """Another CA's certificate, as an attacker would append it."""
    return pki.CertificateAuthority.create(org="Mallory").root_pem.encode()


# --- one certificate per file ------------------------------------------------------------------------------

@pytest.mark.parametrize("relative", ["root-ca.crt", "intermediate-ca.crt", f"server/{DOMAIN}.crt", "devices/dev-1.crt"])
def test_verify_fails_a_file_with_a_certificate_appended(pki_dir: Path, capsys, relative: str) -> None:
    pki.issue_device_certificates(pki_dir, ["dev-1"])
    path = pki_dir / relative
    path.write_bytes(path.read_bytes() + foreign_pem())
    status, out, _err = run(capsys, "verify", "--out", str(pki_dir))
    assert status == 1
    failed = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert any(relative in line for line in failed), out
    assert "holds 2 certificates but must hold exactly one" in out


@pytest.mark.parametrize("relative", [f"server/{DOMAIN}.crt", "intermediate-ca.crt"])
def test_endpoint_material_refuses_a_file_with_two_certificates(pki_dir: Path, relative: str) -> None:
    path = pki_dir / relative
    path.write_bytes(path.read_bytes() + foreign_pem())
    with pytest.raises(pki.PkiError, match=r"holds 2 certificates but must hold exactly one"):
        pki.load_endpoint_material(pki_dir, DOMAIN)


# --- folders are private under umask 000 -----------------------------------------------------------------

@pytest.fixture
def open_umask():
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_folders_are_0700_under_umask_000(tmp_path: Path, open_umask, monkeypatch) -> None:
    monkeypatch.delenv(pki.PASSPHRASE_ENV, raising=False)
    layout = Layout(tmp_path / "pki")
    pki.init_pki(layout.root, DOMAIN)
    assert {p.name: mode(p) for p in (layout.root, layout.devices_dir, layout.server_dir)} == \
        {"pki": 0o700, "devices": 0o700, "server": 0o700}
    layout.devices_dir.rmdir()  # issue-device recreates it
    pki.issue_device_certificates(layout.root, ["dev-1"])
    assert mode(layout.devices_dir) == 0o700
    archived = pki.init_pki(layout.root, DOMAIN, force=True).archived_to
    assert archived is not None and mode(layout.archive_dir) == 0o700 and mode(archived) == 0o700


# --- revocation ----------------------------------------------------------------------------------------------

def crl_of(pki_dir: Path) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl((pki_dir / "crl.pem").read_bytes())


def test_revoke_writes_a_crl_signed_by_the_intermediate(pki_dir: Path, capsys) -> None:
    device, = pki.issue_device_certificates(pki_dir, ["dev-stolen"])
    status, out, _ = run(capsys, "revoke", "dev-stolen", "--out", str(pki_dir))
    assert status == 0 and f"revoked device dev-stolen (serial {device.serial_hex})" in out
    crl = crl_of(pki_dir)
    intermediate = x509.load_pem_x509_certificate((pki_dir / "intermediate-ca.crt").read_bytes())
    assert crl.issuer == intermediate.subject and crl.is_signature_valid(intermediate.public_key())
    assert [entry.serial_number for entry in crl] == [device.certificate.serial_number]
    assert mode(pki_dir / "crl.pem") == 0o644


def test_revoke_is_idempotent_and_accumulates(pki_dir: Path, capsys) -> None:
    first, second = pki.issue_device_certificates(pki_dir, ["dev-a", "dev-b"])
    assert run(capsys, "revoke", "dev-a", "--out", str(pki_dir))[0] == 0
    before = (pki_dir / "crl.pem").read_bytes()
    status, out, _ = run(capsys, "revoke", "dev-a", "--out", str(pki_dir))
    assert status == 0 and "already revoked" in out and (pki_dir / "crl.pem").read_bytes() == before
    assert run(capsys, "revoke", "dev-b", "--out", str(pki_dir))[0] == 0
    crl = crl_of(pki_dir)
    assert {e.serial_number for e in crl} == {first.certificate.serial_number, second.certificate.serial_number}
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2


def test_revoke_refuses_an_unknown_device(pki_dir: Path, capsys) -> None:
    status, _, err = run(capsys, "revoke", "nobody", "--out", str(pki_dir))
    assert status == 1 and "no certificate for device 'nobody'" in err and not (pki_dir / "crl.pem").exists()


def test_verify_checks_the_crl_signature(pki_dir: Path, capsys) -> None:
    pki.issue_device_certificates(pki_dir, ["dev-1"])
    run(capsys, "revoke", "dev-1", "--out", str(pki_dir))
    status, out, _ = run(capsys, "verify", "--out", str(pki_dir))
    assert status == 0, out
    assert "OK   crl.pem (revocation list)" in out and "revoked on" in out
    intermediate = x509.load_pem_x509_certificate((pki_dir / "intermediate-ca.crt").read_bytes())
    forged = (x509.CertificateRevocationListBuilder().issuer_name(intermediate.subject)
              .last_update(crl_of(pki_dir).last_update_utc).next_update(crl_of(pki_dir).next_update_utc)
              .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()))
    (pki_dir / "crl.pem").write_bytes(forged.public_bytes(serialization.Encoding.PEM))
    status, out, _ = run(capsys, "verify", "--out", str(pki_dir))
    assert status == 1 and "FAIL crl.pem" in out and "not signed by this directory's intermediate CA" in out


def test_init_force_archives_the_old_cas_crl(pki_dir: Path, capsys) -> None:
    pki.issue_device_certificates(pki_dir, ["dev-1"])
    run(capsys, "revoke", "dev-1", "--out", str(pki_dir))
    archived = pki.init_pki(pki_dir, DOMAIN, force=True).archived_to
    assert archived is not None and (archived / "crl.pem").exists() and not (pki_dir / "crl.pem").exists()


# --- a PKI made for another domain -------------------------------------------------------------------------

def test_a_pki_for_another_domain_is_refused_with_the_way_out(pki_dir: Path, tmp_path: Path) -> None:
    pki.check_pki_domain(pki_dir, DOMAIN)
    pki.check_pki_domain(tmp_path / "empty", "iot.other.example")  # no CA yet: nothing to replace
    with pytest.raises(pki.PkiError, match=r"made for iot\.example\.com, not iot\.other\.example.*issue-server "
                                           r"iot\.other\.example.*to start over with a new CA, rm it"):
        pki.check_pki_domain(pki_dir, "iot.other.example", start_over="rm it")
