"""Property: whatever the interleaving of two devices' first connections, the registrations they trigger, the
global table's replications (in any order, last writer wins), pipe polls, rule deliveries and an operator's
decommission, across two regions, the deployed system converges (docs/design.md, "One owner per thing name"):

- at most one ACTIVE certificate per thing across all regions, and it is the inventory's;
- the replicas hold the same item;
- the owner connects in every region (nothing it cannot recover from is left PENDING_ACTIVATION or INACTIVE);
- a certificate that is not the owner, or any certificate of a decommissioned thing, connects nowhere.

Each engine step is atomic (one execution runs to its end); the scenario tests in test_convergence.py interleave
inside executions.
"""
from __future__ import annotations

import itertools
from collections import deque

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localcloud.cloud import LocalCloud
from localcloud.services import ConnectionRefused

from convergence import assert_converged, connects, snapshot

REGIONS = ("eu-west-1", "us-west-2")
EXAMPLES = 60
_names = itertools.count()


def _pop_at(queue: deque, index: int) -> None:
    """Move the queue's ``index``-th element (modulo its length) to the front: the engine runs it next."""
    queue.rotate(-(index % len(queue)))
    element = queue.popleft()
    queue.rotate(index % (len(queue) + 1))
    queue.appendleft(element)


connect = st.tuples(st.just("connect"), st.integers(0, 1), st.sampled_from(REGIONS))
engine_step = st.tuples(st.sampled_from(["registration", "replication", "delivery"]), st.integers(0, 20), st.none())
poll = st.tuples(st.just("pipes"), st.none(), st.none())
steps = st.lists(st.one_of(connect, engine_step, engine_step, poll), min_size=6, max_size=30)
#: where in the plan the operator decommissions the thing(s), and in which region (None: never)
decommission_at = st.one_of(st.none(), st.tuples(st.integers(0, 30), st.sampled_from(REGIONS)))


def run_step(cloud: LocalCloud, step: tuple, devices: list, names: list[str]) -> None:
    kind, index, region = step
    engines = cloud.engines
    if kind == "connect":
        try:
            engines.iot.connect(region, devices[index].certificate_pem, names[index])
        except ConnectionRefused:
            pass
    elif kind == "registration" and engines.iot.queue:
        _pop_at(engines.iot.queue, index)
        engines.iot.settle(limit=1)
        engines.waiter.wait(cloud.execution_timeout_s)
    elif kind == "replication" and engines.global_tables.queue:
        _pop_at(engines.global_tables.queue, index)
        engines.global_tables.settle(limit=1)
    elif kind == "delivery" and engines.eventbridge.queue:
        _pop_at(engines.eventbridge.queue, index)
        engines.eventbridge.settle(limit=1)
        engines.waiter.wait(cloud.execution_timeout_s)
    elif kind == "pipes":
        engines.pipes.settle()
    elif kind == "decommission":
        for name in set(names):
            boto3.client("dynamodb", region_name=region).update_item(
                TableName=cloud.primary_outputs["inventoryTableName"], Key={"ThingName": {"S": name}},
                UpdateExpression="SET #s = :r", ConditionExpression="attribute_exists(ThingName)",
                ExpressionAttributeNames={"#s": "Status"}, ExpressionAttributeValues={":r": {"S": "REVOKED"}},
            ) if _has_item(cloud, region, name) else None


def _has_item(cloud: LocalCloud, region: str, name: str) -> bool:
    table = cloud.primary_outputs["inventoryTableName"]
    return "Item" in boto3.client("dynamodb", region_name=region).get_item(TableName=table, Key={"ThingName": {"S": name}})


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(same_name=st.booleans(), plan=steps, decommission=decommission_at)
def test_any_interleaving_of_two_devices_across_two_regions_converges(cloud, same_name, plan, decommission):
    n = next(_names)
    names = [f"prop-{n}-a", f"prop-{n}-a" if same_name else f"prop-{n}-b"]
    ca = cloud.load_ca()
    devices = [ca.issue_device(name) for name in names]

    if decommission is not None:
        position, region = decommission
        plan = [*plan[:position], ("decommission", None, region), *plan[position:]]
    for step in plan:
        run_step(cloud, step, devices, names)
    assert cloud.settle().quiescent
    for device, name in zip(devices, names, strict=True):  # devices keep retrying, with backoff, wherever DNS sends them
        for region in REGIONS:
            connects(cloud, region, device.certificate_pem, name, attempts=3)
    assert cloud.settle().quiescent

    for name in set(names):
        certificate_ids = [d.certificate_id for d, dn in zip(devices, names, strict=True) if dn == name]
        owner = assert_converged(snapshot(cloud, name, certificate_ids))
        for device, device_name in zip(devices, names, strict=True):
            if device_name != name:
                continue
            expected = device.certificate_id == owner
            for region in REGIONS:  # the owner gets in everywhere, anyone else nowhere
                assert connects(cloud, region, device.certificate_pem, name) is expected, (region, device.certificate_id, owner)
        assert cloud.settle().quiescent
        assert assert_converged(snapshot(cloud, name, certificate_ids)) == owner
