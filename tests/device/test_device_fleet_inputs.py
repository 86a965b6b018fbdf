"""``python -m device fleet-provision``: what is refused before any connection (each error names the problem and the
fix, exit 2), the device's key handling, and the reply matching, without a cloud (the MQTT run against the local
cloud's served endpoints is tests/localcloud/mqtt/test_device_fleet_provision.py)."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from device import keys
from device.cli import build_parser, main
from device.fleet import DEFAULT_TEMPLATE, FleetProvisioningError, Rejected, REGISTER_FIXES, _Replies, check_inputs
from pki.claim import issue_claim


@pytest.fixture
def claim(tmp_path: Path) -> tuple[Path, Path]:
    made = issue_claim(tmp_path / "pki")
    return made.certificate, made.key


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["fleet-provision", "--endpoint", "127.0.0.1:1", "--sni", "iot.example.com", "--attempts", "1", *args])
    return code, capsys.readouterr().err


def test_the_subcommand_is_registered_with_the_template_default() -> None:
    args = build_parser().parse_args(["fleet-provision", "--endpoint", "iot.example.com", "--serial", "s-1",
                                      "--claim-cert", "c", "--claim-key", "k"])
    assert callable(args.handler) and args.template == DEFAULT_TEMPLATE == "multi-region-iot-fleet"
    assert args.out == Path("device-out")


@pytest.mark.parametrize("option, expected", [("--claim-cert", "pki issue-claim"), ("--claim-key", "claim.key"),
                                              ("--ca", "root-ca.crt")])
def test_a_missing_file_is_named_with_where_to_get_it(capsys, claim, tmp_path, option, expected) -> None:
    files = {"--claim-cert": str(claim[0]), "--claim-key": str(claim[1]), "--ca": str(claim[0])}
    files[option] = str(tmp_path / "absent.pem")
    code, err = run(capsys, "--serial", "s-1", "--out", str(tmp_path / "out"),
                    *[part for pair in files.items() for part in pair])
    assert code == 2
    assert f"{option} {tmp_path / 'absent.pem'}: no such file" in err and expected in err
    assert not (tmp_path / "out").exists()  # nothing made before the inputs are known good


def test_a_serial_that_cannot_be_a_thing_name_is_refused(capsys, claim, tmp_path) -> None:
    code, err = run(capsys, "--serial", "bad serial/1", "--claim-cert", str(claim[0]), "--claim-key", str(claim[1]),
                    "--out", str(tmp_path))
    assert code == 2 and "--serial" in err and "thing name" in err


def test_a_template_name_aws_would_refuse_is_refused(claim, tmp_path) -> None:
    with pytest.raises(FleetProvisioningError, match="fleetTemplateName") as refused:
        check_inputs("s-1", claim[0], claim[1], None, "no/such template", tmp_path)
    assert refused.value.exit_code == 2


def test_a_device_already_provisioned_is_not_provisioned_again(capsys, claim, tmp_path) -> None:
    (tmp_path / "s-1.crt").write_text("already")
    code, err = run(capsys, "--serial", "s-1", "--claim-cert", str(claim[0]), "--claim-key", str(claim[1]),
                    "--out", str(tmp_path))
    assert code == 2 and "s-1 is provisioned already" in err
    assert (tmp_path / "s-1.crt").read_text() == "already"


@pytest.fixture
def signing_key(tmp_path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    path = tmp_path / "s-1.provisioning.key"
    path.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path


@pytest.mark.parametrize("given", [None, "absent", "rsa"])
def test_the_enrolled_signing_key_is_required_and_checked_before_any_connection(capsys, claim, tmp_path,
                                                                                 given) -> None:
    """Without the device's enrolled key there is no enrolment proof, so no certificate: bad input (exit 2)."""
    extra: list[str] = []
    if given == "absent":
        extra = ["--signing-key", str(tmp_path / "absent.key")]
    elif given == "rsa":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        (tmp_path / "rsa.key").write_bytes(rsa.generate_private_key(65537, 2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        extra = ["--signing-key", str(tmp_path / "rsa.key")]
    code, err = run(capsys, "--serial", "s-1", "--claim-cert", str(claim[0]), "--claim-key", str(claim[1]),
                    "--out", str(tmp_path / "out"), *extra)
    assert code == 2 and "--signing-key" in err and "pki enrol" in err, err
    assert not (tmp_path / "out" / "s-1.key").exists()


def test_an_unreachable_endpoint_is_a_refusal_of_the_claim_not_a_crash(capsys, claim, tmp_path, signing_key) -> None:
    code, err = run(capsys, "--serial", "s-1", "--claim-cert", str(claim[0]), "--claim-key", str(claim[1]),
                    "--signing-key", str(signing_key), "--out", str(tmp_path))
    assert code == 1 and "refused the claim certificate" in err
    assert not (tmp_path / "s-1.crt").exists()


def test_the_device_key_is_private_and_reused_by_a_retry(tmp_path) -> None:
    path = tmp_path / "d" / "s-1.key"
    key, made = keys.load_or_make_key(path)
    assert made and stat.S_IMODE(path.stat().st_mode) == 0o600
    again, made_again = keys.load_or_make_key(path)
    assert not made_again and again.private_numbers() == key.private_numbers()
    other = ec.generate_private_key(ec.SECP256R1())
    assert not keys.certifies("not a certificate", key)
    assert keys.csr_pem(other, "s-1") != keys.csr_pem(key, "s-1")


def test_replies_are_matched_to_their_request_and_a_rejection_names_the_fix() -> None:
    replies = _Replies()
    replies.add("$aws/certificates/create-from-csr/json/accepted", b'{"certificateId": "c"}')
    topic = "$aws/provisioning-templates/t/provision/json"
    threading.Timer(0.05, replies.add, (f"{topic}/rejected", json.dumps(
        {"statusCode": 403, "errorCode": "AccessDenied", "errorMessage": "not admitted"}).encode())).start()
    accepted, reply = replies.wait(topic, timeout_s=5)
    assert not accepted and reply["errorCode"] == "AccessDenied"
    assert replies.wait("$aws/certificates/create-from-csr/json", timeout_s=0.1) == (True, {"certificateId": "c"})
    message = str(Rejected(topic, reply, REGISTER_FIXES, "s-1"))
    assert "403 AccessDenied: not admitted" in message and "ops allow-list add REGION s-1" in message
    with pytest.raises(FleetProvisioningError, match=r"no reply to x within 0\.05 s"):
        replies.wait("x", timeout_s=0.05)
