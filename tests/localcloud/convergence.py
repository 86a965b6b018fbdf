"""What the convergence tests observe in every region of a deployed local cloud, and how they stage races.

``snapshot(cloud, thing, certificates)`` is the whole truth about one thing name: the inventory item in each replica,
each certificate's status in each region, the thing's principals and each certificate's policies. ``assert_converged``
checks the invariants of docs/design.md ("One owner per thing name") on it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3

from localcloud import observe
from localcloud.cloud import LocalCloud
from localcloud.services import ConnectionRefused


@dataclass
class RegionView:
    item: dict[str, Any] | None
    statuses: dict[str, str | None]  # certificate id -> status (None: unknown in this region)
    principals: list[str]  # certificate ids attached to the thing ([] when there is no thing)
    thing_exists: bool
    policies: dict[str, list[str]] = field(default_factory=dict)  # certificate id -> attached policy names


def _iot(region: str) -> Any:
    return boto3.client("iot", region_name=region)


def _item(cloud: LocalCloud, region: str, thing: str) -> dict[str, Any] | None:
    table = cloud.primary_outputs["inventoryTableName"]
    found = [i for i in observe.table_items(region, table) if i["ThingName"] == thing]
    return found[0] if found else None


def view(cloud: LocalCloud, region: str, thing: str, certificate_ids: list[str]) -> RegionView:
    iot = _iot(region)
    try:
        principals = [arn.rsplit("/", 1)[1] for arn in iot.list_thing_principals(thingName=thing)["principals"]]
        exists = True
    except iot.exceptions.ResourceNotFoundException:
        principals, exists = [], False
    statuses = {cid: observe.certificate_status(region, cid) for cid in certificate_ids}
    policies = {}
    for cid, status in statuses.items():
        if status is not None:
            arn = iot.describe_certificate(certificateId=cid)["certificateDescription"]["certificateArn"]
            policies[cid] = [p["policyName"] for p in iot.list_attached_policies(target=arn)["policies"]]
    return RegionView(_item(cloud, region, thing), statuses, sorted(principals), exists, policies)


def snapshot(cloud: LocalCloud, thing: str, certificate_ids: list[str]) -> dict[str, RegionView]:
    return {region: view(cloud, region, thing, certificate_ids) for region in cloud.regions}


def active_ids(snap: dict[str, RegionView]) -> set[str]:
    return {cid for region in snap.values() for cid, status in region.statuses.items() if status == "ACTIVE"}


def assert_converged(snap: dict[str, RegionView]) -> str | None:
    """The invariants once the cloud has settled; returns the owner certificate id (None if decommissioned/absent)."""
    items = [region.item for region in snap.values()]
    assert all(item == items[0] for item in items), f"replicas differ: {items}"
    item = items[0]
    active = active_ids(snap)
    assert len(active) <= 1, f"more than one ACTIVE certificate for one thing: {active}"
    if item is None or item["Status"] == "REVOKED":
        assert active == set(), f"ACTIVE certificates of a decommissioned or unknown thing: {active}"
        if item is not None:
            assert not any(region.thing_exists for region in snap.values()), "a decommissioned thing still exists"
        return None
    owner = item["CertificateId"]
    assert active <= {owner}, f"ACTIVE certificate {active} is not the inventory's {owner}"
    for name, region in snap.items():
        assert region.statuses.get(owner, "ACTIVE") in ("ACTIVE", None), f"{name}: owner is {region.statuses[owner]}"
        if region.statuses.get(owner) == "ACTIVE":
            assert owner in region.principals and region.policies[owner] == ["multi-region-iot-device"], name
        for cid in region.principals:
            assert cid == owner or region.statuses[cid] in ("REVOKED", None), f"{name}: {cid} attached and not revoked"
    return owner


def connects(cloud: LocalCloud, region: str, pem: str, thing: str, attempts: int = 4) -> bool:
    """Whether a device gets a connection (refused first connections trigger JITR; the cloud settles between)."""
    try:
        cloud.connect(region, pem, thing, attempts=attempts)
        return True
    except ConnectionRefused:
        return False


def refused_once(cloud: LocalCloud, region: str, pem: str, thing: str) -> None:
    """A first connection that IoT refuses (auto-registration, JITR queued), without letting the cloud move."""
    try:
        cloud.engines.iot.connect(region, pem, thing)
    except ConnectionRefused:
        return
    raise AssertionError(f"{thing} connected to {region} at once")


def dead_letters(cloud: LocalCloud) -> dict[str, int]:
    return {region: observe.queue_depth(region, cloud.outputs(region)["replicationDeadLetterQueueUrl"])
            for region in cloud.regions}


def replicate_everything(engines: Any) -> None:
    """Global-table replication, pipe polls and bus deliveries run to the end (executions they start included),
    without running queued IoT rule actions: used inside another execution to stage a race."""
    engines.global_tables.settle()
    engines.pipes.settle()
    engines.eventbridge.settle()
