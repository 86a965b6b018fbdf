"""provisioning = jitp, end to end in the local cloud: a device's first connection is refused while AWS IoT runs the
CA's template (thing from the CN with its owner attribute, device policy, ACTIVE), the recorder claims the name in
the inventory with no Lambda, replication makes the device ACTIVE in every region; an impostor with the same CN is
quarantined."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import boto3
import pytest

import pki
from localcloud import observe
from localcloud.assumptions import AS_THE_DESIGN_NEEDS
from localcloud.cloud import LocalCloud
from localcloud.services import ConnectionRefused

PRIMARY, SECONDARY = "eu-west-1", "us-west-2"
REGIONS = (PRIMARY, SECONDARY)
RECORDER = "multi-region-iot-jitp-recorder"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    # AS_THE_DESIGN_NEEDS: the register rows JITP depends on today (localcloud/assumptions.py)
    with LocalCloud(state_dir=tmp_path_factory.mktemp("localcloud-jitp"),
                    config_overrides={"provisioning": "jitp"}, assumptions=AS_THE_DESIGN_NEEDS) as cloud:
        cloud.ensure_pki()
        cloud.deploy()
        yield cloud


def _executions(region: str, machine: str) -> list:
    return [e for e in observe.executions(region) if e.machine == machine]


def test_the_first_connection_is_refused_and_the_template_provisions_the_device(cloud) -> None:
    (device,) = pki.issue_device_certificates(cloud.pki_dir, ["jitp-0001"])
    with pytest.raises(ConnectionRefused):
        cloud.engines.iot.connect(PRIMARY, device.certificate_pem, device.name)
    iot = boto3.client("iot", region_name=PRIMARY)
    assert observe.certificate_status(PRIMARY, device.certificate_id) == "ACTIVE"  # the template, before any machine
    thing = iot.describe_thing(thingName=device.name)
    assert thing["attributes"] == {"certificateId": device.certificate_id}
    policies = iot.list_attached_policies(target=iot.describe_certificate(
        certificateId=device.certificate_id)["certificateDescription"]["certificateArn"])["policies"]
    assert [p["policyName"] for p in policies] == ["multi-region-iot-device"]

    cloud.settle()
    connection = cloud.connect(PRIMARY, device.certificate_pem, device.name, attempts=1)
    assert connection.thing_name == device.name
    item = next(i for i in observe.table_items(PRIMARY, cloud.primary_outputs["inventoryTableName"])
                if i["ThingName"] == device.name)
    assert item["CertificateId"] == device.certificate_id and item["OriginRegion"] == PRIMARY
    assert item["Status"] == "ACTIVE" and item["CertificatePem"].strip() == device.certificate_pem.strip()
    assert not _executions(PRIMARY, "multi-region-iot-jitr")
    recorded = _executions(PRIMARY, RECORDER)
    assert len(recorded) == 1 and recorded[0].status == "SUCCEEDED"


def test_the_jitp_device_is_active_in_every_region(cloud) -> None:
    (device,) = pki.issue_device_certificates(cloud.pki_dir, ["jitp-0002"])
    with pytest.raises(ConnectionRefused):
        cloud.engines.iot.connect(PRIMARY, device.certificate_pem, device.name)
    cloud.settle()
    for region in REGIONS:
        assert observe.certificate_status(region, device.certificate_id) == "ACTIVE"
        assert cloud.connect(region, device.certificate_pem, device.name, attempts=1).open


def test_a_second_certificate_for_a_provisioned_name_is_quarantined(cloud) -> None:
    (genuine,) = pki.issue_device_certificates(cloud.pki_dir, ["jitp-0003"])
    with pytest.raises(ConnectionRefused):
        cloud.engines.iot.connect(PRIMARY, genuine.certificate_pem, genuine.name)
    cloud.settle()
    (impostor,) = pki.issue_device_certificates(cloud.pki_dir, ["jitp-0003"], force=True)  # same CN, new key
    with pytest.raises(ConnectionRefused):
        cloud.engines.iot.connect(SECONDARY, impostor.certificate_pem, impostor.name)
    cloud.settle()
    assert observe.certificate_status(SECONDARY, impostor.certificate_id) == "INACTIVE"
    with pytest.raises(ConnectionRefused, match="INACTIVE"):
        cloud.engines.iot.connect(SECONDARY, impostor.certificate_pem, impostor.name)
    assert cloud.connect(SECONDARY, genuine.certificate_pem, genuine.name, attempts=1).open


# ---- the register rows JITP depends on, under both outcomes (docs/emulator.md, "Assumptions register") ------------
@pytest.mark.parametrize("first_connection", ["refused", "accepted"])
def test_a_jitp_device_onboards_everywhere_whether_its_first_connection_is_refused_or_accepted(
        cloud, first_connection: str) -> None:
    """iot.jitp-first-connection: AWS's JITP blog says the first connection fails; the guide does not say."""
    (device,) = pki.issue_device_certificates(cloud.pki_dir, [f"jitp-first-{first_connection}"])
    with cloud.assuming(dataclasses.replace(cloud.assumptions, jitp_first_connection=first_connection)):
        connection = cloud.connect(PRIMARY, device.certificate_pem, device.name)
        assert connection.attempts == (1 if first_connection == "accepted" else 2)
        cloud.settle()
        for region in REGIONS:
            assert observe.certificate_status(region, device.certificate_id) == "ACTIVE"
            assert cloud.connect(region, device.certificate_pem, device.name, attempts=1).open
        assert [i["OriginRegion"] for i in observe.table_items(SECONDARY, cloud.primary_outputs["inventoryTableName"])
                if i["ThingName"] == device.name] == [PRIMARY]


