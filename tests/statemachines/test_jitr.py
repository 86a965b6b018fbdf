"""The JITR machine, executed in moto from the real JITR event shape."""
from __future__ import annotations

from builders import inventory as inv

EU, US = "eu-west-1", "us-west-2"


def test_happy_path_activates_the_device_and_records_one_complete_item(cloud, ca):
    device = ca.device("sensor-001")
    run = cloud.jitr(EU, device)

    assert run.status == "SUCCEEDED", (run.error, run.cause)
    certificate = cloud.certificate(EU, device.certificate_id)
    assert certificate["status"] == "ACTIVE"
    assert cloud.thing_exists(EU, "sensor-001")
    assert cloud.principals(EU, "sensor-001") == [certificate["certificateArn"]]
    assert cloud.policies(EU, certificate["certificateArn"]) == ["iotmr-device"]
    items = cloud.items(EU)
    assert len(items) == 1
    item = items[0]
    assert set(item) == set(inv.ATTRIBUTES)
    assert all(set(value) == {"S"} for value in item.values())
    assert item["ThingName"]["S"] == "sensor-001"
    assert item["CertificateId"]["S"] == device.certificate_id
    assert item["CertificatePem"]["S"] == device.pem
    assert item["CaCertificateId"]["S"] == ca.certificate_id
    assert item["OriginRegion"]["S"] == EU
    assert item["Status"]["S"] == "ACTIVE"
    assert item["RegisteredAt"]["S"].endswith("Z")
    assert item["PendingCertificateId"]["S"] == "" and item["PreviousCertificateId"]["S"] == ""
    assert run.transitions == 5  # inspect+claim, create thing, attach, attach policy, activate


def test_inspector_runs_once_in_its_own_region_and_nothing_else_is_called_elsewhere(cloud, ca):
    from localcloud import interception as aws_calls
    from localcloud.services.awslambda import inprocess as lambda_inprocess

    run = cloud.jitr(US, ca.device("sensor-002"))

    assert run.status == "SUCCEEDED"
    assert [(i.function_name, i.region) for i in lambda_inprocess.INVOCATIONS] == [("iotmr-certificate-inspector", US)]
    assert aws_calls.calls(region=EU) == []


def test_a_known_device_is_activated_and_its_item_is_left_untouched(cloud, ca):
    device = ca.device("sensor-003")
    assert cloud.jitr(EU, device).status == "SUCCEEDED"
    cloud.replicate_table(EU, US)  # the global table replicated the item; the replication machine has not run yet
    before = cloud.item(US, "sensor-003")

    run = cloud.jitr(US, device)

    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert cloud.certificate(US, device.certificate_id)["status"] == "ACTIVE"
    assert cloud.item(US, "sensor-003") == before  # same values: no change, so no stream record in DynamoDB
    # ... and the replication machine arriving afterwards is harmless
    assert cloud.replicate(US, before).status == "SUCCEEDED"
    certificate = cloud.certificate(US, device.certificate_id)
    assert certificate["status"] == "ACTIVE"
    assert cloud.principals(US, "sensor-003") == [certificate["certificateArn"]]
