"""The decommission machine: every region revokes every certificate of the thing and removes it, acting on the
inventory as it is now and tolerating what is already gone."""
from __future__ import annotations

from builders import inventory as inv

EU, US = "eu-west-1", "us-west-2"


def revoked(item: dict) -> dict:
    return {**item, inv.STATUS: {"S": inv.REVOKED}}  # the operator's change


def test_decommission_removes_the_device_in_every_region(cloud, ca):
    device = ca.device("valve-1")
    assert cloud.jitr(EU, device).status == "SUCCEEDED"
    assert cloud.replicate(US, cloud.item(EU, "valve-1")).status == "SUCCEEDED"
    item = revoked(cloud.item(EU, "valve-1"))

    for region in (EU, US):
        cloud.put_item(region, item)
        run = cloud.decommission(region, item)
        assert run.status == "SUCCEEDED", (region, run.error, run.cause)
        certificate = cloud.certificate(region, device.certificate_id)
        assert certificate["status"] == "REVOKED"
        assert cloud.policies(region, certificate["certificateArn"]) == []
        assert not cloud.thing_exists(region, "valve-1")
        # a replay finds nothing left to do and still succeeds
        assert cloud.decommission(region, item).status == "SUCCEEDED"


def test_decommission_in_a_region_the_device_never_reached_succeeds(cloud, ca):
    device = ca.device("valve-2")
    item = inv.item(thing_name="valve-2", certificate_id=device.certificate_id, certificate_pem=device.pem,
                    ca_certificate_id=ca.certificate_id, origin_region=EU, registered_at="2025-01-01T00:00:00Z",
                    status="REVOKED")
    cloud.put_item(US, item)

    run = cloud.decommission(US, item)

    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert run.states[-1] == "Decommissioned"


def test_a_stale_decommission_event_for_an_active_device_does_nothing(cloud, ca):
    device = ca.device("valve-3")
    assert cloud.jitr(EU, device).status == "SUCCEEDED"
    item = cloud.item(EU, "valve-3")

    run = cloud.decommission(EU, revoked(item))  # the event says REVOKED; the item says ACTIVE

    assert run.status == "SUCCEEDED" and run.states[-1] == "Not decommissioned"
    assert cloud.certificate(EU, device.certificate_id)["status"] == "ACTIVE"
    assert cloud.thing_exists(EU, "valve-3")


def test_decommission_revokes_every_certificate_attached_to_the_thing_not_only_the_recorded_one(cloud, ca):
    device, stray = ca.device("valve-4"), ca.device("valve-4")
    assert cloud.jitr(EU, device).status == "SUCCEEDED"
    iot = cloud.regions[EU].client("iot")
    stray_arn = iot.register_certificate(certificatePem=stray.pem, status="ACTIVE")["certificateArn"]
    iot.attach_thing_principal(thingName="valve-4", principal=stray_arn)  # attached by hand, unknown to the inventory
    item = revoked(cloud.item(EU, "valve-4"))
    cloud.put_item(EU, item)

    run = cloud.decommission(EU, item)

    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert cloud.certificate(EU, device.certificate_id)["status"] == "REVOKED"
    assert cloud.certificate(EU, stray.certificate_id)["status"] == "REVOKED"
    assert not cloud.thing_exists(EU, "valve-4")


def test_decommission_revokes_the_recorded_previous_and_pending_certificates(cloud, ca):
    current, previous, pending = ca.device("valve-5"), ca.device("valve-5"), ca.device("valve-5")
    iot = cloud.regions[US].client("iot")
    for certificate in (current, previous, pending):  # all three reached this region at some point
        iot.register_certificate(certificatePem=certificate.pem, status="ACTIVE")
    item = inv.item(thing_name="valve-5", certificate_id=current.certificate_id, certificate_pem=current.pem,
                    ca_certificate_id=ca.certificate_id, origin_region=EU, registered_at="2025-01-01T00:00:00Z",
                    status="REVOKED", previous_certificate_id=previous.certificate_id,
                    pending_certificate_id=pending.certificate_id)
    cloud.put_item(US, item)

    assert cloud.decommission(US, item).status == "SUCCEEDED"

    assert [cloud.certificate(US, c.certificate_id)["status"] for c in (current, previous, pending)] == ["REVOKED"] * 3
