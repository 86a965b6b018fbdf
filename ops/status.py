"""``status [--regions R ...]``: the fleet at a glance, one row per region.

Per region (the region's own replica and registry, as for every ops command), from what the deployed system keeps:

- devices by inventory status: the inventory replica (consistent scan, every page);
- things and certificates by status: ``ListThings``, ``ListCertificates`` (every page);
- drift: a *quick* comparison of the two above: an ACTIVE item whose thing or certificate is missing, whose
  certificate is not ACTIVE or whose thing records another owner; a REVOKED item whose thing or ACTIVE certificate is
  still there; things without an item (the region's canary, ``canary-<region>``, excepted). Attachments and the
  device policy need a call per device: ``python -m ops reconcile REGION`` checks them;
- onboardings in flight: RUNNING executions of the JITR machine;
- JITR failures and refusals in the last hour, by error: FAILED / TIMED_OUT / ABORTED JITR executions
  (``DescribeExecution``'s error); refusals are the inspector's named refusals and impostors;
- replication: RUNNING replicate/decommission executions (and the oldest one's start), and items of this replica that
  differ from or are missing in another replica (consistent reads of each);
- dead letters and telemetry errors: the depth of the replication dead-letter queue and of the telemetry error queue;
- pacer backlog: per API, how far its queue's next free slot is ahead of now (the pacing table);
- canary: the ``<application>-canary`` alarm ("no canary" where none is deployed) and the Route 53 health check on it;
- our own metrics over the last hour (CloudWatch, namespace ``contract.metrics.namespace(application)``; names,
  dimensions and their values from the catalog ``contract/metrics.py``): registrations by verdict, registration
  refusals by reason, per paced API the pacer's slots, longest wait (``PacerWait`` Maximum) and refusals by reason,
  provisioning API requests by outcome, fleet provisioning verdicts. One ``GetMetricData`` call per region holds every
  query (:func:`metric_queries`: explicit dimension values, the paced APIs being those of the region's pacing table),
  summed over 5-minute periods here; "none in the last hour" where CloudWatch has no data.

Not available, and said so in the output: the age of the oldest stream record a pipe has not processed yet (Pipes
publish no iterator age through any API ops reads).
Exit status (``StatusReport.ok``): 0 when nothing needs attention, 1 otherwise, 2 for bad input.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import product
from typing import Any

from builders import canary as canaries
from builders import inventory as inv
from contract import metrics as catalog
from contract import names as contract_names
from contract.items import OWNER_ATTRIBUTE
from ops.clients import DEFAULT_APPLICATION, Scope, SessionOrFactory, client_factory, error_code
from ops.clients import scope as resolve_scope
from ops.errors import OpsError
from ops.trace import (IMPOSTOR_ERRORS, REJECTED_ERRORS, application_regions, item_version, ops_command, parse_time,
                       when)

WINDOW = dt.timedelta(hours=1)
#: JITR executions started this long before the window may still have failed inside it (throttled retries).
LOOKBACK = dt.timedelta(hours=2)
NOT_AVAILABLE = [
    "oldest unprocessed inventory stream record: not available (Pipes publish no iterator age that ops can read)",
]
#: GetMetricData's period over the window (the figures add the periods up, or take their maximum).
METRICS_PERIOD_S = 300
#: Queries one GetMetricData call takes at most.
MAX_METRIC_QUERIES = 500
NO_METRICS = "none in the last hour"


@dataclass
class RegionStatus:
    region: str
    devices: dict[str, int] = field(default_factory=dict)  # inventory Status -> items
    things: int = 0
    certificates: dict[str, int] = field(default_factory=dict)  # certificate status -> count
    drift: int = 0
    orphans: int = 0
    drift_examples: list[str] = field(default_factory=list)
    onboarding: int = 0
    jitr_failures: dict[str, int] = field(default_factory=dict)  # error -> count, last hour
    jitr_refusals: dict[str, int] = field(default_factory=dict)
    replications_running: int = 0
    oldest_replication: str = ""
    replica_disagrees: int = 0  # items of this replica missing in or different from another replica
    dead_letters: int = 0
    pacer_backlog: dict[str, float] = field(default_factory=dict)  # API -> seconds until its next free slot
    telemetry_errors: int = 0
    canary: dict[str, str] | None = None  # alarm state, since, health check
    # our own metrics, last hour (CloudWatch; see metric_queries)
    registrations: dict[str, int] = field(default_factory=dict)  # Verdict -> certificates accepted
    registration_refusals: dict[str, int] = field(default_factory=dict)  # Reason -> certificates refused
    pacer_slots: dict[str, int] = field(default_factory=dict)  # API -> throttled calls given a slot
    pacer_waits: dict[str, float] = field(default_factory=dict)  # API -> longest wait for a slot, seconds
    pacer_refusals: dict[str, dict[str, int]] = field(default_factory=dict)  # API -> Reason -> calls given no slot
    provisioning_outcomes: dict[str, int] = field(default_factory=dict)  # Outcome -> provisioning API requests
    fleet_verdicts: dict[str, int] = field(default_factory=dict)  # pre-provisioning hook Verdict -> RegisterThing calls
    fleet_certificates: dict[str, int] = field(default_factory=dict)  # certificate provider Verdict -> CSRs
    metrics_error: str = ""  # why CloudWatch could not be read ("" when it was)
    alarms: list[str] = field(default_factory=list)  # the application's alarms in ALARM
    notes: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    @property
    def active_certificates(self) -> int:
        return self.certificates.get("ACTIVE", 0)

    @property
    def attention(self) -> list[str]:
        found = []
        if self.drift:
            found.append(f"{self.drift} drifted")
        if self.dead_letters:
            found.append(f"{self.dead_letters} dead letters")
        if self.telemetry_errors:
            found.append(f"{self.telemetry_errors} telemetry errors")
        if self.replica_disagrees:
            found.append(f"{self.replica_disagrees} items disagree with another replica")
        if self.jitr_failures or self.jitr_refusals:
            found.append("JITR failures in the last hour")
        if self.canary and self.canary.get("state") == "ALARM":
            found.append("canary in ALARM")
        return found

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "activeCertificates": self.active_certificates, "attention": self.attention}


@dataclass
class StatusReport:
    application: str
    at: str
    regions: list[RegionStatus] = field(default_factory=list)
    not_available: list[str] = field(default_factory=lambda: list(NOT_AVAILABLE))

    @property
    def ok(self) -> bool:
        return not any(r.attention for r in self.regions)

    def to_json(self) -> dict[str, Any]:
        return {"command": "status", "application": self.application, "at": self.at, "ok": self.ok,
                "regions": [r.to_json() for r in self.regions], "notAvailable": self.not_available}

    def render(self, console: Any) -> None:
        render(console, self)


# ---- readers ---------------------------------------------------------------------------------------------------
def _scan(where: Scope, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in where.client("dynamodb").get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items.extend(page.get("Items", []))
    return items


def inventory_items(where: Scope) -> dict[str, dict[str, Any]]:
    """Thing name -> flat item of the region's replica (consistent scan)."""
    table = where.names.inventory_table
    try:
        return {inv.flat_item(item)[inv.THING_NAME]: inv.flat_item(item) for item in _scan(where, table)}
    except Exception as error:
        if error_code(error) == "ResourceNotFoundException":
            raise OpsError(f"the inventory table {table!r} does not exist in {where.region}: is the stack deployed "
                           f"there, and is --application {where.names.application!r} right?") from None
        raise


