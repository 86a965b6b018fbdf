"""``reconcile REGION [--repair]``: compare the region's inventory replica with its IoT registry.

Every item is checked (``ops.drift``) against the thing and certificate the registry holds; things
without an item are listed (report only). With ``--repair`` each drifted item starts the machine that
converges a thing to the item: the replicate machine for ACTIVE items (input
``flat_item(item, "INSERT")``, as the pipe delivers a device new to the region) and the decommission
machine for REVOKED items (``flat_item(item, "MODIFY")``, the only event the decommission rule takes).
Starts are paced by the token bucket and named ``repair-<sha256(thing, certificate, status, drift)>``:
rerunning against the same drift is a no-op ("already done"), a new drift gets a new run. An item
whose drift cannot be repaired (a REVOKED certificate under an ACTIVE item) starts nothing: the
replicate machine refuses revoked certificates, so the report says the device needs a new certificate.
If the very same drift comes back after a repair, ``retry_tag`` (``--retry-tag``) gives it a new name.
A thing holding certificates besides the item's first has its owner attribute cleared (``forget_owner``): the
replicate machine takes certificates away only when the thing records another owner (docs/design.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from builders import inventory as inv
from contract.items import OWNER_ATTRIBUTE
from ops import executions, inventory, registry
from ops.clients import DEFAULT_APPLICATION, SessionOrFactory, scope as resolve_scope
from ops.drift import UNREPAIRABLE, Code, Drift, item_drift, orphan_things
from ops.ratelimit import DEFAULT_RATE, TokenBucket

PREFIX = "repair"


def repair_name(flat: dict[str, str], drifts: list[Drift], retry_tag: str = "") -> str:
    """Stable for the same item and drift; different when the drift (or ``retry_tag``) changes."""
    parts = [flat.get(inv.THING_NAME, ""), flat.get(inv.CERTIFICATE_ID, ""), flat.get(inv.STATUS, ""),
             *sorted(str(d) for d in drifts)]
    if retry_tag:
        parts.append(f"retry={retry_tag}")
    return executions.execution_name(PREFIX, *parts)


@dataclass
class ThingRow:
    thing_name: str
    item_status: str  # "" for a thing without an item
    certificate_id: str
    drift: list[str]
    action: str = ""  # started | already done | failed | needs new certificate | report only | "" (not repaired)
    execution_name: str = ""
    detail: str = ""


@dataclass
class ReconcileReport:
    region: str
    items_checked: int = 0
    things_listed: int = 0
    repaired: bool = False
    rows: list[ThingRow] = field(default_factory=list)

    @property
    def drifted(self) -> int:
        return sum(1 for row in self.rows if row.item_status)

    @property
    def orphans(self) -> int:
        return sum(1 for row in self.rows if not row.item_status)

    @property
    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for row in self.rows:
            if row.action:
                found[row.action] = found.get(row.action, 0) + 1
        return found

    @property
    def ok(self) -> bool:
        """Nothing left to do: no drift, or every drift got a repair run (orphans are report-only)."""
        return all(row.action in ("started", "already done", "report only") for row in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {"command": "reconcile", "region": self.region, "itemsChecked": self.items_checked,
                "thingsListed": self.things_listed, "drifted": self.drifted, "orphans": self.orphans,
                "repaired": self.repaired, "counts": self.counts, "things": [row.__dict__ for row in self.rows]}


def forget_owner(iot: Any, thing_name: str) -> None:
    """Clear the thing's owner attribute, so the replicate machine's CreateThing finds another configuration and takes
    its one path that takes certificates away from a thing (revoke and detach all but the item's, record the owner).
    An empty value removes the attribute in AWS IoT (UpdateThing, ``merge``)."""
    iot.update_thing(thingName=thing_name,
                     attributePayload={"attributes": {OWNER_ATTRIBUTE: ""}, "merge": True})


def reconcile(source: SessionOrFactory, region: str, *, application: str = DEFAULT_APPLICATION, repair: bool = False,
              rate: float = DEFAULT_RATE, bucket: TokenBucket | None = None, retry_tag: str = "") -> ReconcileReport:
    """Report drift in ``region`` (see the module docstring); with ``repair`` start the converging machines."""
    where = resolve_scope(source, region, application)
    iot, sfn = where.client("iot"), where.client("stepfunctions")
    bucket = bucket or TokenBucket(rate)
    policy = where.names.device_policy
    registered = registry.things(iot)
    report = ReconcileReport(region, things_listed=len(registered), repaired=repair)
    names: list[str] = []
    for item in inventory.scan(where):
        flat = inv.flat_item(item, "INSERT")
        name, status, certificate_id = flat[inv.THING_NAME], flat[inv.STATUS], flat[inv.CERTIFICATE_ID]
        names.append(name)
        report.items_checked += 1
        thing = registry.thing(iot, name, registered.get(name))
        certificate = registry.certificate(iot, certificate_id, with_policies=status == inv.ACTIVE)
        drifts = item_drift(flat, thing, certificate, policy)
        if not drifts:
            continue
        row = ThingRow(name, status, certificate_id, [str(d) for d in drifts])
        report.rows.append(row)
        blocking = [d for d in drifts if not d.repairable]
        if blocking:
            row.action = "needs new certificate" if blocking[0].code == Code.CERTIFICATE_REVOKED else "not repairable"
            row.detail = UNREPAIRABLE[blocking[0].code]
            continue
        if not repair:
            continue
        if status == inv.ACTIVE and any(d.code == Code.OTHER_PRINCIPALS for d in drifts):
            forget_owner(iot, name)
        machine, event = ((where.replicate_arn, "INSERT") if status == inv.ACTIVE
                          else (where.decommission_arn, "MODIFY"))
        started = executions.start(sfn, machine, repair_name(flat, drifts, retry_tag), inv.flat_item(item, event), bucket)
        row.action, row.execution_name, row.detail = started.outcome.value, started.name, started.error
    for name in orphan_things(registered, names):
        report.rows.append(ThingRow(name, "", registered[name].get("certificateId", ""),
                                    [str(Drift(Code.NO_INVENTORY_ITEM))], "report only",
                                    detail=UNREPAIRABLE[Code.NO_INVENTORY_ITEM]))
    return report
