"""The command line: every subcommand, its output, its errors and exit statuses."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

import pki
from pki.cli import main

DOMAIN = "iot.example.com"
REPO_ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; returns (exit status, stdout, stderr)."""
    try:
        status = main(list(argv))
    except SystemExit as exc:  # argparse usage errors and --help
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected a one-line reason, got {lines}"
    return lines[0]


def test_python_dash_m_pki_runs_and_lists_every_subcommand() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pki", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    for command in ("init", "issue-device", "issue-server", "sign-csr", "verify", "list"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["init", "issue-device", "issue-server", "sign-csr", "verify", "list"])
def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    status, out, _ = run(capsys, command, "--help")
    assert status == 0
    assert "--out DIR" in out and len(out.splitlines()) > 4


def test_usage_errors_exit_2_with_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, "init", "--out", str(tmp_path))
    assert status == 2
    assert "--domain" in one_line(err)
    status, _, err = run(capsys, "issue-device", "x", "--out", str(tmp_path), "--count", "0")
    assert status == 2 and "at least 1" in one_line(err)


def test_passphrase_cannot_be_given_on_the_command_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, "init", "--out", str(tmp_path), "--domain", DOMAIN, "--passphrase", "secret")
    assert status == 2 and "unrecognized arguments" in one_line(err)
    assert not (tmp_path / "root-ca.key").exists()


def test_init_creates_exactly_the_documented_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_dir = tmp_path / "pki"
    status, out, err = run(capsys, "init", "--out", str(out_dir), "--domain", DOMAIN, "--org", "Acme", "--country", "SE")
    assert status == 0, err
    files = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file() and p.name != ".pki.lock")
    assert files == sorted([
        "root-ca.crt", "root-ca.key", "intermediate-ca.crt", "intermediate-ca.key", "ca-chain.pem",
        f"server/{DOMAIN}.crt", f"server/{DOMAIN}.key", "index.json",
    ])
    chain = x509.load_pem_x509_certificates((out_dir / "ca-chain.pem").read_bytes())
    assert [c.subject.rfc4514_string() for c in chain] == ["CN=Acme Intermediate CA,O=Acme,C=SE", "CN=Acme Root CA,O=Acme,C=SE"]
    intermediate_id = pki.certificate_id((out_dir / "intermediate-ca.crt").read_text())
    assert intermediate_id in out


def test_init_refuses_to_overwrite_a_ca_without_force(capsys: pytest.CaptureFixture[str], pki_dir: Path) -> None:
    before = (pki_dir / "root-ca.crt").read_bytes()
    status, _, err = run(capsys, "init", "--out", str(pki_dir), "--domain", DOMAIN)
    assert status == 1
    assert "already holds a CA" in one_line(err) and "--force" in err
    assert (pki_dir / "root-ca.crt").read_bytes() == before


def test_init_force_archives_the_old_ca_and_creates_a_new_one(capsys: pytest.CaptureFixture[str], pki_dir: Path) -> None:
    before = (pki_dir / "root-ca.crt").read_bytes()
    pki.issue_device_certificates(pki_dir, ["old-device"])
    status, out, err = run(capsys, "init", "--out", str(pki_dir), "--domain", DOMAIN, "--force")
    assert status == 0, err
    assert (pki_dir / "root-ca.crt").read_bytes() != before
    archived = list((pki_dir / "archive").iterdir())
    assert len(archived) == 1 and str(archived[0]) in out
    assert (archived[0] / "root-ca.crt").read_bytes() == before
    assert (archived[0] / "devices" / "old-device.key").exists()
    assert not (pki_dir / "devices" / "old-device.crt").exists()  # devices of the old CA do not mix with the new one


def test_init_refuses_an_incomplete_ca_left_by_an_interrupted_init(capsys: pytest.CaptureFixture[str], pki_dir: Path) -> None:
    (pki_dir / "intermediate-ca.crt").unlink()
    status, _, err = run(capsys, "init", "--out", str(pki_dir), "--domain", DOMAIN)
    assert status == 1 and "incomplete CA" in one_line(err)


