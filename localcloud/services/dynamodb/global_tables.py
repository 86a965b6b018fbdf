"""DynamoDB global tables (version 2019.11.21) on top of moto, which ignores replicas.

``GlobalTables.register(name, regions)`` makes a table that exists in one region a global
table: the same table is created in every other region and, from then on, every write that
moto routes through a table's stream (PutItem, UpdateItem, DeleteItem, BatchWriteItem,
TransactWriteItems, PartiQL) is queued for replication to every other replica. ``settle()``
applies the queue. Replication is deliberately deferred so tests can build the real race:
a device registered in both regions before either write has replicated.

Behaviour pinned to DynamoDB's documentation:

* every replica has its own stream, which carries local and replicated writes, each record
  with that replica's ``awsRegion`` (moto writes ``us-east-1`` everywhere) and its own
  ``eventID``;
* a write that leaves the item unchanged produces no stream record;
* concurrent writes to the same key converge last-writer-wins (a logical clock orders writes
  in this single process, so "last" is the write that happened last);
* replicated writes are not replicated again.

The engine also fixes moto's UpdateItem on a new item, which emits two INSERT records (one
with only the key, then the full item); DynamoDB emits one.

All of this hooks ``StreamShard.add``, moto's single choke point for item changes; a global
table therefore needs its stream enabled (as AWS requires for replicas). While active, the
engine also registers replicas requested through UpdateTable's ``ReplicaUpdates`` (moto
drops them) and lists each replica's peers in DescribeTable's ``Replicas``.
"""

from __future__ import annotations

import copy
import itertools
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ...compat.moto.core import DEFAULT_ACCOUNT_ID
from ...compat.moto.dynamodb import (
    DynamoDBBackend,
    DynamoHandler,
    DynamoType,
    Item,
    StreamShard,
    Table,
    dynamodb_backends,
)
from ...patching import Patch
from .._exclusive import ExclusiveEngine


class GlobalTableError(ValueError):
    """A global table cannot be set up as asked."""


_KeyId = tuple[str, str]  # (json of hash key, json of range key or "")


@dataclass
class Replication:
    """One write waiting to be applied to one replica."""

    table_name: str
    source_region: str
    target_region: str
    key_id: _KeyId
    key: dict[str, Any]  # the key attributes, DynamoDB JSON
    image: dict[str, Any] | None  # the new item (DynamoDB JSON), None for a delete
    version: int


@dataclass
class GlobalTableStats:
    """What the engine did, for tests and the benchmark."""

    local_writes: int = 0
    replicated: int = 0
    superseded: int = 0  # replications dropped because the replica holds a later write
    dropped: int = 0  # replications whose target table no longer exists
    suppressed_no_change: int = 0


@dataclass
class _ShardState:
    last_insert_item: Item | None = None
    last_insert_replications: list[Replication] = field(default_factory=list)


_ORIGINAL_ADD = StreamShard.add
_ORIGINAL_TRANSACT = DynamoDBBackend.transact_write_items
_ORIGINAL_DESCRIBE = Table.describe
_ORIGINAL_UPDATE_TABLE = DynamoHandler.update_table
#: The engine's hooks in moto; installed with the first engine and kept (they pass through while none is active).
PATCH = Patch("global_tables", kind="service")


def _hooked_describe(self: Table, base_key: str = "TableDescription") -> dict[str, Any]:
    """DescribeTable of a replica lists the other replicas, as DynamoDB does (moto: none)."""
    description = _ORIGINAL_DESCRIBE(self, base_key)
    engine = GlobalTables.active
    regions = engine.replicas.get(self.name, []) if engine is not None else []
    if self.region_name in regions:
        description[base_key]["GlobalTableVersion"] = "2019.11.21"
        description[base_key]["Replicas"] = [
            {"RegionName": region, "ReplicaStatus": "ACTIVE"}
            for region in regions
            if region != self.region_name
        ]
    return description


def _hooked_update_table(self: DynamoHandler) -> Any:
    """UpdateTable's ``ReplicaUpdates`` (what pulumi-aws sends for ``replicas``) register here."""
    replica_updates = self.body.get("ReplicaUpdates")
    engine = GlobalTables.active
    if replica_updates and engine is not None:
        engine.register_from_replica_updates(
            self.dynamodb_backend.region_name, self.body["TableName"], replica_updates
        )
    return _ORIGINAL_UPDATE_TABLE(self)


