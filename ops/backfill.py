"""``backfill REGION``: replay the inventory into a region added after devices were onboarded.

A new region's pipe starts reading its replica's stream at LATEST, so devices onboarded before the
region existed reach it only after a refused first connection there (its JITR). Backfill scans the
region's replica and starts the region's replicate machine for every ACTIVE item with the flat item
(``builders.inventory.flat_item(item, "INSERT")``: the machine's input contract, exactly what the
bus rule's input transformer yields for an insert). Each start is named
``backfill-<sha256(thing, certificate id)>``, so a second run finds every name taken and counts it
as already done; a device whose certificate was rotated since gets a new name and a new run.
REVOKED items are skipped (there is nothing to replicate; ``reconcile`` checks their removal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from builders import inventory as inv
from ops import executions, inventory
from ops.clients import DEFAULT_APPLICATION, SessionOrFactory, scope as resolve_scope
from ops.executions import Outcome
from ops.ratelimit import DEFAULT_RATE, TokenBucket

PREFIX = "backfill"


def backfill_name(thing_name: str, certificate_id: str) -> str:
    """The execution name of one device's backfill (stable across runs)."""
    return executions.execution_name(PREFIX, thing_name, certificate_id)


@dataclass
class BackfillRow:
    thing_name: str
    outcome: str  # started | already done | skipped | failed
    execution_name: str = ""
    execution_arn: str = ""
    detail: str = ""
    status: str = ""  # with --wait: the execution's final status


@dataclass
class BackfillReport:
    region: str
    state_machine_arn: str
    rows: list[BackfillRow] = field(default_factory=list)
    waited: bool = False

    def count(self, outcome: str) -> int:
        return sum(1 for row in self.rows if row.outcome == outcome)

    @property
    def counts(self) -> dict[str, int]:
        return {name: self.count(name) for name in ("started", "already done", "skipped", "failed")}

    @property
    def statuses(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for row in self.rows:
            if row.status:
                found[row.status] = found.get(row.status, 0) + 1
        return found

    @property
    def ok(self) -> bool:
        bad = [s for s in self.statuses if s != "SUCCEEDED"]
        return self.count("failed") == 0 and not bad

    def to_json(self) -> dict[str, Any]:
        return {"command": "backfill", "region": self.region, "stateMachineArn": self.state_machine_arn,
                "counts": self.counts, "statuses": self.statuses, "waited": self.waited,
                "devices": [row.__dict__ for row in self.rows]}


def backfill(source: SessionOrFactory, region: str, *, application: str = DEFAULT_APPLICATION,
             rate: float = DEFAULT_RATE, bucket: TokenBucket | None = None, wait: bool = False,
             wait_timeout_s: float = 900.0, wait_poll_s: float = 2.0) -> BackfillReport:
    """Start ``region``'s replicate machine for every ACTIVE inventory item there (see the module docstring)."""
    where = resolve_scope(source, region, application)
    bucket = bucket or TokenBucket(rate)
    sfn = where.client("stepfunctions")
    report = BackfillReport(region, where.replicate_arn)
    for item in inventory.scan(where):
        name = inventory.thing_name(item)
        status = inventory.status(item)
        certificate_id = inventory.attribute(item, inv.CERTIFICATE_ID)
        if status != inv.ACTIVE:
            report.rows.append(BackfillRow(name, "skipped", detail=f"Status {status or '(none)'}"))
            continue
        if not name or not certificate_id or not inventory.attribute(item, inv.CERTIFICATE_PEM):
            report.rows.append(BackfillRow(name or "(no ThingName)", "failed",
                                           detail="incomplete item: ThingName, CertificateId and CertificatePem are required"))
            continue
        started = executions.start(sfn, where.replicate_arn, backfill_name(name, certificate_id),
                                   inv.flat_item(item, "INSERT"), bucket)
        report.rows.append(BackfillRow(name, started.outcome.value, started.name, started.execution_arn, started.error))
    if wait:
        report.waited = True
        arns = [row.execution_arn for row in report.rows if row.outcome in (Outcome.STARTED.value, Outcome.ALREADY_DONE.value)]
        statuses = executions.wait(sfn, arns, timeout_s=wait_timeout_s, poll_s=wait_poll_s)
        for row in report.rows:
            row.status = statuses.get(row.execution_arn, row.status)
    return report