def test_init_refuses_a_bad_domain_and_a_too_long_server_lifetime(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, "init", "--out", str(tmp_path / "a"), "--domain", "not a domain")
    assert status == 1 and "invalid domain" in one_line(err)
    status, _, err = run(capsys, "init", "--out", str(tmp_path / "b"), "--domain", DOMAIN, "--days", "398")
    assert status == 1 and "397" in one_line(err)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b" / "root-ca.key").exists()


def test_init_refuses_a_bad_country_before_creating_anything(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, "init", "--out", str(tmp_path / "c"), "--domain", DOMAIN, "--country", "Sweden")
    assert status == 1 and "two-letter" in one_line(err)
    assert not (tmp_path / "c").exists()


def test_init_with_rsa_keys(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, "init", "--out", str(tmp_path), "--domain", DOMAIN, "--key-type", "rsa-2048")
    assert status == 0, err
    server = x509.load_pem_x509_certificate((tmp_path / "server" / f"{DOMAIN}.crt").read_bytes())
    assert server.public_key().key_size == 2048


def test_issue_device_writes_key_and_certificate_and_prints_their_paths(capsys: pytest.CaptureFixture[str], pki_dir: Path) -> None:
    status, out, err = run(capsys, "issue-device", "sensor-1", "--out", str(pki_dir))
    assert status == 0, err
    cert, key = pki_dir / "devices" / "sensor-1.crt", pki_dir / "devices" / "sensor-1.key"
    assert out.splitlines() == [str(cert), str(key)]
    certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    private_key = serialization.load_pem_private_key(key.read_bytes(), None)
    assert certificate.public_key() == private_key.public_key()


def test_issue_device_rejects_an_invalid_thing_name(capsys: pytest.CaptureFixture[str], pki_dir: Path) -> None:
    status, _, err = run(capsys, "issue-device", "bad.name", "--out", str(pki_dir))
    assert status == 1
    assert "invalid thing name 'bad.name'" in one_line(err) and "'.'" in err
    assert list((pki_dir / "devices").iterdir()) == []


def test_issue_device_refuses_an_existing_device_unless_forced(capsys: pytest.CaptureFixture[str], pki_dir: Path) -> None:
    assert run(capsys, "issue-device", "dup", "--out", str(pki_dir))[0] == 0
    first = (pki_dir / "devices" / "dup.crt").read_bytes()
    status, _, err = run(capsys, "issue-device", "dup", "--out", str(pki_dir))
    assert status == 1 and "already has a certificate" in one_line(err)
    assert (pki_dir / "devices" / "dup.crt").read_bytes() == first
    assert run(capsys, "issue-device", "dup", "--out", str(pki_dir), "--force")[0] == 0
    assert (pki_dir / "devices" / "dup.crt").read_bytes() != first


def test_issue_device_without_a_ca_says_to_run_init(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, "issue-device", "x", "--out", str(tmp_path))
    assert status == 1
    assert "root-ca.crt is missing" in one_line(err) and "python -m pki init --out" in err


def test_issue_device_count_issues_a_numbered_batch_and_reports_the_rate(capsys: pytest.CaptureFixture[str], pki_dir: Path) -> None:
    status, out, err = run(capsys, "issue-device", "fleet", "--count", "200", "--out", str(pki_dir))
    assert status == 0, err
    names = sorted(p.stem for p in (pki_dir / "devices").glob("*.crt"))
    assert names == [f"fleet-{i:04d}" for i in range(1, 201)]
    assert len(list((pki_dir / "devices").glob("*.key"))) == 200
    assert "issued 200 device certificates" in out and "/s)" in out
    status, out, _ = run(capsys, "list", "--out", str(pki_dir), "--json")
    assert sum(1 for row in json.loads(out) if row["kind"] == "device" and row["status"] == "valid") == 200


def make_csr(path: Path, name: str) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)])
    ).sign(key, hashes.SHA256())
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return key


def test_sign_csr_prints_the_certificate_path_and_writes_no_key(capsys: pytest.CaptureFixture[str], pki_dir: Path, tmp_path: Path) -> None:
    key = make_csr(tmp_path / "req.csr", "csr-device")
    status, out, err = run(capsys, "sign-csr", str(tmp_path / "req.csr"), "--out", str(pki_dir))
    assert status == 0, err
    cert_path = pki_dir / "devices" / "csr-device.crt"
    assert out.strip() == str(cert_path)
    assert x509.load_pem_x509_certificate(cert_path.read_bytes()).public_key() == key.public_key()
    assert not (pki_dir / "devices" / "csr-device.key").exists()
    status, out, _ = run(capsys, "verify", "--out", str(pki_dir))
    assert status == 0 and "device keeps its key" in out


