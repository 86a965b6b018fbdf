"""provisioning = fleet,jitr end to end in the local cloud: a factory-fresh device with only the claim gets, through
the fleet provisioning MQTT API, a certificate for its own CSR key signed by our CA (certificate provider, CA key in
KMS) and a thing from the template; the hook writes the inventory and replication makes it ACTIVE in every region.
A serial not on the allow-list and a replayed serial are refused; the claim reaches nothing else."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from moto.iot.models import iot_backends

from builders.fleet import claim_client_id
from contract.allow_list import enrol_item
from functions.fleet_provisioning import proof
from localcloud import observe
from localcloud.cloud import LocalCloud
from localcloud.services import PublishRefused
from localcloud.services.iot import fleet_resources
from localcloud.services.iot.fleet import FleetProvisioning, ProvisioningRejected, allows_iot_invoke
from tests.localcloud.fleet_cloud import claim_pem as fleet_claim_pem
from tests.localcloud.fleet_cloud import fleet_cloud

PRIMARY, SECONDARY = "eu-west-1", "us-west-2"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with fleet_cloud(tmp_path_factory.mktemp("localcloud-fleet")) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def claim_pem(cloud) -> str:
    return fleet_claim_pem(cloud)


#: Each enrolled serial's signing key (its verifying key is on the allow-list), as manufacturing keeps it.
SIGNING_KEYS: dict[str, ed25519.Ed25519PrivateKey] = {}


def enrol(cloud: LocalCloud, serial: str) -> None:
    key = SIGNING_KEYS.setdefault(serial, ed25519.Ed25519PrivateKey.generate())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    boto3.client("dynamodb", region_name=PRIMARY).put_item(
        TableName="multi-region-iot-allow-list", Item=enrol_item(serial, public, "2026-01-01T00:00:00Z"))
    cloud.settle()


def csr(serial: str) -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A device's CSR for a new key, with the enrolment proof of ``serial``'s signing key (a stranger's if the serial
    was never enrolled)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key, proof.csr_pem(key, serial, SIGNING_KEYS.get(serial) or ed25519.Ed25519PrivateKey.generate())


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
    assert refused.value.status_code == 400  # CreateCertificateFromCsr: the certificate provider certifies nothing
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
    connection = cloud.engines.iot.connect(PRIMARY, claim_pem, claim_client_id())
    if action == "publish":
        def act() -> object:
            return cloud.engines.iot.publish(connection, topic, {"message": "x"})
    else:
        def act() -> object:
            return cloud.engines.iot.subscribe(connection, topic)
    with pytest.raises(PublishRefused):
        act()


# ---- the register rows of fleet provisioning, under both outcomes (docs/emulator.md, "Assumptions register") ------
@pytest.mark.parametrize("source", ["account_only", "template_arn"])
def test_the_hook_runs_whatever_source_iot_presents_since_its_permission_pins_the_account_only(
        cloud, claim_pem, source) -> None:
    """fleet.hook-invoke-source: the guide names no source ARN. The deployed permission conditions on the account
    only, so the hook runs under both outcomes; one pinned to the template ARN would not under the default."""
    serial = f"fleet-src-{source.split('_')[0]}"
    enrol(cloud, serial)
    with cloud.assuming(dataclasses.replace(cloud.assumptions, hook_invoke_source=source)):
        result = FleetProvisioning(cloud.engines.iot).fleet_provision(PRIMARY, claim_pem, csr(serial)[1],
                                                                      {"SerialNumber": serial})
    assert result.thing_name == serial
    template = f"arn:aws:iot:{PRIMARY}:123456789012:provisioningtemplate/x"
    pinned = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "iot.amazonaws.com"},
                             "Action": "lambda:InvokeFunction",
                             "Condition": {"ArnLike": {"AWS:SourceArn": template},
                                           "StringEquals": {"AWS:SourceAccount": "123456789012"}}}]}
    presented = {"aws:sourceaccount": "123456789012"}
    assert not allows_iot_invoke(pinned, presented)  # the default: a template-pinned permission refuses IoT
    assert allows_iot_invoke(pinned, {**presented, "aws:sourcearn": template})


@pytest.mark.parametrize("role", ["managed_policy_required", "permissions_suffice"])
def test_register_thing_runs_under_both_readings_of_the_provisioning_role_row(cloud, claim_pem, role) -> None:
    """fleet.register-thing-role: the deployed role carries AWSIoTThingsRegistration, so RegisterThing runs whether AWS
    enforces the guide's "must" (the default) or only the role's permissions."""
    serial = f"fleet-role-{role.split('_')[0]}"
    enrol(cloud, serial)
    with cloud.assuming(dataclasses.replace(cloud.assumptions, provisioning_role=role)):
        assert FleetProvisioning(cloud.engines.iot).fleet_provision(
            PRIMARY, claim_pem, csr(serial)[1], {"SerialNumber": serial}).thing_name == serial


@pytest.mark.parametrize("scope", ["account", "region"])
def test_the_account_s_one_certificate_provider_deploys_under_both_scopes_and_a_second_depends_on_the_scope(
        cloud, scope) -> None:
    """fleet.certificate-provider-per-account: one stack owns the account's provider, so the design deploys whether
    "one per AWS account" spans regions (the default) or not; a second one in another region is refused only then."""
    account = cloud.engines.account_id
    assert [region for region in (PRIMARY, SECONDARY) if fleet_resources.certificate_provider(account, region)] == [
        PRIMARY]
    inputs = {"lambdaFunctionArn": "arn:aws:lambda:ap-southeast-2:123456789012:function:x",
              "accountDefaultForOperations": ["CreateCertificateFromCsr"]}
    with cloud.assuming(dataclasses.replace(cloud.assumptions, certificate_provider_scope=scope)):
        if scope == "account":
            with pytest.raises(fleet_resources.CertificateProviderExists, match="one per account"):
                fleet_resources.aws_native_certificate_provider(account, "ap-southeast-2", "second", inputs)
            return
        try:
            fleet_resources.aws_native_certificate_provider(account, "ap-southeast-2", "second", inputs)
        finally:
            delattr(iot_backends[account]["ap-southeast-2"], fleet_resources.PROVIDER)


@pytest.mark.parametrize("serves", ["every_region", "own_region"])
def test_a_device_provisions_by_claim_in_the_other_region_only_if_the_provider_serves_it(
        cloud, claim_pem, serves) -> None:
    """fleet.certificate-provider-regions, in DESIGN_DEPENDS_ON: the account's one provider is in the primary's region.
    If IoT in another region does not call it (the default), a device that reaches that region gets no certificate
    of our CA there (AWS would sign with its own, which the hook refuses): fleet provisioning works in one region."""
    serial = f"fleet-serves-{serves.split('_')[0]}"
    enrol(cloud, serial)
    fleet = FleetProvisioning(cloud.engines.iot)
    with cloud.assuming(dataclasses.replace(cloud.assumptions, certificate_provider_serves=serves)):
        if serves == "own_region":
            with pytest.raises(ProvisioningRejected, match="no certificate provider serves"):
                fleet.fleet_provision(SECONDARY, claim_pem, csr(serial)[1], {"SerialNumber": serial})
            return
        result = fleet.fleet_provision(SECONDARY, claim_pem, csr(serial)[1], {"SerialNumber": serial})
    x509.load_pem_x509_certificate(result.certificate_pem.encode()).verify_directly_issued_by(
        cloud.load_ca().intermediate_certificate)
    cloud.settle()
    assert observe.certificate_status(PRIMARY, result.certificate_id) == "ACTIVE"
