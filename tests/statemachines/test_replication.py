"""The replication machine: everything comes from the item; idempotent; never calls the origin region."""
from __future__ import annotations

from localcloud.patches import aws_calls, lambda_inprocess

EU, US = "eu-west-1", "us-west-2"


def registered_in_eu(cloud, ca, name):
    device = ca.device(name)
    assert cloud.jitr(EU, device).status == "SUCCEEDED"
    return device, cloud.item(EU, name)


def assert_active(cloud, region, device):
    certificate = cloud.certificate(region, device.certificate_id)
    assert certificate["status"] == "ACTIVE"
    assert certificate["caCertificateId"] == cloud.ca.certificate_id
    assert cloud.principals(region, device.name) == [certificate["certificateArn"]]
    assert cloud.policies(region, certificate["certificateArn"]) == ["iotmr-device"]


def test_a_new_item_registers_and_activates_the_device_in_another_region(cloud, ca):
    device, item = registered_in_eu(cloud, ca, "pump-1")
    lambda_inprocess.INVOCATIONS.clear()

    run = cloud.replicate(US, item)

    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert_active(cloud, US, device)
    assert run.transitions == 6  # read, decide, register, create thing, attach, attach policy
    assert lambda_inprocess.INVOCATIONS == []


def test_replaying_the_same_event_is_harmless(cloud, ca):
    device, item = registered_in_eu(cloud, ca, "pump-2")
    first = cloud.replicate(US, item)
    second = cloud.replicate(US, item)

    assert (first.status, second.status) == ("SUCCEEDED", "SUCCEEDED")
    assert "Describe existing certificate" in second.states
    assert_active(cloud, US, device)


def test_replication_makes_no_call_to_the_origin_region_and_survives_its_outage(cloud, ca):
    device, item = registered_in_eu(cloud, ca, "pump-3")
    aws_calls.clear()
    for operation in ("DescribeCertificate", "RegisterCertificate", "CreateThing", "AttachThingPrincipal", "AttachPolicy",
                      "UpdateCertificate", "DescribeThing", "ListThingPrincipals"):
        aws_calls.inject("iot", operation, region=EU, error_code="ServiceUnavailableException", times=1000)

    run = cloud.replicate(US, item)

    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert_active(cloud, US, device)
    assert aws_calls.calls(region=EU) == []
    assert {c.region for c in aws_calls.CALLS} == {US}


def test_a_device_auto_registered_here_first_is_activated_by_replication(cloud, ca):
    device, item = registered_in_eu(cloud, ca, "pump-4")
    cloud.connect(US, device)  # PENDING_ACTIVATION in US; its JITR has not run (or failed)

    run = cloud.replicate(US, item)

    assert run.status == "SUCCEEDED"
    assert_active(cloud, US, device)


def test_replication_never_reactivates_a_certificate_revoked_here(cloud, ca):
    device, item = registered_in_eu(cloud, ca, "pump-5")
    iot = cloud.regions[US].client("iot")
    iot.register_certificate(certificatePem=device.pem, status="REVOKED")

    run = cloud.replicate(US, item)

    assert (run.status, run.error) == ("FAILED", "CertificateRevoked")
    assert cloud.certificate(US, device.certificate_id)["status"] == "REVOKED"


def test_a_failed_replication_is_reported_on_the_bus(cloud, ca):
    device, item = registered_in_eu(cloud, ca, "pump-6")
    aws_calls.inject("iot", "AttachPolicy", region=US, error_code="InvalidRequestException")

    run = cloud.replicate(US, item)

    assert (run.status, run.error) == ("FAILED", "Iot.InvalidRequestException")
    (event,) = [e for e in cloud.bus_events(US) if e["detail-type"] == "DeviceReplicationFailed"]
    assert event["detail"]["thingName"] == "pump-6"
    assert event["detail"]["certificateId"] == device.certificate_id
