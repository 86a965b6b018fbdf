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
    assert run.transitions == 6