def registry_view(where: Scope) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """(thing name -> attributes, certificate id -> status) of the region (ListThings, ListCertificates)."""
    iot = where.client("iot")
    things: dict[str, dict[str, str]] = {}
    for page in iot.get_paginator("list_things").paginate():
        for thing in page.get("things", []):
            things[thing["thingName"]] = dict(thing.get("attributes") or {})
    certificates: dict[str, str] = {}
    for page in iot.get_paginator("list_certificates").paginate():
        for certificate in page.get("certificates", []):
            certificates[certificate["certificateId"]] = certificate.get("status", "")
    return things, certificates


def quick_drift(items: dict[str, dict[str, Any]], things: dict[str, dict[str, str]],
                certificates: dict[str, str]) -> tuple[list[str], list[str]]:
    """(drifted things with why, things without an item) from the listings alone (pure; see the module docstring)."""
    drifted: list[str] = []
    for name, item in sorted(items.items()):
        certificate_id, status = item.get(inv.CERTIFICATE_ID, ""), item.get(inv.STATUS, "")
        why: list[str] = []
        if status == inv.ACTIVE:
            if name not in things:
                why.append("thing missing")
            elif things[name].get(OWNER_ATTRIBUTE) not in (None, "", certificate_id):
                why.append("thing records another owner")
            if certificate_id not in certificates:
                why.append("certificate missing")
            elif certificates[certificate_id] != "ACTIVE":
                why.append(f"certificate {certificates[certificate_id]}")
        elif status == inv.REVOKED:
            if name in things:
                why.append("thing still exists")
            if certificates.get(certificate_id) == "ACTIVE":
                why.append("certificate still ACTIVE")
        else:
            why.append(f"unknown item status {status!r}")
        if why:
            drifted.append(f"{name}: {', '.join(why)}")
    orphans = sorted(name for name in things if name not in items and not contract_names.is_canary_name(name))
    return drifted, orphans