def test_sign_csr_reads_standard_input_for_dash(
    capsys: pytest.CaptureFixture[str], pki_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_csr(tmp_path / "req.csr", "from-stdin")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO((tmp_path / "req.csr").read_bytes())))
    status, out, err = run(capsys, "sign-csr", "-", "--out", str(pki_dir))
    assert status == 0, err
    assert out.strip() == str(pki_dir / "devices" / "from-stdin.crt")


def test_sign_csr_rejects_bad_input_with_a_reason(capsys: pytest.CaptureFixture[str], pki_dir: Path, tmp_path: Path) -> None:
    make_csr(tmp_path / "bad.csr", "bad name")
    status, _, err = run(capsys, "sign-csr", str(tmp_path / "bad.csr"), "--out", str(pki_dir))
    assert status == 1 and "invalid thing name" in one_line(err)
    status, _, err = run(capsys, "sign-csr", str(tmp_path / "missing.csr"), "--out", str(pki_dir))
    assert status == 1 and "does not exist" in one_line(err)
    (tmp_path / "junk.csr").write_text("junk")
    status, _, err = run(capsys, "sign-csr", str(tmp_path / "junk.csr"), "--out", str(pki_dir))
    assert status == 1 and "certificate signing request" in one_line(err)
    assert list((pki_dir / "devices").iterdir()) == []


def test_sign_csr_refuses_a_taken_name_unless_forced(capsys: pytest.CaptureFixture[str], pki_dir: Path, tmp_path: Path) -> None:
    assert run(capsys, "issue-device", "taken", "--out", str(pki_dir))[0] == 0
    key = make_csr(tmp_path / "req.csr", "taken")
    status, _, err = run(capsys, "sign-csr", str(tmp_path / "req.csr"), "--out", str(pki_dir))
    assert status == 1 and "already has a certificate" in one_line(err)
    assert run(capsys, "sign-csr", str(tmp_path / "req.csr"), "--out", str(pki_dir), "--force")[0] == 0
    assert not (pki_dir / "devices" / "taken.key").exists()  # the old generated key must not linger
    cert = x509.load_pem_x509_certificate((pki_dir / "devices" / "taken.crt").read_bytes())
    assert cert.public_key() == key.public_key()
    status, out, _ = run(capsys, "list", "--out", str(pki_dir))
    assert [line.split()[-1] for line in out.splitlines() if " taken " in line] == ["valid", "replaced"]


def test_verify_passes_a_fresh_directory(capsys: pytest.CaptureFixture[str], pki_dir: Path) -> None:
    pki.issue_device_certificates(pki_dir, ["v1", "v2", "L" * 128])
    pki.issue_device_certificates(pki_dir, ["rsa-device"], key_type="rsa-2048")
    status, out, err = run(capsys, "verify", "--out", str(pki_dir))
    assert status == 0, out + err
    assert f"OK   devices/{'L' * 128}.crt" in out and "OK   devices/rsa-device.crt" in out
    assert "no problems" in out and "OK   devices/v1.crt (device v1)" in out


