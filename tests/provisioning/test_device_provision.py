"""Issue 21, ``python -m device provision``: the device always makes its own TLS key and sends a CSR, never destroys a
key that works, and gets its certificate after a lost response or a crash by asking again.

The API runs in-process behind ``urllib`` (``InProcessApi``), so every test sees what the device writes and what the
service decided. Fails on main at 9c49dd7: ``--csr`` run twice overwrote the working key before the API answered 409,
and the CLI's default sent no CSR (a lost response lost the key for good).
"""
from __future__ import annotations

import stat
import time
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from device import provision as device_provision
from device.keys import certifies
from ops import cli as ops_cli
from tests.provisioning import kit
from tests.provisioning.api_faults import aws_like, Died, InProcessApi  # noqa: F401 - aws_like is a fixture

pytestmark = pytest.mark.usefixtures("aws_like")

THING = "sensor-7"


@pytest.fixture
def device(account, tmp_path):
    """An enrolled device: its request-signing key in a file (as `python -m pki enrol` writes it)."""
    made = kit.Device.new(THING)
    kit.enrol(account.tables["allow"], made)
    path = tmp_path / f"{THING}.provisioning.key"
    path.write_bytes(made.signing_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    return path


@pytest.fixture
def api(account, monkeypatch):
    served = InProcessApi(account)
    monkeypatch.setattr(urllib.request, "urlopen", served.urlopen)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    return served


def files(out):
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def key_of(out):
    return serialization.load_pem_private_key((out / f"{THING}.key").read_bytes(), None)


def test_the_cli_sends_a_csr_by_default_and_the_key_never_leaves_the_device(api, device, tmp_path):
    out = tmp_path / "out"
    assert device_provision.main(["--api", api.url, "--thing", THING, "--key", str(device), "--out", str(out)]) == 0
    (body,) = api.bodies
    assert "-----BEGIN CERTIFICATE REQUEST-----" in body["csr"]
    assert "privateKeyPem" not in api.answers[0].body
    assert stat.S_IMODE((out / f"{THING}.key").stat().st_mode) == 0o600
    assert certifies((out / f"{THING}.crt").read_text(), key_of(out))


def test_running_provision_twice_keeps_the_working_key_and_gets_the_same_certificate(api, device, tmp_path):
    out = tmp_path / "out"
    first = device_provision.provision(api.url, THING, device, out, use_csr=True)
    before = files(out)
    again = device_provision.provision(api.url, THING, device, out, use_csr=True)
    assert again["certificateId"] == first["certificateId"]
    assert files(out)[f"{THING}.key"] == before[f"{THING}.key"]
    assert files(out)[f"{THING}.crt"] == before[f"{THING}.crt"]
    assert certifies((out / f"{THING}.crt").read_text(), key_of(out))


def test_a_refusal_never_touches_the_working_key_or_certificate(api, account, device, tmp_path):
    out = tmp_path / "out"
    device_provision.provision(api.url, THING, device, out)
    before = files(out)
    # the entry now says another key was certified (e.g. the factory provisioned it from another folder)
    account.dynamodb.update_item(TableName=account.tables["allow"], Key={"ThingName": {"S": THING}},
                                 UpdateExpression="SET PublicKeyDigest = :d",
                                 ExpressionAttributeValues={":d": {"S": "0" * 64}})
    with pytest.raises(device_provision.ProvisioningRefused, match="AlreadyProvisioned"):
        device_provision.provision(api.url, THING, device, out, use_csr=True)
    assert files(out) == before


def test_a_new_key_waits_beside_until_its_certificate_arrives_then_replaces_nothing_that_worked(
        api, account, device, tmp_path, capsys):
    out = tmp_path / "out"
    device_provision.provision(api.url, THING, device, out)
    lost = tmp_path / "wiped"  # the device lost its folder: a new key, refused (the entry certifies the old one)
    with pytest.raises(device_provision.ProvisioningRefused, match="allow-list reset"):
        device_provision.provision(api.url, THING, device, lost)
    assert not (lost / f"{THING}.key").exists()
    pending = lost / f"{THING}.key.pending"
    assert stat.S_IMODE(pending.stat().st_mode) == 0o600
    waiting = pending.read_bytes()

    assert ops_cli.main(["--application", "app", "allow-list", "reset", kit.REGION, THING, "--yes"]) == 0
    capsys.readouterr()
    device_provision.provision(api.url, THING, device, lost)  # the same waiting key, now certified
    assert (lost / f"{THING}.key").read_bytes() == waiting and not pending.exists()
    assert certifies((lost / f"{THING}.crt").read_text(), key_of(lost))


def test_a_lost_response_is_asked_again_and_answered_for_the_same_key(api, device, tmp_path):
    api.lose = 1
    out = tmp_path / "out"
    assert device_provision.main(["--api", api.url, "--thing", THING, "--key", str(device), "--out", str(out)]) == 0
    assert len(api.bodies) == 2 and api.bodies[0] == api.bodies[1]  # the same signed request again
    assert api.answers[1].body["repeat"] is True
    assert certifies((out / f"{THING}.crt").read_text(), key_of(out))


def test_a_device_switched_off_after_sending_gets_its_certificate_on_the_next_run(api, account, device, tmp_path):
    api.die = 1
    out = tmp_path / "out"
    with pytest.raises(Died):
        device_provision.provision(api.url, THING, device, out)
    assert account.entry(THING)["Status"] == "provisioned"
    answer = device_provision.provision(api.url, THING, device, out)
    assert answer["certificateId"] == api.answers[0].body["certificateId"]
    assert certifies((out / f"{THING}.crt").read_text(), key_of(out))
    assert len(account.iot.list_certificates()["certificates"]) == 1


@pytest.mark.parametrize("status, body", [
    (409, {"error": "InProgress", "message": "wait"}), (503, {"error": "RetryLater", "message": "wait"}),
    # API Gateway's own answers (no JSON of ours): its integration timed out, the function may still finish
    # (https://repost.aws/knowledge-center/api-gateway-504-errors)
    (504, {"message": "Endpoint request timed out"}), (503, {"message": "Service Unavailable"}),
])
def test_in_progress_retry_later_and_gateway_timeouts_are_waited_out(api, device, tmp_path, status, body):
    api.forced = [(status, body)] * 3
    out = tmp_path / "out"
    answer = device_provision.provision(api.url, THING, device, out)
    assert len(api.bodies) == 4 and answer["thingName"] == THING
    certificate = x509.load_pem_x509_certificate((out / f"{THING}.crt").read_bytes())
    assert certificate.subject.rfc4514_string().endswith(f"CN={THING}") or THING in certificate.subject.rfc4514_string()


def test_a_claim_that_never_ends_is_waited_out_for_a_bounded_time_then_named(api, device, tmp_path):
    api.forced = [(409, {"error": "InProgress", "message": "another request is provisioning this device"})] * 100
    with pytest.raises(device_provision.ProvisioningRefused, match="InProgress"):
        device_provision.provision(api.url, THING, device, tmp_path / "out")
    assert 5 < len(api.bodies) < 20  # about 150 s of backoff (1, 2, 4, 8, 16, 16 ... s), then the refusal
    assert len({b["nonce"] for b in api.bodies}) == len(api.bodies)  # each wait: a newly signed request


def test_the_documented_provision_command_runs_as_pasted(api, account, tmp_path, monkeypatch):
    """docs/deploy.md's line, run as printed from a folder holding its signing.pem; only the transport is in-process."""
    import shlex
    from pathlib import Path

    from device import cli as device_cli

    readme = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
    (line,) = [line for line in readme.read_text().splitlines()
               if line.startswith(".venv/bin/python -m device provision ")]
    argv = shlex.split(line)
    assert argv[:3] == [".venv/bin/python", "-m", "device"]
    thing, key = argv[argv.index("--thing") + 1], argv[argv.index("--key") + 1]
    made = kit.Device.new(thing)
    kit.enrol(account.tables["allow"], made)
    monkeypatch.chdir(tmp_path)
    (tmp_path / key).write_bytes(made.signing_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    assert device_cli.main(argv[3:]) == 0
    out = tmp_path / "device-out"
    assert certifies((out / f"{thing}.crt").read_text(),
                     serialization.load_pem_private_key((out / f"{thing}.key").read_bytes(), None))
    assert api.bodies[0]["csr"] and not (out / f"{thing}.key.pending").exists()