def _executions(where: Scope, machine: str, status: str) -> list[dict[str, Any]]:
    sfn = where.client("stepfunctions")
    found: list[dict[str, Any]] = []
    try:
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=where.state_machine_arn(machine),
                                                                  statusFilter=status):
            found.extend(page.get("executions", []))
    except Exception as error:
        if error_code(error) == "StateMachineDoesNotExist":
            return []
        raise
    return found


def jitr_outcomes(where: Scope, now: dt.datetime) -> tuple[dict[str, int], dict[str, int]]:
    """(failures, refusals) of the JITR machine that ended in the last hour, by error."""
    sfn = where.client("stepfunctions")
    failures: Counter[str] = Counter()
    refusals: Counter[str] = Counter()
    for status in ("FAILED", "TIMED_OUT", "ABORTED"):
        for listed in _executions(where, where.names.jitr_state_machine, status):
            stopped = parse_time(listed.get("stopDate")) or parse_time(listed.get("startDate"))
            if stopped is None or stopped < now - WINDOW:
                continue
            error = status if status != "FAILED" else str(
                sfn.describe_execution(executionArn=listed["executionArn"]).get("error") or "unknown error")
            (refusals if error in REJECTED_ERRORS or error in IMPOSTOR_ERRORS else failures)[error] += 1
    return dict(failures), dict(refusals)


def queue_depth(where: Scope, name: str) -> int | None:
    """Visible + in-flight + delayed messages of the queue ``name`` (approximate); None when there is no such queue."""
    sqs = where.client("sqs")
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except Exception as error:
        if "NonExistentQueue" in error_code(error) or "QueueDoesNotExist" in error_code(error):
            return None
        raise
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed"]).get("Attributes", {})
    return sum(int(value) for value in attributes.values() if str(value).isdigit())


def pacing_queues(where: Scope) -> dict[str, float] | None:
    """API -> its queue's next free slot (``Tat``, epoch seconds) from the pacing table: every API the region's pacer
    ever paced; None without a pacing table."""
    try:
        items = _scan(where, where.names.pacing_table)
    except Exception as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise
    queues: dict[str, float] = {}
    for item in items:
        api, tat = item.get("Api", {}).get("S", ""), item.get("Tat", {}).get("N")
        if api:
            queues[api] = float(tat) if tat is not None else 0.0
    return queues


def pacer_backlog(queues: dict[str, float], now: dt.datetime) -> dict[str, float]:
    """API -> seconds until its queue's next free slot (only APIs with a backlog)."""
    return {api: round(tat - now.timestamp(), 1) for api, tat in queues.items() if tat > now.timestamp()}