def test_verify_lists_every_problem_and_exits_1(capsys: pytest.CaptureFixture[str], pki_dir: Path) -> None:
    devices = pki_dir / "devices"
    pki.issue_device_certificates(pki_dir, ["good", "swapped-a", "swapped-b"])
    ca = pki.load_ca(pki_dir)
    expired = ca.issue_device("expired", validity=pki.expired_validity())
    (devices / "expired.crt").write_text(expired.certificate_pem)
    (devices / "expired.key").write_text(expired.private_key_pem)
    stranger = pki.CertificateAuthority.create(org="Elsewhere").issue_device("stranger")
    (devices / "stranger.crt").write_text(stranger.certificate_pem)
    (devices / "stranger.key").write_text(stranger.private_key_pem)
    a, b = (devices / "swapped-a.key").read_bytes(), (devices / "swapped-b.key").read_bytes()
    (devices / "swapped-a.key").write_bytes(b)
    (devices / "swapped-b.key").write_bytes(a)
    (devices / "orphan.key").write_bytes(a)
    os.chmod(devices / "good.key", 0o644)

    status, out, err = run(capsys, "verify", "--out", str(pki_dir))
    assert status == 1
    assert "problem(s)" in one_line(err)
    assert "expired on" in out
    assert "not issued by the intermediate CA" in out
    assert "swapped-a.key does not match the certificate's public key" in out
    assert "swapped-b.key does not match" in out
    assert "key without a certificate" in out
    assert "readable by others" in out
    assert "FAIL devices/good.crt" in out


def test_verify_given_certificates_checks_only_those(capsys: pytest.CaptureFixture[str], pki_dir: Path, tmp_path: Path) -> None:
    pki.issue_device_certificates(pki_dir, ["only"])
    stranger = pki.CertificateAuthority.create().issue_device("stranger")
    (tmp_path / "stranger.crt").write_text(stranger.certificate_pem)
    status, out, _ = run(capsys, "verify", "--out", str(pki_dir), str(pki_dir / "devices" / "only.crt"))
    assert status == 0 and "devices/only.crt" in out
    status, out, _ = run(capsys, "verify", "--out", str(pki_dir), str(tmp_path / "stranger.crt"))
    assert status == 1 and "not issued by the intermediate CA" in out
    status, out, _ = run(capsys, "verify", "--out", str(pki_dir), str(tmp_path / "nothing.crt"))
    assert status == 1 and "no such file" in out


def test_list_shows_name_serial_not_after_and_status(capsys: pytest.CaptureFixture[str], pki_dir: Path) -> None:
    issued = pki.issue_device_certificates(pki_dir, ["l1", "l2"])
    (pki_dir / "devices" / "l2.crt").unlink()
    status, out, err = run(capsys, "list", "--out", str(pki_dir))
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "SERIAL", "NOT-AFTER", "STATUS"]
    l1 = next(line for line in lines if " l1 " in line).split()
    assert l1[0] == "device" and l1[2] == issued[0].serial_hex and l1[-1] == "valid"
    assert l1[3] == issued[0].certificate.not_valid_after_utc.strftime("%Y-%m-%d")
    assert next(line for line in lines if " l2 " in line).split()[-1] == "missing"
    assert any(line.startswith("root") for line in lines) and any(line.startswith("server") for line in lines)


def test_list_without_a_pki_says_to_run_init(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, "list", "--out", str(tmp_path))
    assert status == 1 and "python -m pki init" in one_line(err)


def test_issue_server_renews_the_server_certificate_and_keeps_the_ca(capsys: pytest.CaptureFixture[str], pki_dir: Path) -> None:
    root_before = (pki_dir / "root-ca.crt").read_bytes()
    cert_path = pki_dir / "server" / f"{DOMAIN}.crt"
    old = cert_path.read_bytes()
    status, _, err = run(capsys, "issue-server", DOMAIN, "--out", str(pki_dir))
    assert status == 1 and "--force to renew" in one_line(err)
    status, out, err = run(capsys, "issue-server", DOMAIN, "--out", str(pki_dir), "--force", "--days", "90")
    assert status == 0, err
    assert out.splitlines()[0] == str(cert_path)
    assert cert_path.read_bytes() != old and (pki_dir / "root-ca.crt").read_bytes() == root_before
    renewed = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert (renewed.not_valid_after_utc - renewed.not_valid_before_utc).days == 90
    assert pki.load_endpoint_material(pki_dir, DOMAIN).server_certificate_pem == cert_path.read_text()
    status, out, _ = run(capsys, "list", "--out", str(pki_dir))
    assert [line.split()[-1] for line in out.splitlines() if line.startswith("server")] == ["valid", "replaced"]
    assert run(capsys, "verify", "--out", str(pki_dir))[0] == 0
    status, _, err = run(capsys, "issue-server", DOMAIN, "--out", str(pki_dir), "--force", "--days", "400")
    assert status == 1 and "397" in one_line(err)
