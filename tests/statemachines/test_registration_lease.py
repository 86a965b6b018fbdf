"""The registration lease: one JITR execution per certificate at a time in a region (IoT repeats the registration event
on every connection of a PENDING_ACTIVATION certificate). A duplicate ends before any IoT call; a lease whose holder
failed is released, and an expired one is taken over, so the device's next connection always registers it."""
from __future__ import annotations

import time

import boto3
import pytest
from moto import mock_aws

from functions.certificate_inspector import lease
from localcloud import interception as aws_calls

from localcloud.statemachines.harness import LEASES

EU = "eu-west-1"


def hold(cloud, device, owner="arn:aws:states:eu-west-1:123456789012:execution:iotmr-jitr:first", expires_in=600):
    cloud.regions[EU].client("dynamodb").put_item(TableName=LEASES, Item={
        "CertificateId": {"S": device.certificate_id}, "Owner": {"S": owner},
        "ExpiresAt": {"N": str(int(time.time()) + expires_in)}})


def test_a_duplicate_registration_event_ends_at_once_without_any_iot_call(cloud, ca):
    device = ca.device("lease-duplicate")
    event = cloud.connect(EU, device)
    hold(cloud, device)  # another execution is registering this certificate
    aws_calls.clear()

    run = cloud.run(EU, "jitr", event)

    assert run.status == "SUCCEEDED" and run.states == ["Inspect and record", "Registration already in progress"]
    assert aws_calls.calls("iot", region=EU) == []
    assert cloud.certificate(EU, device.certificate_id)["status"] == "PENDING_ACTIVATION"


def test_an_expired_lease_is_taken_over_and_the_device_registers(cloud, ca):
    device = ca.device("lease-expired")
    event = cloud.connect(EU, device)
    hold(cloud, device, expires_in=-1)  # its holder vanished; TTL has not deleted it yet

    assert cloud.run(EU, "jitr", event).status == "SUCCEEDED"
    assert cloud.certificate(EU, device.certificate_id)["status"] == "ACTIVE"


def test_a_failed_registration_releases_its_lease(cloud, ca):
    device = ca.device("lease-released")
    event = cloud.connect(EU, device)
    aws_calls.inject("iot", "AttachPolicy", error_code="LimitExceededException", region=EU, times=100)

    run = cloud.run(EU, "jitr", event)

    assert run.status == "FAILED" and run.states[-2:] == ["Release registration lease", "Registration failed"]
    assert "Item" not in cloud.regions[EU].client("dynamodb").get_item(
        TableName=LEASES, Key={"CertificateId": {"S": device.certificate_id}})


@pytest.fixture
def table():
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=EU)
        dynamodb.create_table(TableName="leases", KeySchema=[{"AttributeName": "CertificateId", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "CertificateId", "AttributeType": "S"}],
                              BillingMode="PAY_PER_REQUEST")
        yield dynamodb


def test_the_holder_takes_its_own_lease_again_and_another_owner_is_refused_until_it_expires(table):
    now = [1_000_000.0]
    take = lambda owner: lease.take(table, "leases", "c" * 64, owner, clock=lambda: now[0])
    take("execution-1")
    take("execution-1")  # a Step Functions retry of the inspector: the same execution
    with pytest.raises(lease.RegistrationInProgress):
        take("execution-2")
    now[0] += lease.LEASE_SECONDS + 1
    take("execution-2")
    with pytest.raises(lease.RegistrationInProgress):
        take("execution-1")
