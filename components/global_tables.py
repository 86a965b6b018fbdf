"""The two DynamoDB global tables (version 2019.11.21), owned by the primary stack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import pulumi
import pulumi_aws as aws

from components.naming import Names


@dataclass(frozen=True)
class GlobalTablesArgs:
    names: Names
    primary_region: str
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
        common = dict(
            billing_mode="PAY_PER_REQUEST",
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            replicas=replicas,
            deletion_protection_enabled=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.inventory = aws.dynamodb.Table(
            args.names.inventory_table,
            name=args.names.inventory_table,
            hash_key="ThingName",
            attributes=[aws.dynamodb.TableAttributeArgs(name="ThingName", type="S")],
            stream_enabled=True,
            stream_view_type="NEW_AND_OLD_IMAGES",
            **common,
        )
        self.data = aws.dynamodb.Table(
            args.names.data_table,
            name=args.names.data_table,
            hash_key="PK",
            range_key="SK",
            attributes=[aws.dynamodb.TableAttributeArgs(name="PK", type="S"),
                        aws.dynamodb.TableAttributeArgs(name="SK", type="S")],
            # Global tables replicate through streams: version 2019.11.21 requires one.
            stream_enabled=True,
            stream_view_type="NEW_AND_OLD_IMAGES",
            **common,
        )
        # One allow-list for every way in (docs/design.md, "The allow-list"): global, so each region's API claims the
        # same entry; no stream consumer, but version 2019.11.21 replicates through a stream.
        self.allow_list = aws.dynamodb.Table(
            args.names.allow_list_table,
            name=args.names.allow_list_table,
            hash_key="ThingName",
            attributes=[aws.dynamodb.TableAttributeArgs(name="ThingName", type="S")],
            stream_enabled=True,
            stream_view_type="NEW_AND_OLD_IMAGES",
            **common,
        )
        self.inventory_stream_arns = pulumi.Output.all(self.inventory.stream_arn, self.inventory.replicas).apply(
            lambda v: stream_arns_by_region(args.primary_region, v[0], v[1]))
        self.register_outputs({
            "inventoryTableName": self.inventory.name,
            "dataTableName": self.data.name,
            "allowListTableName": self.allow_list.name,
            "inventoryStreamArns": self.inventory_stream_arns,
        })
