"""Impostors are quarantined (INACTIVE) and reported; certificates that can never be registered are revoked;
neither is ever activated."""
from __future__ import annotations

from builders import inventory as inv
from localcloud.fixes import aws_calls

from .certs import TestCA

EU, US = "eu-west-1", "us-west-2"


def assert_never_active(cloud, device):
    for region in (EU, US):
        certificate = cloud.certificate(region, device.certificate_id)
        assert certificate is None or certificate["status"] != "ACTIVE", region


def test_an_impostor_found_in_the_inventory_is_quarantined_reported_and_fails(cloud, ca):
    owner, impostor = ca.device("meter-1"), ca.device("meter-1")
    assert cloud.jitr(EU, owner).status == "SUCCEEDED"
    owner_item = cloud.item(EU, "meter-1")
    cloud.bus_events(EU)  # drain

    run = cloud.jitr(EU, impostor)

    assert (run.status, run.error) == ("FAILED", "ImpostorCertificateRejected")
    assert "meter-1" in run.cause and owner.certificate_id in run.cause
    assert cloud.certificate(EU, impostor.certificate_id)["status"] == "INACTIVE"  # refused, no new event
    assert_never_active(cloud, impostor)
    assert cloud.item(EU, "meter-1") == owner_item
    owner_arn = cloud.certificate(EU, owner.certificate_id)["certificateArn"]
    assert cloud.principals(EU, "meter-1") == [owner_arn]
    (event,) = [e for e in cloud.bus_events(EU) if e["detail-type"] == "ImpostorCertificateRejected"]
    assert event["source"] == "iotmr.devices"
    assert event["detail"]["certificateId"] == impostor.certificate_id
    assert event["detail"]["error"] == "ThingNameClaimedByAnotherCertificate"


def test_an_impostor_racing_the_owner_loses_at_the_inventory_condition(cloud, ca):
    owner, impostor = ca.device("meter-2"), ca.device("meter-2")
    assert cloud.jitr(US, owner).status == "SUCCEEDED"
    owner_item = cloud.item(US, "meter-2")
    event = cloud.connect(EU, impostor)
    # the owner's item reaches the EU replica after the inspector looked (NEW) and before its conditional write
    aws_calls.inject("dynamodb", "UpdateItem", region=EU, before=lambda: cloud.put_item(EU, owner_item))

    run = cloud.run(EU, "jitr", event)

    assert (run.status, run.error) == ("FAILED", "ImpostorCertificateRejected")
    assert "Create thing" not in run.states  # the claim is the first write: nothing was created
    assert not cloud.thing_exists(EU, "meter-2")
    assert cloud.certificate(EU, impostor.certificate_id)["status"] == "INACTIVE"
    assert_never_active(cloud, impostor)
    assert cloud.item(EU, "meter-2") == owner_item
    assert any(e["detail-type"] == "ImpostorCertificateRejected" for e in cloud.bus_events(EU))


def test_a_certificate_whose_cn_is_not_a_thing_name_is_revoked(cloud, ca):
    for name in ("not a thing name!", None):
        device = ca.device(name)
        run = cloud.jitr(EU, device)
        assert (run.status, run.error) == ("FAILED", "InvalidThingName")
        assert cloud.certificate(EU, device.certificate_id)["status"] == "REVOKED"
    assert cloud.items(EU) == []


def test_a_certificate_from_another_ca_is_revoked(cloud):
    other = TestCA("Some Other CA")
    cloud.regions[EU].client("iot").register_ca_certificate(caCertificate=other.pem, setAsActive=True,
                                                             allowAutoRegistration=True, certificateMode="SNI_ONLY")
    device = other.device("foreign-1")
    event = cloud.connect(EU, device)
    event["caCertificateId"] = other.certificate_id

    run = cloud.run(EU, "jitr", event)

    assert (run.status, run.error) == ("FAILED", "UnexpectedIssuer")
    assert cloud.certificate(EU, device.certificate_id)["status"] == "REVOKED"
    assert not cloud.thing_exists(EU, "foreign-1")


def test_a_decommissioned_device_is_not_activated_again(cloud, ca):
    device = ca.device("retired-1")
    cloud.put_item(EU, inv.item(thing_name="retired-1", certificate_id=device.certificate_id, certificate_pem=device.pem,
                                ca_certificate_id=ca.certificate_id, origin_region=US, registered_at="2025-01-01T00:00:00Z",
                                status="REVOKED"))
    run = cloud.jitr(EU, device)

    assert (run.status, run.error) == ("FAILED", "DeviceDecommissioned")
    assert cloud.certificate(EU, device.certificate_id)["status"] == "REVOKED"
