"""provisioning = fleet,jitr end to end in the local cloud: a factory-fresh device with only the claim gets, through
the fleet provisioning MQTT API, a certificate for its own CSR key signed by our CA (certificate provider, CA key in
KMS) and a thing from the template; the hook writes the inventory and replication makes it ACTIVE in every region.
A serial not on the allow-list and a replayed serial are refused; the claim reaches nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from functions.provisioning_api.allow_list import enrol_item
from localcloud import observe
from localcloud.cloud import LocalCloud
from localcloud.services import PublishRefused
from localcloud.services.iot.fleet import FleetProvisioning, ProvisioningRejected
from pki.claim import issue_claim

PRIMARY, SECONDARY = "eu-west-1", "us-west-2"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with LocalCloud(state_dir=tmp_path_factory.mktemp("localcloud-fleet"),
                    config_overrides={"provisioning": "fleet,jitr"}) as cloud:
        issue_claim(cloud.ensure_pki())
        cloud.deploy()
        yield cloud


@pytest.fixture(scope="module")
def claim_pem(cloud) -> str:
    return (cloud.pki_dir / "claim" / "claim.crt").read_text()


def enrol(cloud: LocalCloud, serial: str) -> None:
    boto3.client("dynamodb", region_name=PRIMARY).put_item(
        TableName="multi-region-iot-allow-list", Item=enrol_item(serial, "", "2026-01-01T00:00:00Z"))
    cloud.settle()


def csr(serial: str) -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, serial)])).sign(key, hashes.SHA256()))
    return key, request.public_bytes(serialization.Encoding.PEM).decode()


def test_a_claimed_device_gets_our_certificate_for_its_key_and_is_active_everywhere(cloud, claim_pem) -> None:
    enrol(cloud, "fleet-0001")
    key, request = csr("fleet-0001")
    result = FleetProvisioning(cloud.engines.iot).fleet_provision(PRIMARY, claim_pem, request,
                                                                  {"SerialNumber": "fleet-0001"})
    certificate = x509.load_pem_x509_certificate(result.certificate_pem.encode())
    certificate.verify_directly_issued_by(cloud.load_ca().intermediate_certificate)
    assert certificate.public_key().public_numbers() == key.public_key().public_numbers()
    assert result.thing_name == "fleet-0001"
    thing = boto3.client("iot", region_name=PRIMARY).describe_thing(thingName="fleet-0001")
    assert thing["attributes"] == {"certificateId": result.certificate_id}
    cloud.settle()
    item = next(i for i in observe.table_items(PRIMARY, cloud.primary_outputs["inventoryTableName"])
                if i["ThingName"] == "fleet-0001")
    assert item["CertificateId"] == result.certificate_id and item["OriginRegion"] == PRIMARY
    for region in (PRIMARY, SECONDARY):
        assert observe.certificate_status(region, result.certificate_id) == "ACTIVE"
        assert cloud.connect(region, result.certificate_pem, "fleet-0001", attempts=1).thing_name == "fleet-0001"


def test_a_serial_not_on_the_allow_list_is_refused(cloud, claim_pem) -> None:
    _, request = csr("fleet-9999")
    with pytest.raises(ProvisioningRejected) as refused:
        FleetProvisioning(cloud.engines.iot).fleet_provision(PRIMARY, claim_pem, request, {"SerialNumber": "fleet-9999"})
    assert refused.value.error_code == "AccessDenied"
    assert "fleet-9999" not in {t["thingName"] for t in
                                boto3.client("iot", region_name=PRIMARY).list_things()["things"]}


def test_a_replayed_serial_is_refused_in_either_region(cloud, claim_pem) -> None:
    enrol(cloud, "fleet-0002")
    fleet = FleetProvisioning(cloud.engines.iot)
    fleet.fleet_provision(PRIMARY, claim_pem, csr("fleet-0002")[1], {"SerialNumber": "fleet-0002"})
    cloud.settle()
    for region in (PRIMARY, SECONDARY):
        with pytest.raises(ProvisioningRejected):
            fleet.fleet_provision(region, claim_pem, csr("fleet-0002")[1], {"SerialNumber": "fleet-0002"})


@pytest.mark.parametrize("action, topic", [("publish", "i/fleet-0001/m"), ("publish", "$aws/things/x/shadow/update"),
                                           ("subscribe", "#"), ("subscribe", "$aws/certificates/create/json/accepted")])
def test_the_claim_can_publish_or_subscribe_nowhere_else(cloud, claim_pem, action, topic) -> None:
    connection = cloud.engines.iot.connect(PRIMARY, claim_pem, "fleet-0003")
    with pytest.raises(PublishRefused):
        if action == "publish":
            cloud.engines.iot.publish(connection, topic, {"message": "x"})
        else:
            cloud.engines.iot.subscribe(connection, topic)