# ---- our own metrics (CloudWatch) ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetricQuery:
    """One series of a catalog metric (its dimension values), and where its figure goes: ``RegionStatus.<target>``,
    under ``key`` (the dimension values; the pacer's refusals nest API, then reason)."""

    id: str
    metric: catalog.Metric
    dimensions: tuple[tuple[str, str], ...]
    stat: str  # "Sum" or "Maximum"
    target: str
    key: tuple[str, ...]

    def request(self, namespace: str) -> dict[str, Any]:
        return {"Id": self.id, "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": self.metric.name,
                       "Dimensions": [{"Name": name, "Value": value} for name, value in self.dimensions]},
            "Period": METRICS_PERIOD_S, "Stat": self.stat}}


#: (metric, statistic, RegionStatus field) of every figure of ours the report shows.
FIGURES: tuple[tuple[catalog.Metric, str, str], ...] = (
    (catalog.REGISTRATIONS, "Sum", "registrations"), (catalog.REFUSALS, "Sum", "registration_refusals"),
    (catalog.PACER_SLOTS, "Sum", "pacer_slots"), (catalog.PACER_WAIT, "Maximum", "pacer_waits"),
    (catalog.PACER_REFUSALS, "Sum", "pacer_refusals"),
    (catalog.PROVISIONING_REQUESTS, "Sum", "provisioning_outcomes"),
    (catalog.FLEET_HOOK_VERDICTS, "Sum", "fleet_verdicts"), (catalog.FLEET_CERTIFICATES, "Sum", "fleet_certificates"))


def metric_queries(paced_apis: Iterable[str]) -> list[MetricQuery]:
    """A query per series of every figure: the catalog's dimension values, and for ``Api`` (values the catalog does
    not fix: the stack's quotas decide) ``paced_apis``, the APIs of the region's pacing table. Explicit series, not
    ``SEARCH``: the same request in AWS and in the local cloud, and no charge for series that were never written."""
    known: dict[str, tuple[str, ...]] = {"Api": tuple(sorted(set(paced_apis)))}
    queries: list[MetricQuery] = []
    for metric, stat, target in FIGURES:
        choices = [tuple(metric.values.get(name, ())) or known.get(name, ()) for name in metric.dimensions]
        for values in product(*choices):
            queries.append(MetricQuery(f"m{len(queries)}", metric, tuple(zip(metric.dimensions, values, strict=True)),
                                       stat, target, tuple(values)))
    return queries


def metrics_window_end(now: dt.datetime) -> dt.datetime:
    """The end of ``now``'s minute: CloudWatch keeps our metrics by the minute (and rounds the start down to one), so
    the hour read is the one ending with the current minute, whatever was written in it so far included."""
    start_of_minute = now.replace(second=0, microsecond=0)
    return start_of_minute if start_of_minute == now else start_of_minute + dt.timedelta(minutes=1)


def read_metrics(cloudwatch: Any, namespace: str, queries: Sequence[MetricQuery],
                 now: dt.datetime) -> dict[str, list[float]]:
    """Query id -> the values of its periods over the last hour: one ``GetMetricData`` call per
    :data:`MAX_METRIC_QUERIES` queries (and per page, were a result ever to need a ``NextToken``)."""
    found: dict[str, list[float]] = {}
    end = metrics_window_end(now)
    for start in range(0, len(queries), MAX_METRIC_QUERIES):
        request: dict[str, Any] = {
            "MetricDataQueries": [query.request(namespace) for query in queries[start:start + MAX_METRIC_QUERIES]],
            "StartTime": end - WINDOW, "EndTime": end}
        while True:
            page = cloudwatch.get_metric_data(**request)
            for result in page.get("MetricDataResults", []):
                found.setdefault(result["Id"], []).extend(float(value) for value in result.get("Values", []))
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
    return found


