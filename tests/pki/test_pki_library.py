"""The library API other code imports: endpoint material, certificate ids, CA creation and bulk issuance,
and CA key passphrases taken from the environment."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

import pki
from pki.cli import main

DOMAIN = "iot.example.com"


def der_sha256(pem: str) -> str:
    return hashlib.sha256(x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)).hexdigest()


def test_endpoint_material_holds_server_pair_chain_and_the_intermediate(pki_dir: Path) -> None:
    material = pki.load_endpoint_material(pki_dir, DOMAIN)
    assert material.server_certificate_pem == (pki_dir / "server" / f"{DOMAIN}.crt").read_text()
    assert material.server_private_key_pem == (pki_dir / "server" / f"{DOMAIN}.key").read_text()
    assert material.ca_certificate_pem == (pki_dir / "intermediate-ca.crt").read_text()
    assert material.chain_pem == (pki_dir / "intermediate-ca.crt").read_text() + (pki_dir / "root-ca.crt").read_text()
    server = x509.load_pem_x509_certificate(material.server_certificate_pem.encode())
    key = serialization.load_pem_private_key(material.server_private_key_pem.encode(), None)
    assert key.public_key() == server.public_key()


def test_endpoint_material_for_an_uninitialised_directory_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(pki.PkiError) as excinfo:
        pki.load_endpoint_material(tmp_path, DOMAIN)
    message = str(excinfo.value)
    assert f"server/{DOMAIN}.crt" in message
    assert f"python -m pki init --out {tmp_path} --domain FQDN" in message


def test_endpoint_material_for_another_domain_names_its_missing_server_files(pki_dir: Path) -> None:
    with pytest.raises(pki.PkiError, match=r"server/other\.example\.com\.crt, .*server/other\.example\.com\.key are missing"):
        pki.load_endpoint_material(pki_dir, "other.example.com")


def test_certificate_id_matches_the_ids_recorded_in_the_index(pki_dir: Path) -> None:
    material = pki.load_endpoint_material(pki_dir, DOMAIN)
    assert pki.certificate_id(material.ca_certificate_pem) == der_sha256(material.ca_certificate_pem)
    (device,) = pki.issue_device_certificates(pki_dir, ["id-check"])
    row = next(r for r in pki.list_certificates(pki_dir) if r.name == "id-check")
    assert row.serial == device.serial_hex
    index = (pki_dir / "index.json").read_text()
    assert pki.certificate_id(device.certificate_pem) in index


def test_in_memory_bulk_issuance_writes_nothing_and_yields_distinct_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ca = pki.CertificateAuthority.create(org="Emulator")
    devices = ca.issue_devices([f"thing-{i}" for i in range(500)])
    assert list(tmp_path.iterdir()) == []
    assert len({d.certificate_id for d in devices}) == 500
    assert all(d.certificate.issuer == ca.intermediate_certificate.subject for d in devices)
    assert devices[7].private_key_pem.startswith("-----BEGIN PRIVATE KEY-----")


def test_issue_device_certificates_with_a_loaded_authority_writes_the_layout(pki_dir: Path) -> None:
    ca = pki.load_ca(pki_dir)
    issued = pki.issue_device_certificates(pki_dir, ["lib-1", "lib-2"], authority=ca)
    assert [d.name for d in issued] == ["lib-1", "lib-2"]
    for device in issued:
        assert (pki_dir / "devices" / f"{device.name}.crt").read_text() == device.certificate_pem
        assert (pki_dir / "devices" / f"{device.name}.key").read_text() == device.private_key_pem
    with pytest.raises(pki.PkiError, match="duplicate device names"):
        pki.issue_device_certificates(pki_dir, ["dup-x", "dup-x"])


def test_sign_csr_file_returns_the_certificate_and_its_path(pki_dir: Path) -> None:
    device_key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "lib-csr")])
    ).sign(device_key, hashes.SHA256())
    issued, path = pki.sign_csr_file(pki_dir, csr.public_bytes(serialization.Encoding.PEM))
    assert path == pki_dir / "devices" / "lib-csr.crt" and path.read_text() == issued.certificate_pem


# --- passphrase-protected CA keys -------------------------------------------------------------

def test_ca_keys_are_encrypted_when_the_passphrase_variable_is_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(pki.PASSPHRASE_ENV, "correct horse")
    directory = tmp_path / "pki"
    assert main(["init", "--out", str(directory), "--domain", DOMAIN]) == 0
    for name in ("root-ca.key", "intermediate-ca.key"):
        assert "-----BEGIN ENCRYPTED PRIVATE KEY-----" in (directory / name).read_text()
        assert "correct horse" not in (directory / name).read_text()
    assert "ENCRYPTED" not in (directory / "server" / f"{DOMAIN}.key").read_text()  # ACM needs it in clear
    assert main(["issue-device", "enc-1", "--out", str(directory)]) == 0
    assert "ENCRYPTED" not in (directory / "devices" / "enc-1.key").read_text()
    assert main(["verify", "--out", str(directory)]) == 0

    monkeypatch.delenv(pki.PASSPHRASE_ENV)
    capsys.readouterr()
    assert main(["issue-device", "enc-2", "--out", str(directory)]) == 1
    assert f"intermediate-ca.key is encrypted: set {pki.PASSPHRASE_ENV}" in capsys.readouterr().err
    assert main(["verify", "--out", str(directory)]) == 0  # cannot check the CA keys, which is a note, not a failure
    assert "is encrypted; set PKI_CA_PASSPHRASE to check it matches" in capsys.readouterr().out

    monkeypatch.setenv(pki.PASSPHRASE_ENV, "wrong")
    assert main(["issue-device", "enc-2", "--out", str(directory)]) == 1
    assert "wrong passphrase" in capsys.readouterr().err
    assert not (directory / "devices" / "enc-2.crt").exists()


def test_the_passphrase_variable_can_be_renamed_and_must_not_be_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(pki.PASSPHRASE_ENV, raising=False)
    monkeypatch.setenv("VAULT_CA_SECRET", "s3cret")
    directory = tmp_path / "pki"
    assert main(["init", "--out", str(directory), "--domain", DOMAIN, "--passphrase-env", "VAULT_CA_SECRET"]) == 0
    assert "ENCRYPTED" in (directory / "intermediate-ca.key").read_text()
    assert main(["issue-device", "renamed", "--out", str(directory), "--passphrase-env", "VAULT_CA_SECRET"]) == 0
    monkeypatch.setenv(pki.PASSPHRASE_ENV, "")
    capsys.readouterr()
    assert main(["init", "--out", str(tmp_path / "other"), "--domain", DOMAIN]) == 1
    assert "set but empty" in capsys.readouterr().err
