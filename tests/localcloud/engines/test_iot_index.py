"""The IoT registry indexes answer exactly as moto's scans do, without scanning."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from engine_support import ACCOUNT, PRIMARY, make_ca, make_device
from moto.iot.models import IoTBackend, iot_backends

from localcloud.speedups import iot_index


class NoScan(OrderedDict):
    """A registry dict that fails the test if anything iterates over it."""

    def values(self) -> Any:
        raise AssertionError("scanned every entry")

    def items(self) -> Any:
        raise AssertionError("scanned every entry")


@pytest.fixture
def registry(aws: None) -> Iterator[dict[str, Any]]:
    iot = boto3.client("iot", region_name=PRIMARY)
    ca = make_ca()
    iot.register_ca_certificate(caCertificate=ca.pem, setAsActive=True)
    iot.create_policy(policyName="p1", policyDocument='{"Statement": []}')
    iot.create_policy(policyName="p2", policyDocument='{"Statement": []}')
    arns = []
    for i in range(3):
        arn = iot.register_certificate(certificatePem=make_device(ca, f"d{i}").pem, status="ACTIVE")["certificateArn"]
        iot.create_thing(thingName=f"d{i}")
        iot.attach_thing_principal(thingName=f"d{i}", principal=arn)
        iot.attach_policy(policyName="p1", target=arn)
        arns.append(arn)
    iot.attach_policy(policyName="p2", target=arns[0])
    yield {"iot": iot, "arns": arns}
    iot_index.uninstall()


def observe(iot: Any, arns: list[str]) -> dict[str, Any]:
    return {
        "things": [iot.list_principal_things(principal=a)["things"] for a in arns],
        "principals": [iot.list_thing_principals(thingName=f"d{i}")["principals"] for i in range(3)],
        "policies": [sorted(p["policyName"] for p in iot.list_attached_policies(target=a)["policies"]) for a in arns],
        "principal_policies": [
            sorted(p["policyName"] for p in iot.list_principal_policies(principal=a)["policies"]) for a in arns
        ],
        "targets": sorted(iot.list_targets_for_policy(policyName="p1")["targets"]),
        "describe": [
            iot.describe_certificate(certificateId=a.rsplit("/", 1)[-1])["certificateDescription"]["certificateArn"]
            for a in arns
        ],
        "thing": iot.describe_thing(thingName="d1")["thingArn"],
    }


def test_indexed_answers_equal_moto_answers(registry: dict[str, Any]) -> None:
    iot, arns = registry["iot"], registry["arns"]
    before = observe(iot, arns)
    iot_index.install()
    assert iot_index.installed()
    assert observe(iot, arns) == before
    iot.detach_policy(policyName="p2", target=arns[0])
    iot.detach_thing_principal(thingName="d2", principal=arns[2])
    after = observe(iot, arns)
    iot_index.uninstall()
    assert not iot_index.installed()
    assert observe(iot, arns) == after
    assert after["things"][2] == [] and after["policies"][0] == ["p1"]


def test_lookups_do_not_scan_the_registry(registry: dict[str, Any]) -> None:
    iot, arns = registry["iot"], registry["arns"]
    iot_index.install()
    iot.list_principal_things(principal=arns[0])  # builds the attachment indexes
    backend: IoTBackend = iot_backends[ACCOUNT][PRIMARY]
    backend.certificates = NoScan(backend.certificates)
    backend.things = NoScan(backend.things)
    observed = observe(iot, arns)
    assert observed["things"][0] == ["d0"]
    iot.attach_thing_principal(thingName="d0", principal=arns[1])  # ARN lookups too
    assert sorted(iot.list_thing_principals(thingName="d0")["principals"]) == sorted(arns[:2])


def test_errors_stay_moto_errors(registry: dict[str, Any]) -> None:
    iot = registry["iot"]
    iot_index.install()
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_certificate(certificateId="0" * 64)
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_thing(thingName="nope")
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.list_thing_principals(thingName="nope")
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.delete_thing(thingName="d0")  # still attached


def test_pair_index_tracks_every_mutation() -> None:
    index = iot_index.PairIndex([(("a", "x"), 1)])
    index[("a", "y")] = 2
    index.setdefault(("b", "x"), 3)
    assert sorted(index.firsts("a")) == [("a", "x"), ("a", "y")]
    assert sorted(index.seconds("x")) == [("a", "x"), ("b", "x")]
    del index[("a", "x")]
    assert index.pop(("a", "y")) == 2
    assert index.pop(("zz", "zz"), None) is None
    assert index.firsts("a") == [] and index.seconds("x") == [("b", "x")]
    index.clear()
    assert index.seconds("x") == [] and len(index) == 0