def apply_metrics(row: RegionStatus, queries: Sequence[MetricQuery], found: dict[str, list[float]]) -> None:
    """Put each query's figure (the periods' sum, or their maximum) into ``row``; a series without data (or a sum of
    nothing) leaves no entry."""
    for query in queries:
        values = found.get(query.id)
        if not values:
            continue
        figure = float(max(values) if query.stat == "Maximum" else sum(values))
        if query.stat == "Sum" and not figure:
            continue
        target: dict[str, Any] = getattr(row, query.target)
        for part in query.key[:-1]:
            target = target.setdefault(part, {})
        target[query.key[-1]] = int(figure) if query.stat == "Sum" and figure.is_integer() else round(figure, 3)


def region_metrics(where: Scope, row: RegionStatus, paced_apis: Iterable[str], now: dt.datetime) -> None:
    """Our metrics of the last hour into ``row`` (see :func:`metric_queries`); a CloudWatch error is noted, not
    raised (the rest of the report stands without them)."""
    queries = metric_queries(paced_apis)
    namespace = catalog.namespace(where.names.application)
    try:
        found = read_metrics(where.client("cloudwatch"), namespace, queries, now)
    except Exception as error:  # noqa: BLE001 - metrics are one figure of the report; the others stand
        row.metrics_error = error_code(error) or type(error).__name__
        row.notes.append(f"our metrics (CloudWatch {namespace}) not readable: {row.metrics_error}")
        return
    apply_metrics(row, queries, found)


def canary_state(where: Scope) -> tuple[dict[str, str] | None, list[str]]:
    """(the canary alarm's state, since and health check; None when no canary is deployed, the application's
    alarms in ALARM)."""
    cloudwatch = where.client("cloudwatch")
    alarms: list[dict[str, Any]] = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=where.names("")):
        alarms.extend(page.get("MetricAlarms", []))
    firing = sorted(a["AlarmName"] for a in alarms if a.get("StateValue") == "ALARM")
    name = where.names("canary")
    alarm = next((a for a in alarms if a["AlarmName"] == name), None)
    if alarm is None:
        return None, firing
    canary = {"alarm": name, "state": str(alarm.get("StateValue", "")),
              "since": when(alarm.get("StateUpdatedTimestamp")),
              "healthCheck": canary_health_check(where.clients("route53", where.region), name, where.region,
                                                 where.names(canaries.thing_name(where.region)))}
    return canary, firing


def canary_health_check(route53: Any, alarm: str, region: str, tag: str) -> str:
    """The Route 53 health check on the region's canary alarm and what its checkers report, in words. Every region's
    alarm has the same name, so the check is the one whose ``AlarmIdentifier`` names the region too, or (a listing
    without it, as the local cloud's) the one ``components/canary.py`` tags ``Name`` =
    ``<application>-canary-<region>``."""
    try:
        checks = [c for page in route53.get_paginator("list_health_checks").paginate()
                  for c in page.get("HealthChecks", [])]
        found = None
        for check in checks:
            identifier = (check.get("HealthCheckConfig") or {}).get("AlarmIdentifier") or {}
            if identifier.get("Name") == alarm and identifier.get("Region") == region:
                found = check["Id"]
        ids = [c["Id"] for c in checks]
        for start in range(0, len(ids) if found is None else 0, 10):  # ListTagsForResources takes 10 ids at most
            for tagged in route53.list_tags_for_resources(ResourceType="healthcheck",
                                                          ResourceIds=ids[start:start + 10]).get("ResourceTagSets", []):
                if {"Key": "Name", "Value": tag} in tagged.get("Tags", []):
                    found = tagged["ResourceId"]
    except Exception as error:  # noqa: BLE001 - Route 53 is optional to this report
        return f"not readable ({error_code(error) or type(error).__name__})"
    if found is None:
        return "none found"
    try:
        observations = route53.get_health_check_status(HealthCheckId=found).get("HealthCheckObservations", [])
    except Exception as error:  # noqa: BLE001 - the check exists; its checkers' view is extra
        return f"{found} (status not readable: {error_code(error) or type(error).__name__})"
    statuses = sorted({o.get("StatusReport", {}).get("Status", "") for o in observations} - {""})
    return f"{found} ({'; '.join(statuses) or 'no observations'})"