@pytest.mark.parametrize("event", ["published", "not_published"])
def test_the_jitp_recorder_needs_the_registration_event(cloud, event: str) -> None:
    """iot.jitp-registration-event, in DESIGN_DEPENDS_ON: no source says JITP's auto-registration publishes the
    event JITR's does. Without it (the default) the template still makes the device ACTIVE at its origin, but the
    recorder never runs: no inventory item, so the device is never replicated (unknown in the other region until it
    connects there and JITP runs again) and can never be decommissioned through the inventory."""
    (device,) = pki.issue_device_certificates(cloud.pki_dir, [f"jitp-event-{event.replace('_', '-')}"])
    with cloud.assuming(dataclasses.replace(cloud.assumptions, jitp_registration_event=event)):
        with pytest.raises(ConnectionRefused):
            cloud.engines.iot.connect(PRIMARY, device.certificate_pem, device.name)
        cloud.settle()
        recorded = [e for e in _executions(PRIMARY, RECORDER) if device.certificate_id in e.input]
        items = [i for i in observe.table_items(PRIMARY, cloud.primary_outputs["inventoryTableName"])
                 if i["ThingName"] == device.name]
        assert observe.certificate_status(PRIMARY, device.certificate_id) == "ACTIVE"  # the template, either way
        if event == "published":
            assert len(recorded) == 1 and [i["CertificateId"] for i in items] == [device.certificate_id]
            assert observe.certificate_status(SECONDARY, device.certificate_id) == "ACTIVE"
        else:
            assert recorded == [] and items == []
            assert observe.certificate_status(SECONDARY, device.certificate_id) is None


@pytest.mark.parametrize("role", ["managed_policy_required", "permissions_suffice"])
def test_jitp_provisions_under_both_readings_of_the_provisioning_role_row(cloud, role: str) -> None:
    """fleet.register-thing-role: the guide says the role "must" have AWSIoTThingsRegistration. The deployed role
    carries it, so JITP provisions whether AWS enforces the guide (the default) or only the role's permissions."""
    (device,) = pki.issue_device_certificates(cloud.pki_dir, [f"jitp-role-{role.split('_')[0]}"])
    with cloud.assuming(dataclasses.replace(cloud.assumptions, provisioning_role=role)):
        with pytest.raises(ConnectionRefused):
            cloud.engines.iot.connect(PRIMARY, device.certificate_pem, device.name)
    assert observe.certificate_status(PRIMARY, device.certificate_id) == "ACTIVE"
    assert device.name in {t.name for t in observe.things(PRIMARY)}
    cloud.settle()


def test_a_provisioning_role_without_the_managed_policy_provisions_nothing_under_the_default_reading(cloud) -> None:
    """The other half of fleet.register-thing-role: a role that lacks AWSIoTThingsRegistration (the least-privilege
    candidate, builders.provisioning.provisioning_role_policy) is refused by the local cloud's default reading, and
    only then: what a design that dropped the managed policy would meet."""
    from localcloud.assumptions import AWS_AS_REPORTED, THINGS_REGISTRATION_POLICY
    from localcloud.services.iot import provisioning

    iam = boto3.client("iam", region_name=PRIMARY)
    bare = iam.create_role(RoleName="jitp-least-privilege-candidate", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    account = cloud.engines.account_id
    assert "AWSIoTThingsRegistration" in provisioning.role_refusal(account, bare, AWS_AS_REPORTED)
    assert provisioning.role_refusal(account, bare, AWS_AS_REPORTED.with_other("provisioning_role")) is None
    ca = next(iter(cloud.engines.iot.backend(PRIMARY).ca_certificates.values()))
    deployed = ca.registration_config["roleArn"]
    assert THINGS_REGISTRATION_POLICY in {p["PolicyArn"] for p in iam.list_attached_role_policies(
        RoleName=deployed.rsplit("/", 1)[1])["AttachedPolicies"]}
    assert provisioning.role_refusal(account, deployed, AWS_AS_REPORTED) is None