def _hooked_transact(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto rolls a failed transaction back by restoring table copies; forget its writes."""
    engine = GlobalTables.active
    if engine is None:
        _ORIGINAL_TRANSACT(self, transact_items)
        return
    mark = len(engine.queue)
    engine._journal = []
    try:
        _ORIGINAL_TRANSACT(self, transact_items)
    except Exception:
        while len(engine.queue) > mark:
            engine.queue.pop()
        for version_key, previous in reversed(engine._journal):
            if previous is None:
                engine._versions.pop(version_key, None)
            else:
                engine._versions[version_key] = previous
        raise
    finally:
        engine._journal = None


def _hooked_add(self: StreamShard, old: Item | None, new: Item | None) -> None:
    engine = GlobalTables.active
    if engine is None:
        _ORIGINAL_ADD(self, old, new)
        return
    engine._on_change(self, old, new)


def _key_of(table: Table, item: Item) -> tuple[_KeyId, dict[str, Any]]:
    hash_json = item.hash_key.to_json()
    key = {table.hash_key_attr: hash_json}
    range_text = ""
    if table.range_key_attr is not None and item.range_key is not None:
        key[table.range_key_attr] = item.range_key.to_json()
        range_text = repr(sorted(item.range_key.to_json().items()))
    return (repr(sorted(hash_json.items())), range_text), key


class GlobalTables(ExclusiveEngine):
    conflict_error = GlobalTableError

    """Replication engine for the global tables of one moto account.

    Use as a context manager (or ``activate()``/``deactivate()``) inside ``mock_aws()``;
    only one engine is active at a time.
    """

    def __init__(self, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
        self.account_id = account_id
        self.replicas: dict[str, list[str]] = {}  # table name -> regions
        self.queue: deque[Replication] = deque()
        self.stats = GlobalTableStats()
        self._versions: dict[tuple[str, str, _KeyId], int] = {}
        self._clock = itertools.count(1)
        self._applying = False
        self._quiet = False
        self._shards: dict[int, _ShardState] = {}
        self._journal: list[tuple[tuple[str, str, _KeyId], int | None]] | None = None

    # lifecycle ----------------------------------------------------------------------
    def _install(self) -> None:
        if not PATCH.applied:
            PATCH.set(StreamShard, "add", _hooked_add)
            PATCH.set(DynamoDBBackend, "transact_write_items", _hooked_transact)
            PATCH.set(Table, "describe", _hooked_describe)
            PATCH.set(DynamoHandler, "update_table", _hooked_update_table)

    # registration -------------------------------------------------------------------
    def backend(self, region: str) -> DynamoDBBackend:
        return dynamodb_backends[self.account_id][region]

    def register(
        self, table_name: str, regions: Iterable[str], home_region: str | None = None
    ) -> list[str]:
        """Make ``table_name`` (existing in ``home_region``, default: the first region) a
        global table replicated in ``regions``; create the missing replicas with the same
        schema, indexes, stream and billing, and copy existing items into them quietly.

        Returns the regions in which a replica was created.
        """
        regions = list(dict.fromkeys(regions))
        home = home_region or (regions[0] if regions else None)
        if home is None:
            raise GlobalTableError(f"global table {table_name!r}: give at least one region")
        if home not in regions:
            regions.insert(0, home)
        source = self._table(home, table_name)
        if source is None:
            raise GlobalTableError(
                f"global table {table_name!r}: no such table in {home}; create it there first"
            )
        if source.stream_shard is None:
            raise GlobalTableError(
                f"global table {table_name!r} in {home} has no stream; replicas need "
                "StreamSpecification={'StreamEnabled': True, 'StreamViewType': "
                "'NEW_AND_OLD_IMAGES'} (or NEW_IMAGE)"
            )
        created = []
        for region in regions:
            if region == home:
                continue
            replica = self._table(region, table_name)
            if replica is None:
                replica = self._create_replica(source, region)
                created.append(region)
            elif replica.schema != source.schema:
                raise GlobalTableError(
                    f"global table {table_name!r}: the table in {region} has key schema "
                    f"{replica.schema}, {home} has {source.schema}; delete it or rename"
                )
            elif replica.stream_shard is None:
                raise GlobalTableError(
                    f"global table {table_name!r}: the table in {region} has no stream"
                )
        known = self.replicas.setdefault(table_name, [])
        for region in regions:
            if region not in known:
                known.append(region)
        return created

    def register_from_replica_updates(
        self, region: str, table_name: str, replica_updates: list[dict[str, Any]]
    ) -> list[str]:
        """Apply UpdateTable's ``ReplicaUpdates`` (``[{"Create": {"RegionName": ...}}]``),
        which moto ignores. ``Delete`` updates are refused: nothing here removes replicas."""
        regions = [region]
        for update in replica_updates:
            if "Create" in update:
                regions.append(update["Create"]["RegionName"])
            else:
                raise GlobalTableError(
                    f"ReplicaUpdates {list(update)} on {table_name!r} are not emulated; "
                    "only Create is"
                )
        return self.register(table_name, regions, home_region=region)

    def _table(self, region: str, table_name: str) -> Table | None:
        return self.backend(region).tables.get(table_name)

    def _create_replica(self, source: Table, region: str) -> Table:
        backend = self.backend(region)
        stream = copy.deepcopy(source.stream_specification)
        replica = backend.create_table(
            source.name,
            schema=copy.deepcopy(source.schema),
            throughput=None
            if source.billing_mode == "PAY_PER_REQUEST"
            else {
                k: v
                for k, v in source.throughput.items()
                if k in ("ReadCapacityUnits", "WriteCapacityUnits")
            },
            attr=copy.deepcopy(source.attr),
            global_indexes=[
                {
                    "IndexName": index.name,
                    "KeySchema": copy.deepcopy(index.schema),
                    "Projection": copy.deepcopy(index.projection),
                }
                for index in source.global_indexes
            ],
            indexes=[
                {
                    "IndexName": index.name,
                    "KeySchema": copy.deepcopy(index.schema),
                    "Projection": copy.deepcopy(index.projection),
                }
                for index in source.indexes
            ],
            streams=stream,
            billing_mode=source.billing_mode or "PAY_PER_REQUEST",
            sse_specification=copy.deepcopy(source.sse_specification),
            tags=copy.deepcopy(source.tags),
            deletion_protection_enabled=getattr(source, "deletion_protection_enabled", False),
            warm_throughput=None,
        )
        with self._quietly():
            for item in source.all_items():
                replica.put_item(copy.deepcopy(item.to_json()["Attributes"]), overwrite=True)
        return replica

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    # the hook -----------------------------------------------------------------------
    def _on_change(self, shard: StreamShard, old: Item | None, new: Item | None) -> None:
        table = shard.table
        if self._quiet:
            return
        old_image = old.to_json()["Attributes"] if old is not None else None
        new_image = new.to_json()["Attributes"] if new is not None else None
        if old_image is not None and old_image == new_image:
            self.stats.suppressed_no_change += 1
            return
        state = self._shards.setdefault(id(shard), _ShardState())
        merged_insert = (
            old is None
            and new is not None
            and state.last_insert_item is new
            and shard.items
            and shard.items[-1].record["eventName"] == "INSERT"
        )
        if merged_insert:
            # moto's UpdateItem on a new key: drop the key-only INSERT it just emitted.
            shard.items.pop()
        count = len(shard.items)
        _ORIGINAL_ADD(shard, old, new)
        if len(shard.items) > count:
            record = shard.items[-1].record
            record["awsRegion"] = table.region_name
            record["eventVersion"] = "1.1"
            record["eventSourceARN"] = (
                f"{table.table_arn}/stream/{table.latest_stream_label}"
            )
        state.last_insert_item = new if old is None else None
        if self._applying or table.name not in self.replicas:
            return
        regions = self.replicas[table.name]
        if table.region_name not in regions:
            return
        if merged_insert and state.last_insert_replications:
            for replication in state.last_insert_replications:
                replication.image = copy.deepcopy(new_image)
            return
        rec = new if new is not None else old
        assert rec is not None
        key_id, key = _key_of(table, rec)
        version = next(self._clock)
        version_key = (table.region_name, table.name, key_id)
        if self._journal is not None:
            self._journal.append((version_key, self._versions.get(version_key)))
        self._versions[version_key] = version
        self.stats.local_writes += 1
        queued = []
        for region in regions:
            if region == table.region_name:
                continue
            replication = Replication(
                table_name=table.name,
                source_region=table.region_name,
                target_region=region,
                key_id=key_id,
                key=key,
                image=copy.deepcopy(new_image),
                version=version,
            )
            self.queue.append(replication)
            queued.append(replication)
        state.last_insert_replications = queued if old is None else []

    # replication --------------------------------------------------------------------
    def pending(self) -> int:
        """Replications queued and not yet applied."""
        return len(self.queue)

    def settle(self, limit: int | None = None) -> int:
        """Apply queued replications in order (at most ``limit``); return how many were applied."""
        applied = 0
        while self.queue and (limit is None or applied < limit):
            replication = self.queue.popleft()
            if self._apply(replication):
                applied += 1
        return applied

    def _apply(self, replication: Replication) -> bool:
        table = self._table(replication.target_region, replication.table_name)
        if table is None:
            self.stats.dropped += 1
            return False
        version_key = (replication.target_region, replication.table_name, replication.key_id)
        if self._versions.get(version_key, 0) > replication.version:
            self.stats.superseded += 1
            return False
        self._versions[version_key] = replication.version
        self._applying = True
        try:
            if replication.image is None:
                hash_key = DynamoType(replication.key[table.hash_key_attr])
                range_key = (
                    DynamoType(replication.key[table.range_key_attr])
                    if table.range_key_attr is not None
                    else None
                )
                table.delete_item(hash_key, range_key)
            else:
                table.put_item(copy.deepcopy(replication.image), overwrite=True)
        finally:
            self._applying = False
        self.stats.replicated += 1
        return True