# ---- the report ------------------------------------------------------------------------------------------------
def status(source: SessionOrFactory, *, regions: Sequence[str] | None = None, application: str = DEFAULT_APPLICATION,
           profile: str | None = None, seeds: Iterable[str | None] = (),
           now: dt.datetime | None = None) -> StatusReport:
    """The fleet's figures per region (see the module docstring)."""
    clients = client_factory(source)
    chosen = application_regions(clients, application, regions=regions, seeds=seeds)
    now = now or dt.datetime.now(dt.UTC)
    report = StatusReport(application, when(now))
    scopes = [resolve_scope(clients, region, application) for region in chosen]
    inventories = {where.region: inventory_items(where) for where in scopes}
    versions = {region: {name: item_version(item) for name, item in items.items()}
                for region, items in inventories.items()}
    command = lambda *arguments: ops_command(*arguments, application=application, profile=profile)
    for where in scopes:
        region, items = where.region, inventories[where.region]
        row = RegionStatus(region, devices=dict(Counter(item.get(inv.STATUS, "") for item in items.values())))
        things, certificates = registry_view(where)
        row.things, row.certificates = len(things), dict(Counter(certificates.values()))
        drifted, orphans = quick_drift(items, things, certificates)
        row.drift, row.orphans, row.drift_examples = len(drifted), len(orphans), [*drifted[:5], *(
            f"{name}: no inventory item" for name in orphans[:5])]
        row.onboarding = len(_executions(where, where.names.jitr_state_machine, "RUNNING"))
        row.jitr_failures, row.jitr_refusals = jitr_outcomes(where, now)
        running = [e for machine in (where.names.replication_state_machine, where.names.decommission_state_machine)
                   for e in _executions(where, machine, "RUNNING")]
        row.replications_running = len(running)
        if running:
            row.oldest_replication = min(when(e.get("startDate")) for e in running)
        mine = versions[region]
        others = [v for r, v in versions.items() if r != region]
        row.replica_disagrees = sum(1 for name in set(mine).union(*others)
                                    if any(other.get(name) != mine.get(name) for other in others))
        depth = queue_depth(where, where.names.replication_dead_letter_queue)
        row.dead_letters = depth or 0
        if depth is None:
            row.notes.append("no replication dead-letter queue")
        depth = queue_depth(where, where.names.telemetry_error_queue)
        row.telemetry_errors = depth or 0
        if depth is None:
            row.notes.append("no telemetry error queue")
        queues = pacing_queues(where)
        row.pacer_backlog = pacer_backlog(queues or {}, now)
        if queues is None:
            row.notes.append("no pacing table (pacer not deployed)")
        region_metrics(where, row, queues or {}, now)
        row.canary, row.alarms = canary_state(where)
        if row.drift:
            row.commands.append(command("reconcile", region, "--repair"))
        elif row.orphans:
            row.commands.append(command("reconcile", region))
        if row.dead_letters:
            row.commands.append(command("redrive", region))
        if row.telemetry_errors:
            row.notes.append("telemetry errors: decode each message's base64OriginalPayload, fix the device or the "
                             "data, delete the message (docs/design.md, Telemetry)")
        if row.replica_disagrees and not row.replications_running:
            row.notes.append("replicas disagree with nothing replicating: trace one of them "
                             f"(`{command('trace', 'THING')}`)")
        report.regions.append(row)
    return report


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items())) or "none"


def _figures(counts: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items())) or NO_METRICS


