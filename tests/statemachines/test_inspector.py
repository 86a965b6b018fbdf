"""The certificate inspector's pure logic, with stub clients (no moto)."""
from __future__ import annotations

import pytest

from builders import inventory as inv
from functions.certificate_inspector import inspector

from localcloud.statemachines.certs import TestCA

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


class ConditionFailed(Exception):
    pass


class StubDynamoDb:
    """One item; ``written_meanwhile`` is what another writer put there between the read and the conditional write."""

    class exceptions:
        ConditionalCheckFailedException = ConditionFailed

    def __init__(self, item=None, written_meanwhile=None):
        self.item, self.written_meanwhile, self.requests, self.writes = item, written_meanwhile, [], []

    def get_item(self, **request):
        self.requests.append(request)
        return {"Item": self.item} if self.item else {}

    def update_item(self, **request):
        self.writes.append(request)
        if self.written_meanwhile is not None:
            self.item, self.written_meanwhile = self.written_meanwhile, None
            raise ConditionFailed("The conditional request failed")


@pytest.fixture(scope="module")
def ca():
    return TestCA()


def config(ca):
    return inspector.InspectorConfig("inventory", ca.certificate_id, REGION)


def inspect(ca, device, item=None, things=frozenset(), ca_id=None, written_meanwhile=None):
    dynamodb = StubDynamoDb(item, written_meanwhile)
    result = inspector.inspect({"certificateId": device.certificate_id, "caCertificateId": ca.certificate_id},
                               iot=StubIot(device.pem, ca_id or ca.certificate_id, things), dynamodb=dynamodb,
                               config=config(ca), now="2025-06-01T00:00:00Z")
    return result, dynamodb


def stored(ca, device, **overrides):
    values = dict(thing_name=device.name, certificate_id=device.certificate_id, certificate_pem=device.pem,
                  ca_certificate_id=ca.certificate_id, origin_region="us-west-2", registered_at="2025-01-01T00:00:00Z")
    values.update(overrides)
    return inv.item(**values)


def written_values(write: dict) -> dict:
    return {name: value["S"] for name, value in write["ExpressionAttributeValues"].items()}


def test_a_new_device_claims_its_name_with_a_write_that_only_succeeds_if_no_item_exists(ca):
    device = ca.device("dev-1")
    result, dynamodb = inspect(ca, device)
    assert result["Verdict"] == "NEW"
    assert (result["OriginRegion"], result["RegisteredAt"], result["PendingCertificateId"], result["PreviousCertificateId"]) == (
        REGION, "2025-06-01T00:00:00Z", "", "")
    assert dynamodb.requests == [{"TableName": "inventory", "Key": {"ThingName": {"S": "dev-1"}}, "ConsistentRead": True}]
    (write,) = dynamodb.writes
    assert write["ConditionExpression"] == "attribute_not_exists(ThingName)"
    assert written_values(write)[":cid"] == device.certificate_id and written_values(write)[":origin"] == REGION


def test_a_known_device_gets_back_exactly_the_stored_values_and_writes_nothing(ca):
    device = ca.device("dev-2")
    item = stored(ca, device, pending_certificate_id="", previous_certificate_id="b" * 64)
    result, dynamodb = inspect(ca, device, item, things={"dev-2"})
    assert result["Verdict"] == "KNOWN"
    for attribute in inv.ATTRIBUTES:
        if attribute != "Status":
            assert result[attribute] == item[attribute]["S"], attribute
    assert dynamodb.writes == []


def test_the_authorised_successor_is_a_rotation_written_only_while_still_authorised(ca):
    old, new = ca.device("dev-3"), ca.device("dev-3")
    result, dynamodb = inspect(ca, new, stored(ca, old, pending_certificate_id=new.certificate_id), things={"dev-3"})
    assert result["Verdict"] == "ROTATION"
    assert (result["PreviousCertificateId"], result["PendingCertificateId"], result["OriginRegion"]) == (old.certificate_id, "", REGION)
    (write,) = dynamodb.writes
    assert write["ConditionExpression"] == "#status = :active AND PendingCertificateId = :cid"


def test_a_repeated_registration_event_that_loses_the_write_to_itself_carries_on_as_known(ca):
    device = ca.device("dev-7")
    first = stored(ca, device, origin_region=REGION)  # the other execution for the same certificate wrote first

    result, dynamodb = inspect(ca, device, written_meanwhile=first)

    assert result["Verdict"] == "KNOWN" and result["RegisteredAt"] == first["RegisteredAt"]["S"]
    assert len(dynamodb.writes) == 1  # no second write, so no second stream record


def test_a_certificate_that_loses_the_write_to_another_certificate_is_an_impostor(ca):
    owner, late = ca.device("dev-8"), ca.device("dev-8")
    with pytest.raises(inspector.ThingNameClaimedByAnotherCertificate, match=owner.certificate_id):
        inspect(ca, late, written_meanwhile=stored(ca, owner))


def test_a_device_decommissioned_between_the_read_and_the_write_stays_decommissioned(ca):
    device = ca.device("dev-9")
    with pytest.raises(inspector.DeviceDecommissioned):
        inspect(ca, device, written_meanwhile=stored(ca, device, status="REVOKED"))


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


def test_a_canary_name_is_reserved_for_the_program(ca):
    from builders.canary import RESERVED_PREFIX

    # one rule for every way in (contract/names.py); tests/provisioning/test_reserved_names.py has the rest
    with pytest.raises(inspector.InvalidThingName, match="reserved"):
        inspect(ca, ca.device(f"{RESERVED_PREFIX}eu-west-1"))


# ---- issue 21: a fleet-issued certificate the pre-provisioning hook never admitted ------------------------------------
def _fleet_device(ca, name):
    """A device certificate of our CA carrying the fleet certificate provider's mark (its policy OID)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from functions.fleet_provisioning import proof

    from localcloud.statemachines.certs import Device, _pem

    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                   .issuer_name(ca.certificate.subject).public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                   .add_extension(proof.fleet_policy(), critical=False)
                   .sign(ca.key, hashes.SHA256()))
    return Device(name, _pem(certificate))


def test_a_fleet_certificate_no_inventory_item_names_is_not_admitted_and_nothing_is_written(ca):
    device = _fleet_device(ca, "fleet-1")
    dynamodb = StubDynamoDb()
    with pytest.raises(inspector.FleetCertificateNotAdmitted):
        inspector.inspect({"certificateId": device.certificate_id, "caCertificateId": ca.certificate_id},
                          iot=StubIot(device.pem, ca.certificate_id), dynamodb=dynamodb, config=config(ca),
                          now="2025-06-01T00:00:00Z")
    assert dynamodb.writes == []


def test_a_fleet_certificate_the_inventory_names_is_known(ca):
    device = _fleet_device(ca, "fleet-2")
    result, dynamodb = inspect(ca, device, item=stored(ca, device))
    assert result["Verdict"] == "KNOWN" and dynamodb.writes == []


def test_a_fleet_certificate_whose_name_another_certificate_holds_is_an_impostor(ca):
    device, owner = _fleet_device(ca, "fleet-3"), ca.device("fleet-3")
    with pytest.raises(inspector.ThingNameClaimedByAnotherCertificate):
        inspect(ca, device, item=stored(ca, owner))
