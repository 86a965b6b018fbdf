"""IoT Core data plane: JITR on first connect, policy-checked connect/publish, topic rules."""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from engine_support import ACCOUNT, PRIMARY, SECONDARY, Issued, make_ca, make_device
from moto import mock_aws
from moto.iot.models import iot_backends

from localcloud.services.iot.core import (
    ConnectionRefused,
    IotCore,
    PublishRefused,
    connect_with_backoff,
)

THING = "${iot:Connection.Thing.ThingName}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/iot"


def device_policy(region: str) -> str:
    arn = f"arn:aws:iot:{region}:{ACCOUNT}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "iot:Connect",
                    "Resource": f"{arn}:client/{THING}",
                    "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
                },
                {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{arn}:topic/i/{THING}/*"},
                {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": f"{arn}:topicfilter/e/{THING}/*"},
            ],
        }
    )


def iot(region: str = PRIMARY) -> Any:
    return boto3.client("iot", region_name=region)


class Region:
    """One region's registry: our CA, the device policy, the JITR and telemetry rules."""

    def __init__(self, region: str, ca: Issued) -> None:
        self.region = region
        client = iot(region)
        self.ca_id = client.register_ca_certificate(
            caCertificate=ca.pem, setAsActive=True, allowAutoRegistration=True, certificateMode="SNI_ONLY"
        )["certificateId"]
        client.create_policy(policyName="device", policyDocument=device_policy(region))
        sfn = boto3.client("stepfunctions", region_name=region)
        self.machine = sfn.create_state_machine(
            name="jitr",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
            roleArn=ROLE,
        )["stateMachineArn"]
        client.create_topic_rule(
            ruleName="jitr",
            topicRulePayload={
                "sql": f"SELECT * FROM '$aws/events/certificates/registered/{self.ca_id}' "
                "WHERE certificateStatus = 'PENDING_ACTIVATION'",
                "awsIotSqlVersion": "2016-03-23",
                "ruleDisabled": False,
                "actions": [
                    {"stepFunctions": {"stateMachineName": "jitr", "executionNamePrefix": "jitr-", "roleArn": ROLE}}
                ],
            },
        )
        boto3.client("dynamodb", region_name=region).create_table(
            TableName="data",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "PK", "AttributeType": "S"},
                {"AttributeName": "SK", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        client.create_topic_rule(
            ruleName="telemetry",
            topicRulePayload={
                "sql": "SELECT topic(2) AS PK, concat(cast(timestamp() AS String), '#', newuuid()) AS SK, "
                f"topic(2) AS Device, '{region}' AS Region, timestamp() AS ReceivedAt, "
                "message AS Message FROM 'i/+/m'",
                "awsIotSqlVersion": "2016-03-23",
                "ruleDisabled": False,
                "actions": [{"dynamoDBv2": {"putItem": {"tableName": "data"}, "roleArn": ROLE}}],
            },
        )

    def activate(self, device: Issued, thing: str) -> None:
        """What the JITR machine does: thing, attach, policy, activate."""
        client = iot(self.region)
        arn = client.describe_certificate(certificateId=device.der_sha256)["certificateDescription"]["certificateArn"]
        client.create_thing(thingName=thing)
        client.attach_thing_principal(thingName=thing, principal=arn)
        client.attach_policy(policyName="device", target=arn)
        client.update_certificate(certificateId=device.der_sha256, newStatus="ACTIVE")


@pytest.fixture
def ca() -> Issued:
    return make_ca()


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, ca: Issued) -> Iterator[tuple[IotCore, Region]]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": PRIMARY,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws(config={"iot": {"use_valid_cert": True}}):
        yield IotCore(clock_ms=lambda: 1_700_000_000_000), Region(PRIMARY, ca)


def test_first_connection_registers_pending_publishes_jitr_event_and_is_refused(
    world: tuple[IotCore, Region], ca: Issued
) -> None:
    core, region = world
    device = make_device(ca, "dev-1")
    with pytest.raises(ConnectionRefused, match="PENDING_ACTIVATION"):
        core.connect(PRIMARY, device.pem, "dev-1")
    described = iot().describe_certificate(certificateId=device.der_sha256)["certificateDescription"]
    assert described["status"] == "PENDING_ACTIVATION"
    backend_certificate = iot_backends[ACCOUNT][PRIMARY].certificates[device.der_sha256]
    assert backend_certificate.ca_certificate_id == region.ca_id
    ((event_region, topic, event),) = core.published_events
    assert (event_region, topic) == (PRIMARY, f"$aws/events/certificates/registered/{region.ca_id}")
    assert event == {
        "certificateId": device.der_sha256,
        "caCertificateId": region.ca_id,
        "timestamp": 1_700_000_000_000,
        "certificateStatus": "PENDING_ACTIVATION",
        "awsAccountId": ACCOUNT,
        "certificateRegistrationTimestamp": "1700000000000",
    }


def test_the_jitr_rule_starts_the_machine_with_the_event_when_settled(
    world: tuple[IotCore, Region], ca: Issued
) -> None:
    core, region = world
    device = make_device(ca, "dev-1")
    with pytest.raises(ConnectionRefused):
        core.connect(PRIMARY, device.pem, "dev-1")
    sfn = boto3.client("stepfunctions", region_name=PRIMARY)
    assert sfn.list_executions(stateMachineArn=region.machine)["executions"] == []
    assert core.settle() == 1
    (execution,) = sfn.list_executions(stateMachineArn=region.machine)["executions"]
    assert execution["name"].startswith("jitr-")
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == core.published_events[0][2]


def test_a_pending_certificate_is_refused_again_and_its_registration_event_republished(
    world: tuple[IotCore, Region], ca: Issued
) -> None:
    core, _ = world
    device = make_device(ca, "dev-1")
    for _ in range(2):
        with pytest.raises(ConnectionRefused):
            core.connect(PRIMARY, device.pem, "dev-1")
    assert len(core.published_events) == 2  # AWS's JITR guide: PENDING_ACTIVATION presented again publishes again
    assert core.stats.refused == 2


@pytest.mark.parametrize("handshake", ["accepted", "refused"])
def test_a_certificate_outside_its_validity_window_is_registered_or_refused_as_the_register_says(
    world: tuple[IotCore, Region], ca: Issued, handshake: str
) -> None:
    """Register row iot.handshake-certificate-validity: AWS documents no validity check at the handshake. Default
    (worse): accepted, auto-registered PENDING_ACTIVATION and the event published, so only the inspector refuses
    it; the other outcome refuses it at the handshake with nothing registered."""
    core, _ = world
    core.assumptions = dataclasses.replace(core.assumptions, expired_certificate_handshake=handshake)
    device = make_device(ca, "dev-late")
    now = datetime.datetime.now(datetime.UTC)
    expired = (x509.CertificateBuilder().subject_name(device.certificate.subject)
               .issuer_name(ca.certificate.subject).public_key(device.key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=30)).not_valid_after(now - datetime.timedelta(days=1))
               .sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    if handshake == "refused":
        with pytest.raises(ConnectionRefused, match="expired"):
            core.connect(PRIMARY, expired, "dev-late")
        assert core.published_events == [] and core.stats.auto_registered == 0
    else:
        with pytest.raises(ConnectionRefused, match="registered PENDING_ACTIVATION"):
            core.connect(PRIMARY, expired, "dev-late")
        assert core.stats.auto_registered == 1
        assert [event["certificateStatus"] for _, _, event in core.published_events] == ["PENDING_ACTIVATION"]


def test_an_activated_device_connects_as_its_thing_only(world: tuple[IotCore, Region], ca: Issued) -> None:
    core, region = world
    device = make_device(ca, "dev-1")
    with pytest.raises(ConnectionRefused):
        core.connect(PRIMARY, device.pem, "dev-1")
    region.activate(device, "dev-1")
    connection = core.connect(PRIMARY, device.pem, "dev-1")
    assert connection.thing_name == "dev-1"
    assert connection.certificate_id == device.der_sha256
    with pytest.raises(ConnectionRefused, match="iot:Connect"):
        core.connect(PRIMARY, device.pem, "someone-else")


def test_without_policy_or_thing_the_connection_is_refused(world: tuple[IotCore, Region], ca: Issued) -> None:
    core, _ = world
    device = make_device(ca, "dev-1")
    with pytest.raises(ConnectionRefused):
        core.connect(PRIMARY, device.pem, "dev-1")
    iot().update_certificate(certificateId=device.der_sha256, newStatus="ACTIVE")
    with pytest.raises(ConnectionRefused, match="not authorized"):
        core.connect(PRIMARY, device.pem, "dev-1")


def test_telemetry_is_written_by_the_rule_when_settled(world: tuple[IotCore, Region], ca: Issued) -> None:
    core, region = world
    device = make_device(ca, "dev-1")
    with pytest.raises(ConnectionRefused):
        core.connect(PRIMARY, device.pem, "dev-1")
    region.activate(device, "dev-1")
    core.settle()
    connection = core.connect(PRIMARY, device.pem, "dev-1")
    assert core.publish(connection, "i/dev-1/m", json.dumps({"message": "hello"})) == 1
    assert core.settle() == 1
    (item,) = boto3.client("dynamodb", region_name=PRIMARY).scan(TableName="data")["Items"]
    assert item["PK"] == {"S": "dev-1"} and item["Device"] == {"S": "dev-1"}
    assert item["Region"] == {"S": PRIMARY}
    assert item["Message"] == {"S": "hello"}
    assert item["ReceivedAt"] == {"N": "1700000000000"}
    assert item["SK"]["S"].startswith("1700000000000#")


def test_publishing_outside_the_policy_is_refused_and_disconnects(
    world: tuple[IotCore, Region], ca: Issued
) -> None:
    core, region = world
    device = make_device(ca, "dev-1")
    with pytest.raises(ConnectionRefused):
        core.connect(PRIMARY, device.pem, "dev-1")
    region.activate(device, "dev-1")
    connection = core.connect(PRIMARY, device.pem, "dev-1")
    with pytest.raises(PublishRefused, match="iot:Publish"):
        core.publish(connection, "i/dev-2/m", "{}")
    with pytest.raises(PublishRefused, match="closed"):
        core.publish(connection, "i/dev-1/m", "{}")


def test_devices_cannot_publish_aws_events_or_wildcards(world: tuple[IotCore, Region], ca: Issued) -> None:
    core, region = world
    device = make_device(ca, "dev-1")
    with pytest.raises(ConnectionRefused):
        core.connect(PRIMARY, device.pem, "dev-1")
    region.activate(device, "dev-1")
    with pytest.raises(PublishRefused, match="reserved"):
        core.publish(core.connect(PRIMARY, device.pem, "dev-1"), "$aws/events/certificates/registered/x", "{}")
    with pytest.raises(PublishRefused, match="invalid topic"):
        core.publish(core.connect(PRIMARY, device.pem, "dev-1"), "i/+/m", "{}")


def test_subscribe_is_checked_against_topic_filters(world: tuple[IotCore, Region], ca: Issued) -> None:
    core, region = world
    device = make_device(ca, "dev-1")
    with pytest.raises(ConnectionRefused):
        core.connect(PRIMARY, device.pem, "dev-1")
    region.activate(device, "dev-1")
    connection = core.connect(PRIMARY, device.pem, "dev-1")
    core.subscribe(connection, "e/dev-1/commands")
    with pytest.raises(PublishRefused, match="iot:Subscribe"):
        core.subscribe(connection, "e/#")


def test_a_revoked_certificate_is_refused(world: tuple[IotCore, Region], ca: Issued) -> None:
    core, region = world
    device = make_device(ca, "dev-1")
    with pytest.raises(ConnectionRefused):
        core.connect(PRIMARY, device.pem, "dev-1")
    region.activate(device, "dev-1")
    connection = core.connect(PRIMARY, device.pem, "dev-1")
    iot().update_certificate(certificateId=device.der_sha256, newStatus="REVOKED")
    with pytest.raises(PublishRefused, match="no longer ACTIVE"):
        core.publish(connection, "i/dev-1/m", "{}")
    with pytest.raises(ConnectionRefused, match="REVOKED"):
        core.connect(PRIMARY, device.pem, "dev-1")


def test_a_certificate_from_an_unregistered_ca_is_refused_at_the_handshake(
    world: tuple[IotCore, Region],
) -> None:
    core, _ = world
    stranger = make_device(make_ca("Other CA"), "dev-x")
    with pytest.raises(ConnectionRefused, match="no CA registered"):
        core.connect(PRIMARY, stranger.pem, "dev-x")
    assert core.published_events == []


def test_the_ca_must_be_registered_in_the_region_connected_to(world: tuple[IotCore, Region], ca: Issued) -> None:
    core, _ = world
    with pytest.raises(ConnectionRefused, match=SECONDARY):
        core.connect(SECONDARY, make_device(ca, "dev-1").pem, "dev-1")


def test_disabled_certificate_events_publish_nothing(world: tuple[IotCore, Region], ca: Issued) -> None:
    core, _ = world
    # the shape localcloud.fixes.iot_event_configurations keeps on the backend
    iot_backends[ACCOUNT][PRIMARY]._localcloud_event_configurations = {
        "eventConfigurations": {"CERTIFICATE": {"Enabled": False}}
    }
    with pytest.raises(ConnectionRefused):
        core.connect(PRIMARY, make_device(ca, "dev-1").pem, "dev-1")
    assert core.published_events == []
    assert core.stats.auto_registered == 1


def test_auto_registration_disabled_on_the_ca_refuses_unknown_certificates(
    world: tuple[IotCore, Region], ca: Issued
) -> None:
    core, region = world
    iot_backends[ACCOUNT][PRIMARY].ca_certificates[region.ca_id].auto_registration_status = "DISABLE"
    with pytest.raises(ConnectionRefused, match="auto-registration"):
        core.connect(PRIMARY, make_device(ca, "dev-1").pem, "dev-1")


def test_disabled_rules_do_not_run_and_unsupported_actions_are_recorded(
    world: tuple[IotCore, Region], ca: Issued
) -> None:
    core, _ = world
    iot().disable_topic_rule(ruleName="jitr")
    iot().create_topic_rule(
        ruleName="republish",
        topicRulePayload={
            "sql": "SELECT * FROM '$aws/events/#'",
            "actions": [{"republish": {"topic": "x", "roleArn": ROLE}}],
        },
    )
    with pytest.raises(ConnectionRefused):
        core.connect(PRIMARY, make_device(ca, "dev-1").pem, "dev-1")
    assert core.settle() == 0
    (failure,) = core.failures
    assert failure.action_type == "republish" and "not emulated" in failure.reason


def test_connect_with_backoff_retries_after_the_cloud_settles(world: tuple[IotCore, Region], ca: Issued) -> None:
    core, region = world
    device = make_device(ca, "dev-1")
    settled: list[int] = []

    def settle() -> None:  # stands in for the JITR machine
        settled.append(1)
        region.activate(device, "dev-1")

    connection = connect_with_backoff(core, PRIMARY, device.pem, "dev-1", settle=settle)
    assert connection.attempts == 2 and settled == [1]


def test_connect_with_backoff_gives_up_with_the_last_reason(world: tuple[IotCore, Region], ca: Issued) -> None:
    core, _ = world
    with pytest.raises(ConnectionRefused, match="PENDING_ACTIVATION"):
        connect_with_backoff(core, PRIMARY, make_device(ca, "dev-1").pem, "dev-1", settle=lambda: None, attempts=3)
    assert core.stats.connects == 3
