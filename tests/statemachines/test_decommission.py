"""The decommission machine: every region revokes and removes the device, tolerating what is already gone."""
from __future__ import annotations

from builders import inventory as inv

EU, US = "eu-west-1", "us-west-2"


def test_decommission_removes_the_device_in_every_region(cloud, ca):
    device = ca.device("valve-1")
    assert cloud.jitr(EU, device).status == "SUCCEEDED"
    cloud.replicate_table(EU, US)
    assert cloud.replicate(US, cloud.item(US, "valve-1")).status == "SUCCEEDED"
    item = cloud.item(EU, "valve-1")
    item["Status"] = {"S": "REVOKED"}  # the operator's change
    cloud.put_item(EU, item)

    for region in (EU, US):
        run = cloud.run(region, "decommission", inv.flat_item(item, "MODIFY"))
        assert run.status == "SUCCEEDED", (region, run.error, run.cause)
        certificate = cloud.certificate(region, device.certificate_id)
        assert certificate["status"] == "REVOKED"
        assert cloud.policies(region, certificate["certificateArn"]) == []
        assert not cloud.thing_exists(region, "valve-1")
        # a replay finds nothing left to do and still succeeds
        assert cloud.run(region, "decommission", inv.flat_item(item, "MODIFY")).status == "SUCCEEDED"


def test_decommission_in_a_region_the_device_never_reached_succeeds(cloud, ca):
    device = ca.device("valve-2")
    item = inv.item(thing_name="valve-2", certificate_id=device.certificate_id, certificate_pem=device.pem,
                    ca_certificate_id=ca.certificate_id, origin_region=EU, registered_at="2025-01-01T00:00:00Z", status="REVOKED")

    run = cloud.run(US, "decommission", inv.flat_item(item, "MODIFY"))

    assert run.status == "SUCCEEDED"
    assert run.states[-1] == "Decommissioned"
