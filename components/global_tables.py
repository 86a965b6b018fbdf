"""The two DynamoDB global tables (version 2019.11.21), owned by the primary stack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from components.context import RegionContext


@dataclass(frozen=True)
class GlobalTablesArgs:
    context: RegionContext  # the primary's: the tables' home region
    replica_regions: Sequence[str]
    # Replicas in these regions are not deletion-protected (config `removableRegions`); every other one is.
    removable_regions: Sequence[str] = ()


def _field(obj: Any, name: str) -> Any:
    """Replica outputs arrive as output objects (or dicts under some mocks)."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name)


def stream_arns_by_region(primary_region: str, primary_stream_arn: str, replicas: Sequence[Any]) -> dict[str, str]:
    """Each region's own replica stream: a region's replication must read its own replica's stream
    (which also carries the writes replicated from other regions), never another region's."""
    arns = {primary_region: primary_stream_arn}
    for replica in replicas or []:
        arns[_field(replica, "region_name")] = _field(replica, "stream_arn")
    return arns


class GlobalTables(pulumi.ComponentResource):
    """Device inventory (with a stream of old and new images) and telemetry data, on-demand,
    with a replica in every other region, point-in-time recovery, encryption and deletion protection on
    (tables and replicas)."""

    inventory: aws.dynamodb.Table
    data: aws.dynamodb.Table
    allow_list: aws.dynamodb.Table
    inventory_stream_arns: pulumi.Output[dict]

    def __init__(self, name: str, args: GlobalTablesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("iotmr:global:Tables", name, None, opts)
        # Deletion protection on every replica: without it, dropping a region from `regions` would silently delete
        # that replica and its data. Removing a region takes `removableRegions` first (README, "Removing a region").
        replicas = [aws.dynamodb.TableReplicaArgs(region_name=r, point_in_time_recovery=True, propagate_tags=True,
                                                  deletion_protection_enabled=r not in args.removable_regions)
                    for r in args.replica_regions]
        for region in args.removable_regions:
            if region in args.replica_regions:
                pulumi.log.warn(f"removableRegions: the table replicas in {region} are not deletion-protected; remove "
                                f"{region} from `regions` to delete them, or remove it from removableRegions.", self)
        def table(table_name: str, key_schema: list[tuple[str, str]]) -> aws.dynamodb.Table:
            """A global table (key schema: (attribute, HASH or RANGE), all strings) with every region's replica.
            Global tables replicate through streams: version 2019.11.21 requires one."""
            keys = {kind: attribute for attribute, kind in key_schema}
            return aws.dynamodb.Table(
                table_name,
                name=table_name,
                hash_key=keys["HASH"],
                range_key=keys.get("RANGE"),
                attributes=[aws.dynamodb.TableAttributeArgs(name=attribute, type="S") for attribute, _ in key_schema],
                stream_enabled=True,
                stream_view_type="NEW_AND_OLD_IMAGES",
                billing_mode="PAY_PER_REQUEST",
                point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
                server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
                replicas=replicas,
                deletion_protection_enabled=True,
                opts=pulumi.ResourceOptions(parent=self),
            )

        names = args.context.names
        self.inventory = table(names.inventory_table, [("ThingName", "HASH")])
        self.data = table(names.data_table, [("PK", "HASH"), ("SK", "RANGE")])
        # One allow-list for every way in (docs/design.md, "The allow-list"): global, so each region's API claims the
        # same entry; no stream consumer, but version 2019.11.21 replicates through a stream.
        self.allow_list = table(names.allow_list_table, [("ThingName", "HASH")])
        self.inventory_stream_arns = pulumi.Output.all(self.inventory.stream_arn, self.inventory.replicas).apply(
            lambda v: stream_arns_by_region(args.context.region, v[0], v[1]))
        self.register_outputs({
            "inventoryTableName": self.inventory.name,
            "dataTableName": self.data.name,
            "allowListTableName": self.allow_list.name,
            "inventoryStreamArns": self.inventory_stream_arns,
        })