def metric_lines(row: RegionStatus) -> str:
    """The row's metrics cell: a line per figure, "none in the last hour" where CloudWatch had no data."""
    if row.metrics_error:
        return f"not readable ({row.metrics_error})"
    pacer = []
    for api in sorted({*row.pacer_slots, *row.pacer_waits, *row.pacer_refusals}):
        parts = [f"{row.pacer_slots.get(api, 0)} slots"]
        if api in row.pacer_waits:
            parts.append(f"longest wait {row.pacer_waits[api]:g} s")
        if row.pacer_refusals.get(api):
            parts.append(f"refused {_figures(row.pacer_refusals[api])}")
        pacer.append(f"{api} {', '.join(parts)}")
    fleet = "; ".join(part for part in (
        f"hook {_figures(row.fleet_verdicts)}" if row.fleet_verdicts else "",
        f"certificates {_figures(row.fleet_certificates)}" if row.fleet_certificates else "") if part)
    return "\n".join((f"registered: {_figures(row.registrations)}",
                      f"refused: {_figures(row.registration_refusals)}",
                      "pacer:" + ("".join(f"\n  {line}" for line in pacer) or f" {NO_METRICS}"),
                      f"provisioning API: {_figures(row.provisioning_outcomes)}",
                      f"fleet provisioning: {fleet or NO_METRICS}"))


def _since(moment: str, now: str) -> str:
    """``14:38:30Z`` when ``moment`` is on ``now``'s day, else the whole timestamp (both from :func:`when`)."""
    return f"{moment[11:19]}Z" if moment[:10] == now[:10] and len(moment) > 19 else moment


def render(console: Any, report: StatusReport) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"status of {report.application} at {report.at}", title_justify="left", show_lines=True)
    table.add_column("region", no_wrap=True)
    for column, ratio in (("fleet", 2), ("onboarding", 3), ("replication", 3), ("queues", 2),
                          ("our metrics, last hour", 4), ("canary", 2)):
        table.add_column(column, overflow="fold", ratio=ratio)

    def lines(*pairs: tuple[str, Any]) -> str:
        return "\n".join(f"{label}: {value}" for label, value in pairs)

    for r in report.regions:
        fleet = lines(("devices", ", ".join(f"{k} {v}" for k, v in sorted(r.devices.items())) or "none"),
                      ("things", r.things), ("ACTIVE certificates", r.active_certificates),
                      ("drift", f"{r.drift}" + (f" (+{r.orphans} things without item)" if r.orphans else "")))
        onboarding = lines(("running", r.onboarding), ("failed, last hour", _counts(r.jitr_failures)),
                           ("refused, last hour", _counts(r.jitr_refusals)))
        replication = lines(("running", f"{r.replications_running}" + (
                                f" (oldest since {_since(r.oldest_replication, report.at)})"
                                if r.oldest_replication else "")),
                            ("replicas", "agree" if not r.replica_disagrees else
                             f"{r.replica_disagrees} items differ from another replica"),
                            ("dead letters", r.dead_letters))
        queues = lines(("pacer backlog", "\n  ".join(f"{api} {seconds:g} s" for api, seconds
                                                     in sorted(r.pacer_backlog.items())) or "none"),
                       ("telemetry errors", r.telemetry_errors))
        canary = ("no canary" if r.canary is None else
                  lines(("alarm", f"{r.canary['state']} since {_since(r.canary['since'], report.at)}"),
                        ("health check", r.canary["healthCheck"])))
        table.add_row(r.region, escape(fleet), escape(onboarding), escape(replication), escape(queues),
                      escape(metric_lines(r)), escape(canary))
    console.print(table)
    for r in report.regions:
        for example in r.drift_examples:
            console.print(f"  {r.region} drift: {escape(example)}")
        if r.alarms:
            console.print(f"  [red]{r.region} alarms in ALARM: {escape(', '.join(r.alarms))}[/red]")
        for note in r.notes:
            console.print(f"  [yellow]{r.region}: {escape(note)}[/yellow]")
        for line in r.commands:
            console.print(f"  {r.region} fix: {escape(line)}")
    for note in report.not_available:
        console.print(f"[dim]{escape(note)}[/dim]")
    if report.ok:
        console.print("[green]Nothing needs attention.[/green]")
    else:
        console.print("[yellow]Needs attention: " + "; ".join(
            f"{r.region}: {', '.join(r.attention)}" for r in report.regions if r.attention) + "[/yellow]")
