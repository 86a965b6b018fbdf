"""IoT Core publishes the JITR registration event again when a PENDING_ACTIVATION certificate is presented.

AWS (developer guide, auto-register-device-cert.html): "When AWS IoT automatically registers a certificate or when
a client presents a certificate in the PENDING_ACTIVATION status, AWS IoT publishes a message" on
``$aws/events/certificates/registered/<caCertificateId>``. INACTIVE and REVOKED certificates are refused with none.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from engine_support import ACCOUNT, PRIMARY, Issued, make_ca, make_device
from moto import mock_aws
from moto.iot.models import iot_backends

from localcloud.services.iot.core import ConnectionRefused, IotCore

REGISTERED = "$aws/events/certificates/registered/{}"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        self.now += 1_000
        return self.now


@pytest.fixture
def ca() -> Issued:
    return make_ca()


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, ca: Issued) -> Iterator[tuple[IotCore, str, Any]]:
    """IoT Core over one region whose CA allows auto-registration; (core, CA id, iot client)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws(config={"iot": {"use_valid_cert": True}}):
        iot = boto3.client("iot", region_name=PRIMARY)
        ca_id = iot.register_ca_certificate(
            caCertificate=ca.pem, setAsActive=True, allowAutoRegistration=True, certificateMode="SNI_ONLY"
        )["certificateId"]
        yield IotCore(clock_ms=Clock()), ca_id, iot


def refused(core: IotCore, device: Issued, match: str | None = None) -> None:
    with pytest.raises(ConnectionRefused, match=match):
        core.connect(PRIMARY, device.pem, device.certificate.subject.rfc4514_string().removeprefix("CN="))


def test_a_pending_certificate_presented_again_is_refused_and_its_registration_event_published_again(
    world: tuple[IotCore, str, Any], ca: Issued
) -> None:
    core, ca_id, _ = world
    device = make_device(ca, "dev-1")
    refused(core, device, "just-in-time registration")
    refused(core, device, "PENDING_ACTIVATION")
    (_, topic_1, first), (_, topic_2, again) = core.published_events
    assert topic_1 == topic_2 == REGISTERED.format(ca_id)
    assert set(again) == set(first)  # the same shape
    assert again["timestamp"] > first["timestamp"]  # published now ...
    assert again["certificateRegistrationTimestamp"] == first["certificateRegistrationTimestamp"]  # ... about then
    assert {k: v for k, v in again.items() if k != "timestamp"} == {
        "certificateId": device.der_sha256,
        "caCertificateId": ca_id,
        "certificateStatus": "PENDING_ACTIVATION",
        "awsAccountId": ACCOUNT,
        "certificateRegistrationTimestamp": first["certificateRegistrationTimestamp"],
    }
    assert (core.stats.auto_registered, core.stats.jitr_events, core.stats.refused) == (1, 2, 2)


def test_a_certificate_registered_pending_through_the_api_gets_the_event_when_presented(
    world: tuple[IotCore, str, Any], ca: Issued
) -> None:
    core, ca_id, iot = world
    device = make_device(ca, "dev-2")
    iot.register_certificate(certificatePem=device.pem, caCertificatePem=ca.pem, status="PENDING_ACTIVATION")
    refused(core, device, "PENDING_ACTIVATION")
    ((_, topic, event),) = core.published_events
    assert topic == REGISTERED.format(ca_id) and event["certificateId"] == device.der_sha256
    assert event["certificateRegistrationTimestamp"].isdigit()


def test_inactive_and_revoked_certificates_are_refused_without_an_event(
    world: tuple[IotCore, str, Any], ca: Issued
) -> None:
    core, _, iot = world
    device = make_device(ca, "dev-3")
    refused(core, device)
    events = len(core.published_events)
    for status in ("INACTIVE", "REVOKED"):
        iot.update_certificate(certificateId=device.der_sha256, newStatus=status)
        refused(core, device, status)
        assert len(core.published_events) == events


def test_no_event_is_published_again_while_certificate_events_are_disabled(
    world: tuple[IotCore, str, Any], ca: Issued
) -> None:
    core, _, _ = world
    device = make_device(ca, "dev-4")
    refused(core, device)
    # the shape localcloud.fixes.iot_event_configurations keeps on the backend
    iot_backends[ACCOUNT][PRIMARY]._localcloud_event_configurations = {
        "eventConfigurations": {"CERTIFICATE": {"Enabled": False}}
    }
    refused(core, device, "PENDING_ACTIVATION")
    assert len(core.published_events) == 1
