"""EventBridge Pipes from a DynamoDB stream to an event bus, which moto stores but never runs.

For every pipe in moto's ``pipes`` backend whose source is a DynamoDB stream ARN and whose
target is an event bus ARN, ``PipesEngine.settle()`` reads the stream records added since
the pipe's position, keeps those that match the pipe's ``FilterCriteria`` (EventBridge
patterns, moto's matcher; none = all; one match among the filters is enough), and puts each
kept record on the bus as one event ``{source, detail-type, detail: <record>}`` with the
target parameters' ``Source`` and ``DetailType``, ``BatchSize`` records per PutEvents call.

Positions: a pipe created while the engine is active starts where the stream is at that
moment (``StartingPosition: LATEST``) or at its beginning (``TRIM_HORIZON``); a pipe the
engine first sees later starts at the stream's end then. A stream that was disabled and
re-enabled has a new label, hence a new ARN: the pipe then reads nothing (as in AWS, it
must be replaced) and is reported in ``stale``. A stopped pipe keeps its position.

Unsupported pipe shapes (other sources or targets, enrichment, input templates) raise
``PipeConfigurationError`` naming the pipe and the part, instead of being silently ignored.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any

from ...compat.moto.core import DEFAULT_ACCOUNT_ID
from ...compat.moto.dynamodb import Table, dynamodb_backends
from ...compat.moto.events import EventBridgePipesBackend, EventPattern, Pipe, events_backends, pipes_backends
from ...patching import Patch
from .._exclusive import ExclusiveEngine

_ORIGINAL_CREATE = EventBridgePipesBackend.create_pipe
#: The engine's hook in moto; installed with the first engine and kept (it passes through while none is active).
PATCH = Patch("pipes", kind="service")

DEFAULT_BATCH_SIZE = 10  # Pipes' default for DynamoDB stream sources
PUT_EVENTS_LIMIT = 10


class PipeConfigurationError(ValueError):
    """A pipe uses a source, target or option this emulator does not run."""


@dataclass
class _Cursor:
    pipe_arn: str
    position: int  # index into the stream shard's records
    stream_label: str | None


@dataclass
class PipesStats:
    records_read: int = 0
    records_filtered_out: int = 0
    events_delivered: int = 0
    put_events_calls: int = 0
    failed_entries: int = 0


def _hooked_create(self: EventBridgePipesBackend, *args: Any, **kwargs: Any) -> Pipe:
    pipe = _ORIGINAL_CREATE(self, *args, **kwargs)
    engine = PipesEngine.active
    if engine is not None:
        engine._start(pipe, at_creation=True)
    return pipe


def _stream_table(account_id: str, stream_arn: str) -> tuple[Table | None, str]:
    """The table behind ``arn:aws:dynamodb:<region>:<acct>:table/<name>/stream/<label>``."""
    parts = stream_arn.split(":", 5)
    region = parts[3]
    resource = parts[5].split("/")
    name, label = resource[1], resource[3]
    table = dynamodb_backends[account_id][region].tables.get(name)
    return table, label


def _json_safe(record: dict[str, Any]) -> dict[str, Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, datetime.datetime):
            return int(value.timestamp())
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    return convert(record)


class PipesEngine(ExclusiveEngine):
    """Polls DynamoDB-stream → event-bus pipes and delivers their records as events."""

    def __init__(self, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
        self.account_id = account_id
        self.cursors: dict[str, _Cursor] = {}
        self.stats = PipesStats()
        self.stale: set[str] = set()
        self._patterns: dict[str, EventPattern] = {}

    def _install(self) -> None:
        if not PATCH.applied:
            PATCH.set(EventBridgePipesBackend, "create_pipe", _hooked_create)

    # pipes --------------------------------------------------------------------------
    def _pipes(self) -> list[Pipe]:
        found: list[Pipe] = []
        for region in list(pipes_backends[self.account_id].keys()):
            found.extend(pipes_backends[self.account_id][region].pipes.values())
        return found

    def _check(self, pipe: Pipe) -> None:
        def refuse(part: str) -> None:
            raise PipeConfigurationError(
                f"pipe {pipe.name!r} in {pipe.region_name}: {part} is not emulated; the local "
                "cloud runs DynamoDB stream sources to event bus targets without enrichment"
            )

        if ":dynamodb:" not in pipe.source or "/stream/" not in pipe.source:
            refuse(f"source {pipe.source!r}")
        if ":events:" not in pipe.target or ":event-bus/" not in pipe.target:
            refuse(f"target {pipe.target!r}")
        if pipe.enrichment:
            refuse("enrichment")
        target_parameters = pipe.target_parameters or {}
        if target_parameters.get("InputTemplate"):
            refuse("TargetParameters.InputTemplate")
        unknown = set(target_parameters) - {"EventBridgeEventBusParameters"}
        if unknown:
            refuse(f"TargetParameters {sorted(unknown)}")

    def _start(self, pipe: Pipe, *, at_creation: bool) -> _Cursor:
        self._check(pipe)
        table, _label = _stream_table(self.account_id, pipe.source)
        stream_parameters = (pipe.source_parameters or {}).get("DynamoDBStreamParameters", {})
        starting = stream_parameters.get("StartingPosition", "LATEST")
        if starting not in ("LATEST", "TRIM_HORIZON"):
            raise PipeConfigurationError(
                f"pipe {pipe.name!r}: StartingPosition {starting!r}; use LATEST or TRIM_HORIZON"
            )
        position = 0
        if table is not None and table.stream_shard is not None:
            if not (at_creation and starting == "TRIM_HORIZON"):
                position = len(table.stream_shard.items)
        cursor = _Cursor(pipe.arn, position, table.latest_stream_label if table else None)
        self.cursors[pipe.arn] = cursor
        return cursor

    def pending(self) -> int:
        """Stream records not yet read by running pipes (cheap: one length per pipe)."""
        waiting = 0
        for pipe in self._pipes():
            if pipe.desired_state == "STOPPED":
                continue
            cursor = self.cursors.get(pipe.arn)
            if cursor is None:
                continue
            table, label = _stream_table(self.account_id, pipe.source)
            if table is None or table.stream_shard is None:
                continue
            if table.latest_stream_label != label:
                continue
            waiting += max(0, len(table.stream_shard.items) - cursor.position)
        return waiting

    def settle(self) -> int:
        """Run every pipe once over everything new on its stream; return events delivered."""
        delivered = 0
        live = set()
        for pipe in self._pipes():
            live.add(pipe.arn)
            cursor = self.cursors.get(pipe.arn) or self._start(pipe, at_creation=False)
            if pipe.desired_state == "STOPPED":
                continue
            delivered += self._poll(pipe, cursor)
        for arn in list(self.cursors):
            if arn not in live:
                del self.cursors[arn]
        return delivered

    def _poll(self, pipe: Pipe, cursor: _Cursor) -> int:
        table, label = _stream_table(self.account_id, pipe.source)
        if table is None or table.stream_shard is None or table.latest_stream_label != label:
            self.stale.add(pipe.arn)
            return 0
        items = table.stream_shard.items
        if cursor.position > len(items):  # the shard was trimmed under us
            cursor.position = len(items)
        new = items[cursor.position :]
        if not new:
            return 0
        cursor.position = len(items)
        self.stats.records_read += len(new)
        records = []
        for stream_record in new:
            record = _json_safe(stream_record.to_json())
            record["eventSourceARN"] = pipe.source
            if self._accepts(pipe, record):
                records.append(record)
            else:
                self.stats.records_filtered_out += 1
        return self._deliver(pipe, records)

    def _accepts(self, pipe: Pipe, record: dict[str, Any]) -> bool:
        criteria = (pipe.source_parameters or {}).get("FilterCriteria") or {}
        filters = criteria.get("Filters") or []
        if not filters:
            return True
        for index, item in enumerate(filters):
            key = f"{pipe.arn}#{index}#{item.get('Pattern', '')}"
            pattern = self._patterns.get(key)
            if pattern is None:
                pattern = self._patterns[key] = EventPattern.load(item.get("Pattern"))
            if pattern.matches_event(record):
                return True
        return False

    def _deliver(self, pipe: Pipe, records: list[dict[str, Any]]) -> int:
        if not records:
            return 0
        parameters = (pipe.target_parameters or {}).get("EventBridgeEventBusParameters", {})
        source = parameters.get("Source", "Pipe " + pipe.name)
        detail_type = parameters.get("DetailType", "Event from aws:dynamodb")
        stream_parameters = (pipe.source_parameters or {}).get("DynamoDBStreamParameters", {})
        batch_size = int(stream_parameters.get("BatchSize", DEFAULT_BATCH_SIZE))
        chunk = max(1, min(batch_size, PUT_EVENTS_LIMIT))
        target_region = pipe.target.split(":")[3]
        backend = events_backends[self.account_id][target_region]
        delivered = 0
        for start in range(0, len(records), chunk):
            entries = [
                {
                    "Source": source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(record),
                    "EventBusName": pipe.target,
                    "Resources": [pipe.arn],
                }
                for record in records[start : start + chunk]
            ]
            results = backend.put_events(entries)
            self.stats.put_events_calls += 1
            ok = sum(1 for r in results if "EventId" in r)
            self.stats.failed_entries += len(results) - ok
            delivered += ok
        self.stats.events_delivered += delivered
        return delivered

