"""The replication machine: everything comes from the item; idempotent; never calls the origin region."""
from __future__ import annotations

from localcloud import interception as aws_calls
from localcloud.services.awslambda import inprocess as lambda_inprocess

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


def test_a_stale_event_is_replicated_from_the_item_as_it_is_now(cloud, ca):
    old, item_then = registered_in_eu(cloud, ca, "pump-7")
    new = ca.device("pump-7")
    item_now = {**item_then, "CertificateId": {"S": new.certificate_id}, "CertificatePem": {"S": new.pem},
                "PreviousCertificateId": {"S": old.certificate_id}}
    cloud.put_item(US, item_now)

    run = cloud.replicate(US, item_then, arrive=False)  # the event still names the old certificate

    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert_active(cloud, US, new)
    assert cloud.certificate(US, old.certificate_id) is None  # never registered from the stale event


def test_an_event_for_a_decommissioned_device_does_nothing(cloud, ca):
    device, item = registered_in_eu(cloud, ca, "pump-8")
    cloud.put_item(US, {**item, "Status": {"S": "REVOKED"}})

    run = cloud.replicate(US, item, arrive=False)  # e.g. redriven from the dead-letter queue after decommission

    assert run.status == "SUCCEEDED" and run.states[-1] == "Nothing to replicate"
    assert cloud.certificate(US, device.certificate_id) is None and not cloud.thing_exists(US, "pump-8")


def test_the_certificate_that_lost_the_name_is_revoked_first_and_the_conflict_reported(cloud, ca):
    winner, winner_item = registered_in_eu(cloud, ca, "pump-9")
    loser = ca.device("pump-9")
    iot = cloud.regions[US].client("iot")
    loser_arn = iot.register_certificate(certificatePem=loser.pem, status="ACTIVE")["certificateArn"]
    iot.create_thing(thingName="pump-9", attributePayload={"attributes": {"certificateId": loser.certificate_id}})
    iot.attach_thing_principal(thingName="pump-9", principal=loser_arn)  # US's own registration of the loser
    cloud.bus_events(US)  # drain

    run = cloud.replicate(US, winner_item, "MODIFY", old_certificate_id=loser.certificate_id)

    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert_active(cloud, US, winner)
    assert cloud.certificate(US, loser.certificate_id)["status"] == "REVOKED"
    assert cloud.policies(US, loser_arn) == []
    assert iot.describe_thing(thingName="pump-9")["attributes"] == {"certificateId": winner.certificate_id}
    events = {e["detail-type"]: e["detail"] for e in cloud.bus_events(US)}
    assert events["DeviceOwnershipConflict"]["revokedCertificateId"] == loser.certificate_id
    assert events["DeviceOwnershipConflict"]["certificateId"] == winner.certificate_id
    assert events["ThingOwnershipEnforced"]["certificateId"] == winner.certificate_id


def test_an_older_execution_never_takes_the_thing_from_the_current_owner(cloud, ca):
    old, old_item = registered_in_eu(cloud, ca, "pump-10")
    new = ca.device("pump-10")
    new_item = {**old_item, "CertificateId": {"S": new.certificate_id}, "CertificatePem": {"S": new.pem}}
    newer = []
    # the older execution has read the old item; before it creates the thing, the new item arrives and its own
    # replication runs to the end (fencing the old certificate, recording the new owner)
    aws_calls.inject("iot", "CreateThing", region=US, times=1, before=lambda: newer.append(
        cloud.replicate(US, new_item, "MODIFY", old_certificate_id=old.certificate_id)))

    older = cloud.replicate(US, old_item)

    assert [r.status for r in newer] == ["SUCCEEDED"]
    assert older.status == "SUCCEEDED" and older.states[-1] == "Nothing to replicate"
    assert_active(cloud, US, new)
    assert cloud.certificate(US, old.certificate_id)["status"] == "REVOKED"
