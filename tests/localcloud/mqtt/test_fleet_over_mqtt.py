"""Fleet provisioning by claim over the served MQTT endpoints, with paho (through device.session): a device holding
only the claim connects over TLS 1.3 with SNI, asks for a certificate for its own key on
``$aws/certificates/create-from-csr/json``, registers its serial on ``$aws/provisioning-templates/<t>/provision/json``,
then connects with its new certificate in both regions and publishes telemetry. The replies reach the requesting
client only; an unlisted serial is rejected; the claim publishing anywhere else is disconnected."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from builders.fleet import CREATE_FROM_CSR, claim_client_id, provision_topic, reply_topics
from device.session import Identity, Lost, Session, connect_with_backoff
from functions.fleet_provisioning import proof
from localcloud.assumptions import AS_THE_DESIGN_NEEDS
from localcloud.cloud import LocalCloud
from localcloud.services.iot.mqtt.endpoints import MqttEndpoints
from pki.claim import claim_paths, issue_claim
from tests.localcloud.mqtt.conftest import Served, allow

EU, US = "eu-west-1", "us-west-2"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    # AS_THE_DESIGN_NEEDS: the register rows fleet provisioning depends on today (localcloud/assumptions.py)
    with LocalCloud(state_dir=tmp_path_factory.mktemp("localcloud-fleet-mqtt"),
                    config_overrides={"provisioning": "fleet,jitr"}, assumptions=AS_THE_DESIGN_NEEDS) as cloud:
        issue_claim(cloud.ensure_pki())
        cloud.deploy()
        with MqttEndpoints(cloud, ports={region: 0 for region in cloud.regions}, resolver_port=0) as endpoints:
            yield Served(cloud, endpoints, tmp_path_factory.mktemp("fleet-devices"))


class Device:
    """A factory-fresh device: the claim, its own key, and the replies it has received."""

    def __init__(self, served: Served, serial: str) -> None:
        self.served, self.serial = served, serial
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.signing_key = SIGNING_KEYS.get(serial) or ed25519.Ed25519PrivateKey.generate()
        self.replies: list[tuple[str, dict]] = []
        self._arrived = threading.Condition()
        with served.endpoints.gate:
            self.template = served.endpoints.fleet._only_template(EU)
        certificate, key = claim_paths(served.cloud.pki_dir)
        claim = Identity(claim_client_id(), certificate, key, served.cloud.pki_dir / "root-ca.crt")
        self.session: Session = served.direct(claim, EU, on_message=self._on_message)

    def _on_message(self, topic: str, payload: bytes) -> None:
        with self._arrived:
            self.replies.append((topic, json.loads(payload)))
            self._arrived.notify_all()

    def open(self) -> None:
        self.session.open()
        for topic in reply_topics(self.template):
            assert self.session.subscribe(topic) == 1

    def request(self, topic: str, body: dict) -> tuple[str, dict]:
        seen = len(self.replies)
        self.session.publish(topic, json.dumps(body), qos=1)
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.replies) > seen, timeout=10), f"no reply to {topic}"
            return self.replies[seen]

    def csr(self) -> str:
        """A CSR for its own key with the enrolment proof of its signing key (a stranger's if never enrolled)."""
        return proof.csr_pem(self.key, self.serial, self.signing_key)


#: Each enrolled serial's signing key (its verifying key is on the allow-list).
SIGNING_KEYS: dict[str, ed25519.Ed25519PrivateKey] = {}


def enrol(served: Served, serial: str) -> None:
    key = SIGNING_KEYS.setdefault(serial, ed25519.Ed25519PrivateKey.generate())
    allow(served, serial, key)


def test_a_claimed_device_provisions_over_mqtt_then_publishes_with_its_own_certificate_in_both_regions(fleet) -> None:
    enrol(fleet, "mqtt-fleet-0001")
    device = Device(fleet, "mqtt-fleet-0001")
    device.open()

    topic, created = device.request(CREATE_FROM_CSR, {"certificateSigningRequest": device.csr()})
    assert topic == f"{CREATE_FROM_CSR}/accepted", created
    assert set(created) == {"certificateId", "certificatePem", "certificateOwnershipToken"}
    certificate = x509.load_pem_x509_certificate(created["certificatePem"].encode())
    certificate.verify_directly_issued_by(fleet.cloud.load_ca().intermediate_certificate)
    assert certificate.public_key().public_numbers() == device.key.public_key().public_numbers()

    topic, registered = device.request(provision_topic(device.template), {
        "certificateOwnershipToken": created["certificateOwnershipToken"],
        "parameters": {"SerialNumber": "mqtt-fleet-0001"}})
    assert topic == f"{provision_topic(device.template)}/accepted", registered
    assert registered == {"deviceConfiguration": {}, "thingName": "mqtt-fleet-0001"}
    assert fleet.endpoints.fleet.mqtt_requests == 2
    device.session.close()

    cert, key = fleet.folder / "mqtt-fleet-0001.crt", fleet.folder / "mqtt-fleet-0001.key"
    cert.write_text(created["certificatePem"].rstrip("\n") + "\n" + fleet.cloud.load_ca().intermediate_pem)
    key.write_bytes(device.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    key.chmod(0o600)
    own = Identity("mqtt-fleet-0001", cert, key, fleet.cloud.pki_dir / "root-ca.crt")
    for region in (EU, US):  # US: once the hook's inventory item has replicated and registered the certificate there
        session, _ = connect_with_backoff(lambda region=region: fleet.direct(own, region), attempts=20, base_s=0.1, cap_s=0.5)
        session.publish("i/mqtt-fleet-0001/m", json.dumps({"message": f"hello from {region}"}), qos=1)
        session.close()
        items = fleet.wait_for(lambda region=region: fleet.stored("mqtt-fleet-0001", region))
        assert [i["Message"]["S"] for i in items] == [f"hello from {region}"]


def test_a_serial_not_on_the_allow_list_is_rejected_over_mqtt(fleet) -> None:
    device = Device(fleet, "mqtt-fleet-9999")
    device.open()
    topic, rejected = device.request(CREATE_FROM_CSR, {"certificateSigningRequest": device.csr()})
    assert topic == f"{CREATE_FROM_CSR}/rejected"  # no certificate of our CA for a name that is not enrolled
    assert rejected["statusCode"] == 400 and rejected["errorMessage"]
    topic, invalid = device.request(CREATE_FROM_CSR, {"certificateSigningRequest": ""})
    assert topic == f"{CREATE_FROM_CSR}/rejected" and invalid["statusCode"] == 400
    assert device.session.connected  # a rejection is an answer, not a disconnection
    device.session.close()
    with fleet.endpoints.gate:
        things = {t["thingName"] for t in boto3.client("iot", region_name=EU).list_things()["things"]}
    assert "mqtt-fleet-9999" not in things


def test_replies_reach_only_the_requesting_client(fleet) -> None:
    enrol(fleet, "mqtt-fleet-0002")
    asker, bystander = Device(fleet, "mqtt-fleet-0002"), Device(fleet, "mqtt-fleet-0003")
    bystander.open()
    asker.open()
    topic, _ = asker.request(CREATE_FROM_CSR, {"certificateSigningRequest": asker.csr()})
    assert topic.endswith("/accepted")
    assert bystander.replies == []
    asker.session.close()
    bystander.session.close()


@pytest.mark.parametrize("topic", ["i/mqtt-fleet-0004/m", "$aws/things/mqtt-fleet-0004/shadow/update",
                                   "$aws/certificates/create/json"])
def test_the_claim_publishing_anywhere_else_is_disconnected(fleet, topic) -> None:
    device = Device(fleet, "mqtt-fleet-0004")
    device.open()
    with pytest.raises(Lost, match="PUBACK"):
        device.session.publish(topic, json.dumps({"message": "x"}), qos=1)
    assert device.session.wait_closed(3)
    assert fleet.stored("mqtt-fleet-0004", EU) == []
