"""The certificate inspector's pure logic, with stub clients (no moto)."""
from __future__ import annotations

import pytest

from builders import inventory as inv
from functions.certificate_inspector import inspector

from .certs import TestCA

REGION = "eu-west-1"


class NotFound(Exception):
    pass


class StubIot:
    class exceptions:
        ResourceNotFoundException = NotFound

    def __init__(self, pem: str, ca_id: str, things: set[str] = frozenset()):
        self.pem, self.ca_id, self.things = pem, ca_id, things

    def describe_certificate(self, certificateId):
        return {"certificateDescription": {"certificatePem": self.pem, "certificateId": certificateId,
                                           "certificateArn": f"arn:aws:iot:{REGION}:1:cert/{certificateId}", "caCertificateId": self.ca_id}}

    def describe_thing(self, thingName):
        if thingName not in self.things:
            raise NotFound(thingName)
        return {"thingName": thingName}


class StubDynamoDb:
    def __init__(self, item=None):
        self.item, self.requests = item, []

    def get_item(self, **request):
        self.requests.append(request)
        return {"Item": self.item} if self.item else {}


@pytest.fixture(scope="module")
def ca():
    return TestCA()


def config(ca):
    return inspector.InspectorConfig("inventory", ca.certificate_id, REGION)


def inspect(ca, device, item=None, things=frozenset(), ca_id=None):
    dynamodb = StubDynamoDb(item)
    result = inspector.inspect({"certificateId": device.certificate_id, "caCertificateId": ca.certificate_id},
                               iot=StubIot(device.pem, ca_id or ca.certificate_id, things), dynamodb=dynamodb,
                               config=config(ca), now="2025-06-01T00:00:00Z")
    return result, dynamodb


def stored(ca, device, **overrides):
    values = dict(thing_name=device.name, certificate_id=device.certificate_id, certificate_pem=device.pem,
                  ca_certificate_id=ca.certificate_id, origin_region="us-west-2", registered_at="2025-01-01T00:00:00Z")
    values.update(overrides)
    return inv.item(**values)


def test_a_new_device_is_written_as_originating_here(ca):
    device = ca.device("dev-1")
    result, dynamodb = inspect(ca, device)
    assert result["Verdict"] == "NEW" and result["ThingExists"] is False
    assert (result["OriginRegion"], result["RegisteredAt"], result["PendingCertificateId"], result["PreviousCertificateId"]) == (
        REGION, "2025-06-01T00:00:00Z", "", "")
    assert dynamodb.requests == [{"TableName": "inventory", "Key": {"ThingName": {"S": "dev-1"}}, "ConsistentRead": True}]


def test_a_known_device_gets_back_exactly_the_stored_values(ca):
    device = ca.device("dev-2")
    item = stored(ca, device, pending_certificate_id="", previous_certificate_id="b" * 64)
    result, _ = inspect(ca, device, item, things={"dev-2"})
    assert result["Verdict"] == "KNOWN" and result["ThingExists"] is True
    for attribute in inv.ATTRIBUTES:
        if attribute != "Status":
            assert result[attribute] == item[attribute]["S"], attribute


def test_the_authorised_successor_is_a_rotation(ca):
    old, new = ca.device("dev-3"), ca.device("dev-3")
    result, _ = inspect(ca, new, stored(ca, old, pending_certificate_id=new.certificate_id), things={"dev-3"})
    assert result["Verdict"] == "ROTATION"
    assert (result["PreviousCertificateId"], result["PendingCertificateId"], result["OriginRegion"]) == (old.certificate_id, "", REGION)


def test_another_certificate_for_a_taken_name_is_an_impostor(ca):
    owner, impostor = ca.device("dev-4"), ca.device("dev-4")
    with pytest.raises(inspector.ThingNameClaimedByAnotherCertificate, match=owner.certificate_id):
        inspect(ca, impostor, stored(ca, owner))


def test_a_revoked_device_stays_decommissioned(ca):
    device = ca.device("dev-5")
    with pytest.raises(inspector.DeviceDecommissioned):
        inspect(ca, device, stored(ca, device, status="REVOKED"))


@pytest.mark.parametrize("name", [None, "has space", "semi;colon", "slash/name", "émoji"])
def test_invalid_thing_names_are_refused(ca, name):
    with pytest.raises(inspector.InvalidThingName):
        inspect(ca, ca.device(name))


def test_valid_thing_names_pass(ca):
    for name in ("a", "A-b_c:1", "x" * 64):  # a CN holds at most 64 characters (RFC 5280)
        assert inspect(ca, ca.device(name))[0]["ThingName"] == name


def test_a_certificate_from_another_ca_is_refused(ca):
    with pytest.raises(inspector.UnexpectedIssuer):
        inspect(ca, ca.device("dev-6"), ca_id="f" * 64)


def test_malformed_events_and_configuration_are_named(ca):
    with pytest.raises(inspector.InvalidJitrEvent, match="certificateId"):
        inspector.inspect({"certificateId": "nope"}, iot=None, dynamodb=None, config=config(ca))
    with pytest.raises(RuntimeError, match="INVENTORY_TABLE"):
        inspector.InspectorConfig.from_environment({"EXPECTED_CA_CERTIFICATE_ID": "x", "AWS_REGION": REGION})


def test_a_thing_name_with_a_trailing_newline_is_refused(ca):
    with pytest.raises(inspector.InvalidThingName, match=r"'dev-nl\\n'"):
        inspect(ca, ca.device("dev-nl\n"))
