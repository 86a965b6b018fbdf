"""``python -m device fleet-provision`` against the local cloud's served MQTT endpoints (provisioning jitr + fleet):
a factory-fresh device holding only the claim makes its own key and CSR, gets our CA's certificate and its thing,
stores them, and then publishes with ``python -m device publish`` in both regions. A serial not on the allow-list,
a replayed serial, a wrong template and a certificate that is not the claim are refused, each naming the fix."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from device import keys
from device.cli import main
from localcloud import demo
from localcloud.mockrun import PROJECT_DIR
from localcloud.services.iot.mqtt.endpoints import MqttEndpoints
from ops import allow_list
from pki.claim import claim_paths, issue_claim
from tests.localcloud.mqtt.conftest import Served

EU, US = "eu-west-1", "us-west-2"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The demo's second deployment (provisioning jitr + fleet, the claim issued), its endpoints served."""
    with demo.provisioning_cloud(tmp_path_factory.mktemp("localcloud-device-fleet")) as cloud:
        demo.deploy_provisioning_cloud(cloud)
        with MqttEndpoints(cloud, ports={region: 0 for region in cloud.regions}, resolver_port=0) as endpoints:
            yield Served(cloud, endpoints, tmp_path_factory.mktemp("device-fleet"))


def signing_key(served: Served, serial: str) -> Path:
    """The device's enrolled signing key (as `python -m pki enrol` keeps it); made on first use."""
    path = served.folder / "enrolment" / f"{serial}.provisioning.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        path.chmod(0o600)
    return path


def enrol(served: Served, serial: str) -> None:
    """As `python -m ops allow-list add eu-west-1 SERIAL KEY.pem` does, with the device's verifying key."""
    key = serialization.load_pem_private_key(signing_key(served, serial).read_bytes(), password=None)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with served.endpoints.gate:
        assert allow_list.enrol(None, EU, [allow_list.entry(serial, pem)]).enrolled == [serial]


def arguments(served: Served, serial: str, out: Path, *extra: str, region: str = EU) -> list[str]:
    claim_cert, claim_key = claim_paths(served.cloud.pki_dir)
    return ["fleet-provision", "--endpoint", f"127.0.0.1:{served.endpoints.port(region)}", "--sni",
            served.cloud.domain, "--ca", str(served.cloud.pki_dir / "root-ca.crt"), "--claim-cert", str(claim_cert),
            "--claim-key", str(claim_key), "--signing-key", str(signing_key(served, serial)), "--serial", serial,
            "--out", str(out), "--attempts", "3", *extra]


def provision(served: Served, capsys: pytest.CaptureFixture[str], serial: str, out: Path, *extra: str) -> tuple[int, str]:
    code = main(arguments(served, serial, out, *extra))
    return code, capsys.readouterr().err


