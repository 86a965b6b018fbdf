"""provisioning = jitp, end to end in the local cloud: a device's first connection is refused while AWS IoT runs the
CA's template (thing from the CN with its owner attribute, device policy, ACTIVE), the recorder claims the name in
the inventory with no Lambda, replication makes the device ACTIVE in every region; an impostor with the same CN is
quarantined."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

import pki
from localcloud import observe
from localcloud.cloud import LocalCloud
from localcloud.services import ConnectionRefused

PRIMARY, SECONDARY = "eu-west-1", "us-west-2"
REGIONS = (PRIMARY, SECONDARY)
RECORDER = "multi-region-iot-jitp-recorder"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with LocalCloud(state_dir=tmp_path_factory.mktemp("localcloud-jitp"),
                    config_overrides={"provisioning": "jitp"}) as cloud:
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
