"""Duplicate registration events end at the inspector's lease, so every path that took it must release it (red team,
issue 20): an event refused *after* the lease was taken (the certificate IoT describes is not the event's) goes to the
catch-all, which releases the lease; otherwise every reconnection for LEASE_SECONDS would end as a duplicate."""

from __future__ import annotations

import pytest

from builders.asl import jitr
from contract import items
from functions.certificate_inspector import inspector
from localcloud.statemachines.certs import TestCA

REGION = "eu-west-1"


class ConditionFailed(Exception):
    pass


class LeaseTable:
    class exceptions:
        ConditionalCheckFailedException = ConditionFailed

    def __init__(self):
        self.items = {}

    def put_item(self, TableName, Item, ConditionExpression, ExpressionAttributeNames, ExpressionAttributeValues):
        key = Item[items.LEASE_KEY]["S"]
        held = self.items.get(key)
        now, owner = int(ExpressionAttributeValues[":now"]["N"]), ExpressionAttributeValues[":owner"]["S"]
        if held and int(held[items.LEASE_EXPIRES]["N"]) >= now and held[items.LEASE_OWNER]["S"] != owner:
            raise ConditionFailed()
        self.items[key] = Item


class Iot:
    def __init__(self, pem, ca_id):
        self.pem, self.ca_id = pem, ca_id

    def describe_certificate(self, certificateId):
        return {"certificateDescription": {"certificatePem": self.pem, "certificateId": certificateId,
                                           "caCertificateId": self.ca_id,
                                           "certificateArn": f"arn:aws:iot:{REGION}:1:cert/{certificateId}"}}


def test_an_event_refused_after_the_lease_was_taken_releases_the_lease():
    ca = TestCA()
    device = ca.device("sensor-0001")
    table = LeaseTable()
    other_id = "f" * 64  # well-formed, but not the SHA-256 of the described certificate
    config = inspector.InspectorConfig("inventory", ca.certificate_id, REGION, lease_table="leases")
    with pytest.raises(inspector.CertificateIdMismatch):
        inspector.inspect({"certificateId": other_id, "caCertificateId": ca.certificate_id},
                          iot=Iot(device.pem, ca.certificate_id), dynamodb=table, config=config,
                          lease_owner="execution-1")
    held = other_id in table.items
    definition = jitr.definition(inspector_function_arn="arn:aws:lambda:eu-west-1:1:function:i",
                                 inventory_table="inventory", device_policy_name="p", event_bus_name="b",
                                 source="s", lease_table="leases")
    catches = definition["States"][jitr.INSPECT]["Catch"]
    (route,) = [c["Next"] for c in catches if "CertificateIdMismatch" in c["ErrorEquals"]
                or c["ErrorEquals"] == ["States.ALL"]][:1]
    assert held and route == jitr.RELEASE_LEASE, (held, route)