def test_the_device_tool_provisions_by_claim_and_the_device_publishes_in_both_regions(fleet, tmp_path, capsys) -> None:
    enrol(fleet, "dev-fleet-0001")
    done = subprocess.run([sys.executable, "-m", "device", *arguments(fleet, "dev-fleet-0001", tmp_path)],
                          cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "provisioned dev-fleet-0001" in done.stdout and "PRIVATE KEY" not in done.stdout + done.stderr

    certificate_pem, key_path = (tmp_path / "dev-fleet-0001.crt").read_text(), tmp_path / "dev-fleet-0001.key"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key, made = keys.load_or_make_key(key_path)
    assert not made and keys.certifies(certificate_pem, key)  # a certificate for the key that never left the device
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    certificate.verify_directly_issued_by(fleet.cloud.load_ca().intermediate_certificate)  # our CA, not Amazon's
    with fleet.endpoints.gate:
        iot = boto3.client("iot", region_name=EU)
        described = iot.list_thing_principals(thingName="dev-fleet-0001")["principals"]
        policies = iot.list_attached_policies(target=described[0])["policies"]
    assert [p["policyName"] for p in policies] == ["multi-region-iot-device"]

    for region in (EU, US):  # US once the hook's inventory item has replicated and registered the certificate there
        code = main(["publish", "--endpoint", f"127.0.0.1:{fleet.endpoints.port(region)}", "--sni", fleet.cloud.domain,
                     "--ca", str(fleet.cloud.pki_dir / "root-ca.crt"), "--thing", "dev-fleet-0001",
                     "--cert", str(tmp_path / "dev-fleet-0001.crt"), "--key", str(key_path), "--attempts", "12",
                     "--message", f'{{"message": "fleet device via {region}"}}'])
        assert code == 0, capsys.readouterr().err
        items = fleet.wait_for(lambda region=region: fleet.stored("dev-fleet-0001", region))
        assert [i["Message"]["S"] for i in items] == [f"fleet device via {region}"]


def test_a_serial_not_on_the_allow_list_is_refused_naming_the_fix(fleet, tmp_path, capsys) -> None:
    code, err = provision(fleet, capsys, "dev-fleet-9999", tmp_path)
    assert code == 1
    assert "create-from-csr/json was rejected" in err  # no certificate of our CA at all, not only no thing
    assert "not on the allow-list" in err and "ops allow-list add" in err
    assert not (tmp_path / "dev-fleet-9999.crt").exists()
    with fleet.endpoints.gate:
        assert "dev-fleet-9999" not in {t["thingName"] for t in boto3.client("iot", region_name=EU).list_things()["things"]}


def test_a_replayed_serial_is_refused_in_the_other_region_too(fleet, tmp_path, capsys) -> None:
    enrol(fleet, "dev-fleet-0002")
    assert provision(fleet, capsys, "dev-fleet-0002", tmp_path / "first")[0] == 0
    for region in (EU, US):  # another device (another key) claiming the same serial, anywhere
        code = main(arguments(fleet, "dev-fleet-0002", tmp_path / region, region=region))
        err = capsys.readouterr().err
        assert code == 1 and "create-from-csr/json was rejected" in err, err
        assert "provisioned already with another certificate" in err, err
        assert not (tmp_path / region / "dev-fleet-0002.crt").exists()


def test_a_wrong_template_is_refused_by_the_claim_policy_and_named(fleet, tmp_path, capsys) -> None:
    enrol(fleet, "dev-fleet-0003")
    code, err = provision(fleet, capsys, "dev-fleet-0003", tmp_path, "--template", "someone-elses-template")
    assert code == 1 and "someone-elses-template" in err and "fleetTemplateName" in err


def test_a_certificate_that_is_not_the_registered_claim_is_refused(fleet, tmp_path, capsys) -> None:
    other = issue_claim(tmp_path / "other-pki")  # self-signed like the claim, but no region registered it
    code = main([*arguments(fleet, "dev-fleet-0004", tmp_path / "out")[:-2], "--attempts", "1",
                 "--claim-cert", str(other.certificate), "--claim-key", str(other.key)])
    err = capsys.readouterr().err
    assert code == 1 and "refused the claim certificate" in err
    assert not (tmp_path / "out" / "dev-fleet-0004.crt").exists()


# ---- issue 21: lost replies and two devices with one serial -----------------------------------------------------------
def _entry(served: Served, serial: str) -> dict:
    from contract.allow_list import read

    with served.endpoints.gate:
        return read(boto3.client("dynamodb", region_name=EU), "multi-region-iot-allow-list", serial) or {}


def test_a_device_whose_registration_reply_was_lost_finishes_when_run_again(fleet, tmp_path, capsys,
                                                                             monkeypatch) -> None:
    """The hook admitted the certificate and the template ran, but the accepted reply never reached the device: run
    again, it must end with that certificate (every new CSR would be refused: the serial is provisioned)."""
    from device import fleet as device_fleet

    serial = "dev-fleet-lost"
    enrol(fleet, serial)
    original, dropped = device_fleet._Replies.add, []

    def lose_the_registration_reply(self, topic: str, payload: bytes) -> None:
        if topic.endswith("/provision/json/accepted") and not dropped:
            dropped.append(topic)
            return
        original(self, topic, payload)

    monkeypatch.setattr(device_fleet._Replies, "add", lose_the_registration_reply)
    code, err = provision(fleet, capsys, serial, tmp_path, "--timeout", "2")
    assert code == 1 and dropped and "no reply" in err, err
    admitted = _entry(fleet, serial)
    assert admitted["Status"] == "provisioned"

    code, err = provision(fleet, capsys, serial, tmp_path)
    assert code == 0, err
    stored = json.loads((tmp_path / f"{serial}.json").read_text())
    assert stored["certificateId"] == admitted["CertificateId"]
    assert not list(tmp_path.glob("*.pending.*"))
    code = main(["publish", "--endpoint", f"127.0.0.1:{fleet.endpoints.port(EU)}", "--sni", fleet.cloud.domain,
                 "--ca", str(fleet.cloud.pki_dir / "root-ca.crt"), "--thing", serial,
                 "--cert", str(tmp_path / f"{serial}.crt"), "--key", str(tmp_path / f"{serial}.key"),
                 "--attempts", "3", "--message", '{"message": "after a lost reply"}'])
    assert code == 0, capsys.readouterr().err


def test_two_devices_provisioning_one_serial_at_once_end_with_one_certificate_that_its_winner_stored(
        fleet, tmp_path, monkeypatch) -> None:
    """Both get a certificate before either registers (each CONNECT used to end the other's claim session, as both
    used client id = serial): one is admitted and stores it, the other is refused with an answer, not a lost
    session, and the serial is provisioned with the winner's certificate."""
    from device import fleet as device_fleet
    from device.endpoint import Endpoint

    serial = "dev-fleet-twins"
    enrol(fleet, serial)
    both_certified = threading.Barrier(2, timeout=15)
    original = device_fleet._request

    def register_together(session, replies, topic, body, timeout_s, **options):
        if topic.endswith("/provision/json"):
            try:
                both_certified.wait()
            except threading.BrokenBarrierError:
                pass  # the other one stopped earlier
        return original(session, replies, topic, body, timeout_s, **options)

    monkeypatch.setattr(device_fleet, "_request", register_together)
    claim_cert, claim_key = claim_paths(fleet.cloud.pki_dir)
    endpoint = Endpoint("127.0.0.1", fleet.endpoints.port(EU), fleet.cloud.domain)
    results: dict[str, object] = {}

    def run(name: str) -> None:
        try:
            results[name] = device_fleet.provision_by_claim(
                endpoint, serial, claim_cert, claim_key, fleet.cloud.pki_dir / "root-ca.crt", tmp_path / name,
                signing_key=signing_key(fleet, serial), template=fleet.cloud.primary_outputs["fleetTemplateName"],
                attempts=3, base_s=0.05, cap_s=0.2, timeout_s=10)
        except device_fleet.FleetProvisioningError as error:
            results[name] = error

    threads = [threading.Thread(target=run, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winners = [r for r in results.values() if isinstance(r, device_fleet.Provisioned)]
    losers = [r for r in results.values() if isinstance(r, device_fleet.FleetProvisioningError)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert isinstance(losers[0], device_fleet.Rejected), losers[0]  # refused with an answer, not disconnected
    assert _entry(fleet, serial)["CertificateId"] == winners[0].certificate_id
    assert keys.certifies(winners[0].certificate.read_text(), keys.load_or_make_key(winners[0].key)[0])
