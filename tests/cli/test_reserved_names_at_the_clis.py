"""Reserved thing names (``canary-``, contract/names.py) refused where an operator or a device CLI lets a
name in: pki issue-device / enrol / sign-csr, ops allow-list import / add, device provision / fleet-provision.
Each refusal names the fix and writes nothing; the Lambdas' entries are tests/provisioning/test_reserved_names.py."""
from __future__ import annotations

import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from tests.cli.conftest import run

FIX = "give the device a name that does not start with 'canary-'"


def _public_pem() -> str:
    return ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.mark.parametrize("argv", [["canary-eu-west-1x"], ["Canary-eu-west-1"], ["canary", "--count", "2"],
                                  ["canary-eu-west-1", "--count", "1"]])
def test_pki_issue_device_refuses_a_reserved_name_other_than_a_regions_canary(pki_out, argv):
    result = run("pki", "issue-device", *argv, "--out", str(pki_out))
    result.assert_no_traceback()
    assert result.code == 1, result.text
    assert "reserved for the regions' canaries" in result.text and FIX in result.text
    assert "canary-<region>, e.g. canary-eu-west-1" in result.text
    assert not [p for p in (pki_out / "devices").iterdir() if p.name.lower().startswith("canary")]


def test_pki_issue_device_still_makes_a_regions_canary_certificate(pki_out):
    """``python -m pki issue-device canary-<region>`` is how the canary's certificate is made (components/canary.py)."""
    result = run("pki", "issue-device", "canary-eu-west-1", "--out", str(pki_out))
    assert result.code == 0, result.text
    assert (pki_out / "devices" / "canary-eu-west-1.crt").is_file()


@pytest.mark.parametrize("argv", [["canary-eu-west-1"], ["CANARY-us-west-2"], ["canary", "--count", "3"]])
def test_pki_enrol_refuses_a_reserved_name_and_writes_no_entry(tmp_path, argv):
    result = run("pki", "enrol", *argv, "--out", str(tmp_path))
    result.assert_no_traceback()
    assert result.code == 1 and FIX in result.text, result.text
    assert not (tmp_path / "allow-list.jsonl").exists() and not (tmp_path / "devices").exists()


def test_pki_sign_csr_refuses_a_csr_naming_a_canary(pki_out, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "canary-us-west-2")]))
           .sign(key, hashes.SHA256()))
    path = tmp_path / "canary.csr"
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    result = run("pki", "sign-csr", str(path), "--out", str(pki_out))
    result.assert_no_traceback()
    assert result.code == 1 and FIX in result.text, result.text
    assert not (pki_out / "devices" / "canary-us-west-2.crt").exists()


@pytest.mark.parametrize("name", ["canary-eu-west-1", "Canary-x"])
def test_ops_allow_list_import_refuses_a_reserved_name_naming_the_line(tmp_path, name):
    entries = tmp_path / "batch.jsonl"
    entries.write_text(json.dumps({"thingName": "sensor-1", "verifyingKey": _public_pem()}) + "\n"
                       + json.dumps({"thingName": name, "verifyingKey": _public_pem()}) + "\n")
    result = run("ops", "allow-list", "import", "eu-west-1", str(entries))
    result.assert_no_traceback()
    assert result.code == 2, result.text
    assert f"line 2: thingName '{name}' starts with 'canary-'" in result.text and FIX in result.text


def test_ops_allow_list_add_refuses_a_reserved_name(tmp_path):
    key = tmp_path / "key.pub.pem"
    key.write_text(_public_pem())
    result = run("ops", "allow-list", "add", "eu-west-1", "canary-us-west-2", str(key))
    result.assert_no_traceback()
    assert result.code == 2, result.text
    assert "thingName 'canary-us-west-2' starts with 'canary-'" in result.text and FIX in result.text
    assert "line 1" not in result.text


def test_device_fleet_provision_refuses_a_reserved_serial_before_connecting(tmp_path):
    from pki.claim import issue_claim

    claim = issue_claim(tmp_path / "pki-out")
    result = run("device", "fleet-provision", "--endpoint", "127.0.0.1:1", "--sni", "iot.example.com", "--serial",
                 "canary-eu-west-1", "--claim-cert", str(claim.certificate), "--claim-key", str(claim.key),
                 "--attempts", "1", "--out", str(tmp_path / "device-out"))
    result.assert_no_traceback()
    assert result.code == 2 and "--serial 'canary-eu-west-1' starts with 'canary-'" in result.text, result.text
    assert not (tmp_path / "device-out").exists()


def test_device_provision_refuses_a_reserved_thing_before_sending(tmp_path):
    key = tmp_path / "signing.pem"
    key.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    result = run("device", "provision", "--api", "http://127.0.0.1:9/provision", "--thing", "canary-eu-west-1",
                 "--key", str(key), "--csr", "--out", str(tmp_path / "device-out"))
    result.assert_no_traceback()
    assert result.code == 2 and "--thing 'canary-eu-west-1' starts with 'canary-'" in result.text, result.text
    assert not (tmp_path / "device-out").exists()
