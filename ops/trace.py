"""``trace THING [--regions R ...]``: one device's whole story in every region, oldest first, and a verdict per region.

An operator answering "sensor-0042 cannot connect in us-west-2" reads, in each region (the region's own replica and
registry: the truth there, as for every ops command):

- the inventory item (consistent read): status, certificate, origin, when, and a *version*: the first 12 hex digits
  of the SHA-256 of the item's values, equal in every replica once the item has replicated (the item has no version
  attribute; global tables keep no per-item version either);
- the thing (attributes, principals) and every certificate the item records (current, pending, previous), the thing
  holds, or a JITR execution saw with this thing name as its CN, each with its status, dates and device policy;
- every execution that touched it: JITR (input ``certificateId``: one of those certificates), replication and
  decommission (input ``ThingName``; names ``backfill-``/``redrive-``/``repair-`` are the ops commands' own), with the
  outcome and, for a failure, the state that failed and its error (``GetExecutionHistory``). Each machine's newest
  :data:`MAX_EXECUTIONS` executions are read (newest first); the report says when a machine had more;
- the registration lease of a certificate still PENDING_ACTIVATION (``<application>-registration-leases``);
- the replication dead-letter queue's messages that name it: the queue is *peeked*, never consumed (each message is
  received with a short visibility timeout, then made visible again at once: a ``redrive`` running at that very
  moment may miss it for those seconds);
- the last telemetry message received in the region (the data table, newest first).

It ends with one verdict per region in plain words and, when an ops command fixes it, that command exactly as it is
run. Exit status (``TraceReport.ok``): 0 when every region agrees with the inventory and nothing needs attention, 1
otherwise (a disagreement, a refused impostor certificate of our CA, a dead letter naming the device), 2 for bad
input (not a thing name, a region without the application's inventory replica, a thing no region knows).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from builders import inventory as inv
from contract import errors as contract_errors
from contract import names as contract_names
from contract.items import LEASE_EXPIRES, LEASE_KEY, LEASE_OWNER, OWNER_ATTRIBUTE
from ops.clients import DEFAULT_APPLICATION, ClientFactory, Scope, SessionOrFactory, client_factory, error_code
from ops.clients import scope as resolve_scope
from ops.dead_letters import Kind, classify
from ops.drift import CertificateSnapshot, ThingSnapshot, certificate_id_of, item_drift
from ops.errors import OpsError

#: Executions read per state machine and region (newest first); the report says when a machine had more.
MAX_EXECUTIONS = 500
#: Dead-letter messages peeked per region at most.
MAX_DEAD_LETTERS = 1000
#: Seconds a peeked message is hidden before it is made visible again (at once, or by SQS if this process dies).
PEEK_VISIBILITY_SECONDS = 20
ENDED_BADLY = ("FAILED", "TIMED_OUT", "ABORTED")
_STACK_REGION = re.compile(r"^\s*aws:region:\s*['\"]?([a-z0-9-]+)['\"]?\s*$", re.MULTILINE)
PROJECT_DIR = Path(__file__).resolve().parent.parent

#: A JITR execution's errors for a certificate refused because another one owns the name (quarantined INACTIVE).
IMPOSTOR_ERRORS = (contract_errors.IMPOSTOR_CERTIFICATE_REJECTED, contract_errors.THING_OWNED_BY_ANOTHER_CERTIFICATE,
                   contract_errors.THING_NAME_CLAIMED)
#: A JITR execution's errors for a certificate that can never be registered (revoked by the machine).
REJECTED_ERRORS = contract_errors.REJECTED


# ---- where: the thing name, the application's regions, the commands to print -----------------------------------
def check_thing_name(thing: str) -> str:
    """``thing`` if it can name a device (``contract.names``: AWS IoT's rule, no reserved prefix), else OpsError."""
    if not contract_names.is_thing_name(thing):
        bad = contract_names.bad_thing_name_characters(thing) if isinstance(thing, str) else []
        why = f" (not allowed: {', '.join(repr(c) for c in bad)})" if bad else ""
        raise OpsError(f"{thing!r} is not a thing name{why}: 1-128 letters, digits, ':', '_' or '-'")
    refusal = contract_names.refusal(thing)
    if refusal:
        raise OpsError(f"{refusal}; no device has such a name (a region's canary is not a device: see "
                       "`python -m ops status`)")
    return thing


def stack_regions(project_dir: Path = PROJECT_DIR) -> list[str]:
    """The ``aws:region`` of every ``Pulumi.<stack>.yaml`` of the project (where to look for the inventory first)."""
    found: list[str] = []
    for path in sorted(project_dir.glob("Pulumi.*.yaml")):
        try:
            match = _STACK_REGION.search(path.read_text(encoding="utf-8"))
        except OSError:
            continue
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return found


def _replica_regions(clients: ClientFactory, region: str, table: str) -> list[str] | None:
    """``region`` and the replicas DescribeTable lists there (global table), or None when the table is not there."""
    try:
        description = clients("dynamodb", region).describe_table(TableName=table)["Table"]
    except Exception as error:
        if error_code(error) in ("ResourceNotFoundException", "UnrecognizedClientException",
                                 "InvalidClientTokenId", "AccessDeniedException"):
            return None
        raise
    others = [r["RegionName"] for r in description.get("Replicas") or [] if r.get("RegionName")]
    return [region, *(r for r in others if r != region)]


def application_regions(source: SessionOrFactory, application: str = DEFAULT_APPLICATION, *,
                        regions: Sequence[str] | None = None, seeds: Iterable[str | None] = ()) -> list[str]:
    """The regions to look in: ``regions`` (each checked to hold the application's inventory replica: else
    OpsError), or the inventory table's replicas as DynamoDB lists them, asked in the first of ``seeds``, the
    environment's region and the project's stack regions that holds the table."""
    clients = client_factory(source)
    table = _names(application).inventory_table
    if regions:
        chosen = list(dict.fromkeys(regions))
        for region in chosen:
            if _replica_regions(clients, region, table) is None:
                raise OpsError(f"{region} holds no inventory replica {table!r}: it is not a region of "
                               f"--application {application!r} (or the credentials cannot read it there); name the "
                               "stacks' regions, e.g. --regions eu-west-1 us-west-2")
        return chosen
    candidates = [*seeds, os.environ.get("AWS_REGION"), os.environ.get("AWS_DEFAULT_REGION"), *stack_regions()]
    tried: list[str] = []
    for seed in candidates:
        if not seed or seed in tried:
            continue
        tried.append(seed)
        found = _replica_regions(clients, seed, table)
        if found:
            return sorted(found, key=lambda r: (r != seed, r))
    raise OpsError(f"no inventory table {table!r} in {', '.join(tried) or 'any region'}: pass the stacks' regions "
                   "with --regions (e.g. --regions eu-west-1 us-west-2) and check --application")


def _names(application: str) -> Any:
    from contract.resources import Names

    return Names(application)


def ops_command(*arguments: str, application: str = DEFAULT_APPLICATION, profile: str | None = None) -> str:
    """``python -m ops [--application A] [--profile P] ARGS``: the command as a person (or a test) runs it."""
    common: list[str] = []
    if application != DEFAULT_APPLICATION:
        common += ["--application", application]
    if profile:
        common += ["--profile", profile]
    return shlex.join(["python", "-m", "ops", *common, *arguments])


# ---- small readers ---------------------------------------------------------------------------------------------
def parse_time(value: Any) -> dt.datetime | None:
    """A datetime (aware, UTC) from boto3's datetimes, ISO text or epoch seconds/milliseconds; None if unknown."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    if isinstance(value, (int, float)) or (isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value)):
        number = float(value)
        return dt.datetime.fromtimestamp(number / 1000 if number > 1e11 else number, dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def when(value: Any) -> str:
    """``2025-01-31T12:00:00.123Z`` (UTC, milliseconds: one onboarding's steps share a second), or "" if unknown."""
    moment = parse_time(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if moment else ""


def short(certificate_id: str) -> str:
    return f"{certificate_id[:12]}…" if len(certificate_id) > 12 else certificate_id


def item_version(flat: dict[str, Any]) -> str:
    """12 hex digits of the SHA-256 of the item's attribute values: equal in every replica of the same write."""
    values = {name: flat.get(name, "") for name in inv.ATTRIBUTES}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


def common_name(pem: str) -> str:
    """The CN of a PEM certificate ("" if it cannot be read)."""
    try:
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        certificate = x509.load_pem_x509_certificate(pem.encode())
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else ""
    except Exception:  # noqa: BLE001 - an unreadable PEM names no thing
        return ""


def _json(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None


# ---- what one region holds -------------------------------------------------------------------------------------
@dataclass
class Certificate:
    certificate_id: str
    roles: list[str]  # current | pending | previous | attached | seen by JITR
    exists: bool
    status: str = ""
    created: str = ""
    modified: str = ""
    device_policy: bool = False


@dataclass
class Execution:
    kind: str  # JITR | replication | decommission | backfill | redrive | repair
    machine: str
    name: str
    arn: str
    status: str
    started: str
    stopped: str = ""
    certificate_id: str = ""
    outcome: str = ""  # in words: "registered (NEW)", "FAILED at 'Attach device policy': ..."
    failed_state: str = ""
    error: str = ""
    cause: str = ""


@dataclass
class DeadLetterSeen:
    message_id: str
    kind: str
    sent: str
    machine: str
    detail: str


@dataclass
class Lease:
    certificate_id: str
    owner: str  # the execution ARN
    expires: str
    held: bool


@dataclass
class Telemetry:
    received: str
    message: str


@dataclass
class RegionTrace:
    region: str
    item: dict[str, Any] | None = None  # the flat item of this region's replica
    version: str = ""
    thing: dict[str, Any] = field(default_factory=dict)  # exists, attributes, principals
    certificates: list[Certificate] = field(default_factory=list)
    executions: list[Execution] = field(default_factory=list)
    leases: list[Lease] = field(default_factory=list)
    dead_letters: list[DeadLetterSeen] = field(default_factory=list)
    unattributed_dead_letters: int = 0  # pipe batch failures: they name stream records, not things
    telemetry: Telemetry | None = None
    truncated: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    verdict: str = ""
    command: str = ""
    agrees: bool = True
    attention: bool = False

    def certificate(self, certificate_id: str) -> Certificate | None:
        return next((c for c in self.certificates if c.certificate_id == certificate_id), None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.item is not None:
            data["item"] = {k: v for k, v in self.item.items() if k not in (inv.CERTIFICATE_PEM, inv.EVENT_NAME,
                                                                          inv.OLD_CERTIFICATE_ID)}
        return data


@dataclass
class Event:
    at: str
    region: str
    what: str


@dataclass
class TraceReport:
    thing: str
    application: str
    regions: list[RegionTrace] = field(default_factory=list)
    timeline: list[Event] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.agrees and not r.attention for r in self.regions)

    def verdicts(self) -> dict[str, dict[str, Any]]:
        return {r.region: {"verdict": r.verdict, "command": r.command, "agrees": r.agrees, "attention": r.attention}
                for r in self.regions}

    def to_json(self) -> dict[str, Any]:
        return {"command": "trace", "thingName": self.thing, "application": self.application, "ok": self.ok,
                "verdicts": self.verdicts(), "timeline": [asdict(e) for e in self.timeline],
                "regions": [r.to_json() for r in self.regions]}

    def render(self, console: Any) -> None:
        render(console, self)


# ---- reading one region ----------------------------------------------------------------------------------------
class _Region:
    """Reads one region for one thing (``trace``); caches certificate descriptions."""

    def __init__(self, where: Scope, thing: str, now: dt.datetime, max_executions: int) -> None:
        self.where, self.thing, self.now, self.max_executions = where, thing, now, max_executions
        self.iot, self.sfn = where.client("iot"), where.client("stepfunctions")
        self.trace = RegionTrace(where.region)
        self._described: dict[str, dict[str, Any] | None] = {}

    # inventory, thing, certificates
    def read_item(self) -> None:
        table = self.where.names.inventory_table
        try:
            found = self.where.client("dynamodb").get_item(TableName=table, Key={inv.THING_NAME: {"S": self.thing}},
                                                           ConsistentRead=True).get("Item")
        except Exception as error:
            if error_code(error) == "ResourceNotFoundException":
                raise OpsError(f"the inventory table {table!r} does not exist in {self.where.region}: is the stack "
                               f"deployed there, and is --application {self.where.names.application!r} "
                               "right?") from None
            raise
        if found:
            self.trace.item = inv.flat_item(found)
            self.trace.version = item_version(self.trace.item)

    def read_thing(self) -> None:
        try:
            described = self.iot.describe_thing(thingName=self.thing)
        except Exception as error:
            if error_code(error) == "ResourceNotFoundException":
                self.trace.thing = {"exists": False, "attributes": {}, "principals": []}
                return
            raise
        principals: list[str] = []
        for page in self.iot.get_paginator("list_thing_principals").paginate(thingName=self.thing):
            principals.extend(page.get("principals", []))
        self.trace.thing = {"exists": True, "attributes": dict(described.get("attributes") or {}),
                            "principals": sorted(principals)}

    def describe(self, certificate_id: str) -> dict[str, Any] | None:
        if certificate_id not in self._described:
            try:
                self._described[certificate_id] = self.iot.describe_certificate(
                    certificateId=certificate_id)["certificateDescription"]
            except Exception as error:
                if error_code(error) not in ("ResourceNotFoundException", "InvalidRequestException"):
                    raise
                self._described[certificate_id] = None
        return self._described[certificate_id]

    def names_thing(self, certificate_id: str) -> bool:
        description = self.describe(certificate_id)
        return bool(description) and common_name(description.get("certificatePem", "")) == self.thing

    def read_certificates(self, recorded: dict[str, list[str]], seen: Iterable[str]) -> None:
        roles = {cid: list(r) for cid, r in recorded.items() if cid}
        for principal in self.trace.thing.get("principals", []):
            cid = certificate_id_of(principal)
            if cid:
                roles.setdefault(cid, []).append("attached")
        for cid in seen:
            roles.setdefault(cid, []).append("seen by JITR")
        policy = self.where.names.device_policy
        for cid, its_roles in roles.items():
            description = self.describe(cid)
            if description is None:
                self.trace.certificates.append(Certificate(cid, its_roles, exists=False))
                continue
            policies: list[str] = []
            for page in self.iot.get_paginator("list_attached_policies").paginate(target=description["certificateArn"]):
                policies.extend(p["policyName"] for p in page.get("policies", []))
            self.trace.certificates.append(Certificate(
                cid, its_roles, True, description.get("status", ""), when(description.get("creationDate")),
                when(description.get("lastModifiedDate")), policy in policies))

    # executions
    def _listed(self, machine_name: str) -> list[dict[str, Any]]:
        arn = self.where.state_machine_arn(machine_name)
        listed: list[dict[str, Any]] = []
        try:
            for page in self.sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
                listed.extend(page.get("executions", []))
                if len(listed) > self.max_executions:
                    break
        except Exception as error:
            if error_code(error) == "StateMachineDoesNotExist":
                return []
            raise
        listed.sort(key=lambda e: parse_time(e.get("startDate")) or self.now, reverse=True)
        if len(listed) > self.max_executions:
            self.trace.truncated.append(f"only the {self.max_executions} newest executions of {machine_name} were read")
            listed = listed[: self.max_executions]
        return listed

    def read_executions(self, known: set[str]) -> set[str]:
        """Every execution touching the thing; returns the ids of certificates JITR saw with this CN.

        A JITR execution names only a certificate id. It is the thing's when the id is one the thing is known by,
        when its output (a registration) names the thing, or when another JITR execution's output maps the id to the
        thing; only the ids left undecided (failures and duplicates of unknown certificates) cost a
        DescribeCertificate, whose CN decides (IoT's DescribeCertificate quota is shared with the inspector)."""
        names = self.where.names
        seen: set[str] = set()
        thing_of: dict[str, str] = {}  # certificate id -> thing, from registrations' outputs
        undecided: list[tuple[str, dict[str, Any], dict[str, Any], Any]] = []
        for machine, default_kind in ((names.jitr_state_machine, "JITR"),
                                      (names.replication_state_machine, "replication"),
                                      (names.decommission_state_machine, "decommission")):
            for listed in self._listed(machine):
                described = self.sfn.describe_execution(executionArn=listed["executionArn"])
                payload = _json(described.get("input")) or {}
                output = _json(described.get("output")) or {}
                if default_kind == "JITR":
                    certificate_id = str(payload.get("certificateId") or "")
                    device = output.get("Device") if isinstance(output, dict) else None
                    if isinstance(device, dict) and device.get("ThingName"):
                        thing_of[certificate_id] = str(device["ThingName"])
                    undecided.append((machine, listed, described, output))
                elif payload.get(inv.THING_NAME) == self.thing:
                    prefix = listed["name"].split("-", 1)[0]
                    kind = prefix if prefix in ("backfill", "redrive", "repair") else default_kind
                    self._add(kind, machine, listed, described, output, str(payload.get(inv.CERTIFICATE_ID) or ""))
        for machine, listed, described, output in undecided:
            certificate_id = str((_json(described.get("input")) or {}).get("certificateId") or "")
            if certificate_id in known:
                mine = True
            elif certificate_id in thing_of:
                mine = thing_of[certificate_id] == self.thing
            else:
                mine = bool(certificate_id) and self.names_thing(certificate_id)
            if not mine:
                continue
            if certificate_id not in known:
                seen.add(certificate_id)
            self._add("JITR", machine, listed, described, output, certificate_id)
        self.trace.executions.sort(key=lambda e: (e.started, e.name))
        return seen

    def _add(self, kind: str, machine: str, listed: dict[str, Any], described: dict[str, Any], output: Any,
             certificate_id: str) -> None:
        execution = Execution(kind, machine, listed["name"], listed["executionArn"], described["status"],
                              when(described.get("startDate")), when(described.get("stopDate")), certificate_id,
                              error=str(described.get("error") or ""), cause=str(described.get("cause") or ""))
        self._outcome(execution, output)
        self.trace.executions.append(execution)

    def _outcome(self, execution: Execution, output: Any) -> None:
        if execution.status == "SUCCEEDED":
            device = output.get("Device") if isinstance(output, dict) else None
            if execution.kind == "JITR":
                execution.outcome = (f"registered ({device.get('Verdict')})" if isinstance(device, dict) else
                                     "duplicate event: registration already in progress")
            else:
                execution.outcome = "SUCCEEDED"
            return
        if execution.status not in ENDED_BADLY:
            execution.outcome = execution.status
            return
        state, task_error, error, cause = self._failure(execution.arn)
        execution.failed_state = state
        execution.error = execution.error or error
        execution.cause = execution.cause or cause
        where = f" at {state!r}" if state else ""
        underlying = f" ({task_error})" if task_error and task_error != execution.error else ""
        execution.outcome = f"{execution.status}{where}: {execution.error or 'no error recorded'}{underlying}"

    def _failure(self, arn: str) -> tuple[str, str, str, str]:
        """(the state that failed, its own error, the execution's error, the execution's cause): GetExecutionHistory,
        every page. The failing state is the last task whose error or cause is the execution's (a Catch may end in a
        Fail state that names another error, e.g. the inspector's ``ThingNameClaimedByAnotherCertificate`` ends as
        ``ImpostorCertificateRejected``), else the last task that failed, else the last state entered."""
        events: list[dict[str, Any]] = []
        try:
            for page in self.sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
                events.extend(page.get("events", []))
        except Exception as error:  # noqa: BLE001 - the outcome is still reported, without its state
            return "", "", error_code(error) or type(error).__name__, ""
        current, error, cause = "", "", ""
        failures: list[tuple[str, str, str]] = []  # (state, error, cause) of every failed task, in order
        for event in events:
            kind = str(event.get("type", ""))
            details = next((v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)), {})
            if kind.endswith("StateEntered"):
                current = str(details.get("name", ""))
            elif kind.endswith("Failed") or kind.endswith("TimedOut"):
                if kind.startswith("Execution"):
                    error, cause = str(details.get("error", "")), str(details.get("cause", ""))
                else:
                    failures.append((current, str(details.get("error", "")), str(details.get("cause", ""))))
            elif kind == "ExecutionAborted":
                error = error or "ABORTED"
        matching = [f for f in failures if (error and f[1] == error) or (cause and f[2] == cause)]
        state, task_error = (matching[-1][:2] if matching else failures[-1][:2] if failures else (current, ""))
        return state, task_error, error, cause

    # lease, dead letters, telemetry
    def read_leases(self, now: dt.datetime) -> None:
        table = self.where.names.registration_lease_table
        dynamodb = self.where.client("dynamodb")
        for certificate in self.trace.certificates:
            if certificate.status != "PENDING_ACTIVATION":
                continue
            try:
                found = dynamodb.get_item(TableName=table, Key={LEASE_KEY: {"S": certificate.certificate_id}},
                                          ConsistentRead=True).get("Item")
            except Exception as error:
                if error_code(error) == "ResourceNotFoundException":
                    return  # an inspector configured without a lease table
                raise
            if not found:
                continue
            expires = parse_time(found.get(LEASE_EXPIRES, {}).get("N"))
            self.trace.leases.append(Lease(certificate.certificate_id, found.get(LEASE_OWNER, {}).get("S", ""),
                                           when(expires), bool(expires and expires > now)))

    def read_dead_letters(self) -> None:
        for message in peek_dead_letters(self.where):
            letter = classify(message)
            if letter.kind == Kind.PIPE_BATCH_FAILURE:
                self.trace.unattributed_dead_letters += 1
                continue
            if letter.input.get(inv.THING_NAME) != self.thing:
                continue
            sent = when((message.get("Attributes") or {}).get("SentTimestamp"))
            self.trace.dead_letters.append(DeadLetterSeen(letter.message_id, letter.kind.value, sent,
                                                          letter.state_machine_arn.rsplit(":", 1)[-1], letter.detail))

    def read_telemetry(self) -> None:
        table = self.where.names.data_table
        arguments: dict[str, Any] = {
            "TableName": table, "KeyConditionExpression": "PK = :thing", "ScanIndexForward": False, "Limit": 50,
            "ExpressionAttributeValues": {":thing": {"S": self.thing}}}
        dynamodb = self.where.client("dynamodb")
        for _ in range(4):  # the newest 200 messages at most
            try:
                page = dynamodb.query(**arguments)
            except Exception as error:
                if error_code(error) == "ResourceNotFoundException":
                    return
                raise
            for item in page.get("Items", []):
                if item.get("Region", {}).get("S", self.where.region) == self.where.region:
                    received = item.get("ReceivedAt", {}).get("N") or item.get("SK", {}).get("S", "").split("#")[0]
                    message = item.get("Message") or {}
                    text = next(iter(message.values()), "") if isinstance(message, dict) and message else ""
                    self.trace.telemetry = Telemetry(when(received), str(text)[:120])
                    return
            if "LastEvaluatedKey" not in page:
                return
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def peek_dead_letters(where: Scope, *, limit: int = MAX_DEAD_LETTERS) -> list[dict[str, Any]]:
    """Every message of the region's replication dead-letter queue, without consuming any: each is received with a
    visibility timeout of :data:`PEEK_VISIBILITY_SECONDS` and made visible again at the end (never deleted)."""
    sqs = where.client("sqs")
    name = where.names.replication_dead_letter_queue
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except Exception as error:
        if "NonExistentQueue" in error_code(error) or "QueueDoesNotExist" in error_code(error):
            return []
        raise
    seen: dict[str, dict[str, Any]] = {}
    try:
        while len(seen) < limit:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                           VisibilityTimeout=PEEK_VISIBILITY_SECONDS, AttributeNames=["All"],
                                           MessageAttributeNames=["All"]).get("Messages", [])
            fresh = [m for m in messages if m.get("MessageId") not in seen]
            if not fresh:
                break
            for message in fresh:
                seen[message["MessageId"]] = message
    finally:
        for message in seen.values():
            try:
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
            except Exception:  # noqa: BLE001 - it becomes visible again after PEEK_VISIBILITY_SECONDS anyway
                pass
    return list(seen.values())


# ---- the verdict -----------------------------------------------------------------------------------------------
def _execution_named(trace: RegionTrace, arn: str) -> Execution | None:
    return next((e for e in trace.executions if e.arn == arn), None)


def _is_ours(execution: Execution, certificate_id: str) -> bool:
    return execution.kind != "JITR" or execution.certificate_id == certificate_id


def decide(trace: RegionTrace, *, others: Mapping[str, dict[str, Any] | None], device_policy: str, application: str,
           profile: str | None = None) -> None:
    """Set ``trace``'s drift, verdict, command, agrees and attention from what was read (pure)."""
    region, item = trace.region, trace.item
    command = lambda *arguments: ops_command(*arguments, application=application, profile=profile)
    running = [e for e in trace.executions if e.status == "RUNNING" and e.kind != "JITR"]
    letters = trace.dead_letters
    thing = trace.thing

    def certificate_snapshot(certificate_id: str) -> CertificateSnapshot:
        found = trace.certificate(certificate_id)
        if found is None or not found.exists:
            return CertificateSnapshot(certificate_id, exists=False)
        return CertificateSnapshot(certificate_id, True, found.status,
                                   policies=(device_policy,) if found.device_policy else ())

    def dead_lettered() -> str:
        letter = letters[-1]
        failed = [e for e in trace.executions if e.status in ENDED_BADLY and e.kind != "JITR"]
        what = (f"{failed[-1].kind} execution {failed[-1].name} {failed[-1].outcome}" if failed
                else f"{letter.kind} for {letter.machine or 'a machine'}")
        count = f"{len(letters)} messages wait" if len(letters) > 1 else f"message {letter.message_id} waits"
        return f"dead-lettered: {what}; {count} in {region}'s dead-letter queue (sent {letter.sent})"

    verdict, fix, agrees, attention = "", "", True, False
    if item is None:
        elsewhere = {r: i for r, i in others.items() if i}
        pending = [c for c in trace.certificates if c.status == "PENDING_ACTIVATION"]
        held = [lease for lease in trace.leases if lease.held]
        rejected = [e for e in trace.executions if e.kind == "JITR" and e.status in ENDED_BADLY
                    and e.error in REJECTED_ERRORS]
        agrees = not thing.get("exists") and not any(c.status == "ACTIVE" for c in trace.certificates)
        attention = True
        if elsewhere:
            source, other = next(iter(elsewhere.items()))
            verdict = (f"not replicated yet: the inventory item ({other.get(inv.STATUS)}, written "
                       f"{when(other.get(inv.REGISTERED_AT))} by {other.get(inv.ORIGIN_REGION)}, seen in {source}) "
                       f"has not reached {region}'s replica (global table replication, usually about a second)")
            agrees = False
        elif held:
            owner = _execution_named(trace, held[0].owner)
            by = f"{held[0].owner.rsplit(':', 1)[-1]}" + (f" ({owner.outcome})" if owner else "")
            certificate = trace.certificate(held[0].certificate_id)
            verdict = (f"PENDING_ACTIVATION since {certificate.created if certificate else '?'}: registration lease "
                       f"held by execution {by} until {held[0].expires}; no inventory item yet: the device's next "
                       f"connection after {held[0].expires} registers it")
        elif pending:
            verdict = (f"PENDING_ACTIVATION since {pending[0].created}: not in the inventory yet; the device's next "
                       "connection runs JITR again")
        elif rejected:
            last = rejected[-1]
            verdict = (f"refused: certificate {short(last.certificate_id)} REVOKED by JITR at {last.stopped}: "
                       f"{last.error}")
        elif thing.get("exists"):
            verdict = "a thing without an inventory item: not a device of ours, or its item was deleted by hand"
        else:
            verdict, attention = f"unknown in {region}: no item, thing, certificate or execution names it", False
    else:
        certificate_id = item.get(inv.CERTIFICATE_ID, "")
        snapshot = ThingSnapshot(item.get(inv.THING_NAME, ""), bool(thing.get("exists")),
                                 thing.get("attributes") or {}, tuple(thing.get("principals") or ()))
        drifts = item_drift(item, snapshot, certificate_snapshot(certificate_id), device_policy)
        trace.drift = [str(d) for d in drifts]
        certificate = trace.certificate(certificate_id)
        mine = [e for e in running if _is_ours(e, certificate_id)]
        if item.get(inv.STATUS) == inv.REVOKED:
            if not drifts:
                done = [e for e in trace.executions if e.status == "SUCCEEDED" and e.kind != "JITR"
                        and e.machine.endswith("decommission-device")]
                at = done[-1].stopped if done else (certificate.modified if certificate else "")
                if certificate is not None and certificate.exists:
                    verdict = f"refused: certificate {short(certificate_id)} REVOKED by decommission at {at or '?'}"
                else:
                    verdict = f"decommissioned: certificate {short(certificate_id)} was never registered here, no thing"
            else:
                agrees, attention = False, True
                if mine:
                    verdict = f"decommission running since {mine[-1].started} (execution {mine[-1].name})"
                elif letters:
                    verdict, fix = dead_lettered(), command("redrive", region)
                else:
                    verdict = f"decommissioned in the inventory but not here: {'; '.join(trace.drift)}"
                    fix = command("reconcile", region, "--repair")
        elif not drifts:
            verdict = "ACTIVE, connects"
        else:
            agrees, attention = False, True
            absent = not thing.get("exists") and (certificate is None or not certificate.exists)
            failed = [e for e in trace.executions if e.status in ENDED_BADLY and e.kind != "JITR"]
            if mine:
                verdict = (f"not replicated yet: {mine[-1].kind} execution {mine[-1].name} running since "
                           f"{mine[-1].started} ({'; '.join(trace.drift)})")
            elif letters:
                verdict, fix = dead_lettered(), command("redrive", region)
            elif certificate is not None and certificate.status == "PENDING_ACTIVATION":
                held = next((lease for lease in trace.leases if lease.certificate_id == certificate_id and lease.held),
                            None)
                owner = _execution_named(trace, held.owner) if held else None
                if held and owner is not None and owner.status == "RUNNING":  # onboarding now: nothing to fix
                    verdict = (f"PENDING_ACTIVATION since {certificate.created}: JITR execution {owner.name} is "
                               f"registering it (running since {owner.started})")
                elif held:
                    by = held.owner.rsplit(":", 1)[-1] + (f" ({owner.outcome})" if owner else "")
                    verdict = (f"PENDING_ACTIVATION since {certificate.created}: registration lease held by execution "
                               f"{by} until {held.expires}")
                    fix = command("reconcile", region, "--repair")
                else:
                    jitr = [e for e in trace.executions if e.kind == "JITR" and e.certificate_id == certificate_id]
                    last = f" (last JITR: {jitr[-1].name} {jitr[-1].outcome})" if jitr else ""
                    verdict = f"PENDING_ACTIVATION since {certificate.created}{last}"
                    fix = command("reconcile", region, "--repair")
            elif certificate is not None and certificate.status == "REVOKED":
                verdict = (f"refused: certificate {short(certificate_id)} REVOKED at {certificate.modified} under an "
                           "ACTIVE item: revocation is final, the device needs a new certificate (rotation: set "
                           "PendingCertificateId, docs/design.md)")
            elif absent and failed:
                verdict = f"not replicated: {failed[-1].kind} execution {failed[-1].name} {failed[-1].outcome}"
                fix = command("reconcile", region, "--repair")
            elif absent:
                origin = item.get(inv.ORIGIN_REGION, "")
                verdict = (f"not replicated yet: no replication of it ever ran in {region} (onboarded in {origin} at "
                           f"{when(item.get(inv.REGISTERED_AT))}: the event never reached {region}'s machine, or the "
                           "region was added later)")
                fix = command("backfill", region)
            else:
                verdict = f"drift: {'; '.join(trace.drift)}"
                fix = command("reconcile", region, "--repair")
        if agrees and letters:  # converged, but a dead letter still names it: redrive deletes it (a harmless replay)
            verdict += f"; {len(letters)} dead letter(s) naming it still wait in {region}'s queue"
            fix, attention = command("redrive", region), True
        for version_region, other in others.items():
            if other is not None and item_version(other) != trace.version:
                verdict += (f"; the replica in {version_region} holds another version ({other.get(inv.STATUS)}, "
                            f"certificate {short(other.get(inv.CERTIFICATE_ID, ''))}): replication has not caught up")
                attention = True
                break
    recorded = {item.get(k, "") for k in (inv.CERTIFICATE_ID, inv.PENDING_CERTIFICATE_ID,
                                          inv.PREVIOUS_CERTIFICATE_ID)} if item else set()
    for certificate in trace.certificates:
        if certificate.certificate_id in recorded or not certificate.exists:
            continue
        refusal = next((e for e in trace.executions if e.kind == "JITR" and e.error in IMPOSTOR_ERRORS
                        and e.certificate_id == certificate.certificate_id), None)
        if refusal is None or certificate.status == "ACTIVE":
            continue
        verdict += (f"; refused impostor certificate {short(certificate.certificate_id)} ({certificate.status}: "
                    f"quarantined by JITR execution {refusal.name} at {refusal.stopped}, {refusal.error}; a second "
                    "certificate of our CA carries this name: find out how it was issued)")
        attention = True
    trace.verdict, trace.command, trace.agrees, trace.attention = verdict, fix, agrees, attention


# ---- the story -------------------------------------------------------------------------------------------------
def timeline(regions: list[RegionTrace]) -> list[Event]:
    """Every dated fact of every region, oldest first."""
    events: list[Event] = []
    versions: dict[str, list[str]] = {}
    for trace in regions:
        region, item = trace.region, trace.item
        if item is not None:
            versions.setdefault(trace.version, []).append(region)
        for certificate in trace.certificates:
            if certificate.exists:
                events.append(Event(certificate.created, region,
                                    f"certificate {short(certificate.certificate_id)} registered "
                                    f"({', '.join(certificate.roles)})"))
                if certificate.modified and certificate.modified != certificate.created:
                    events.append(Event(certificate.modified, region, f"certificate "
                                        f"{short(certificate.certificate_id)} last changed: now {certificate.status}"))
        for execution in trace.executions:
            subject = f" for certificate {short(execution.certificate_id)}" if execution.kind == "JITR" else ""
            events.append(Event(execution.started, region, f"{execution.kind} execution {execution.name}{subject}: "
                                f"{execution.outcome}" + (f" ({execution.stopped})" if execution.stopped else "")))
        for lease in trace.leases:
            events.append(Event(lease.expires, region, f"registration lease of {short(lease.certificate_id)} by "
                                f"{lease.owner.rsplit(':', 1)[-1]} {'expires' if lease.held else 'expired'}"))
        for letter in trace.dead_letters:
            events.append(Event(letter.sent, region, f"dead letter {letter.message_id} ({letter.kind}"
                                f"{', ' + letter.machine if letter.machine else ''}): {letter.detail}"))
        if trace.telemetry is not None:
            events.append(Event(trace.telemetry.received, region, f"last telemetry: {trace.telemetry.message}"))
    for version, where in versions.items():
        item = next(t.item for t in regions if t.version == version and t.item is not None)
        events.append(Event(when(item.get(inv.REGISTERED_AT)), ", ".join(where),
                            f"inventory item {item.get(inv.STATUS)}, certificate "
                            f"{short(item.get(inv.CERTIFICATE_ID, ''))}"
                            f", origin {item.get(inv.ORIGIN_REGION)}, version {version}"))
    return sorted(events, key=lambda e: (e.at or "9999", e.region))


def trace(source: SessionOrFactory, thing: str, *, regions: Sequence[str] | None = None,
          application: str = DEFAULT_APPLICATION, profile: str | None = None, seeds: Iterable[str | None] = (),
          now: dt.datetime | None = None, max_executions: int = MAX_EXECUTIONS) -> TraceReport:
    """The story of ``thing`` in ``regions`` (default: every region of the application's inventory)."""
    check_thing_name(thing)
    clients = client_factory(source)
    chosen = application_regions(clients, application, regions=regions, seeds=seeds)
    now = now or dt.datetime.now(dt.UTC)
    readers = [_Region(resolve_scope(clients, region, application), thing, now, max_executions) for region in chosen]
    for reader in readers:
        reader.read_item()
        reader.read_thing()
    recorded: dict[str, list[str]] = {}
    for reader in readers:
        item = reader.trace.item or {}
        for role, key in (("current", inv.CERTIFICATE_ID), ("pending", inv.PENDING_CERTIFICATE_ID),
                          ("previous", inv.PREVIOUS_CERTIFICATE_ID)):
            if item.get(key) and role not in recorded.setdefault(item[key], []):
                recorded[item[key]].append(role)
        owner = reader.trace.thing.get("attributes", {}).get(OWNER_ATTRIBUTE)
        if owner and "thing's owner" not in recorded.setdefault(owner, []):
            recorded[owner].append("thing's owner")
    known = set(recorded)
    for reader in readers:
        known |= {certificate_id_of(p) for p in reader.trace.thing.get("principals", [])} - {""}
    for reader in readers:
        seen = reader.read_executions(known)
        reader.read_certificates(recorded, seen)
        reader.read_leases(now)
        reader.read_dead_letters()
        reader.read_telemetry()
    report = TraceReport(thing, application, [reader.trace for reader in readers])
    if not any(r.item or r.thing.get("exists") or r.executions or any(c.exists for c in r.certificates)
               for r in report.regions):
        raise OpsError(f"no region of {application!r} ({', '.join(chosen)}) knows {thing!r}: no inventory item, thing, "
                       "certificate or execution names it; check the name and --application")
    for reader in readers:
        others = {r.region: r.item for r in report.regions if r.region != reader.trace.region}
        decide(reader.trace, others=others, device_policy=reader.where.names.device_policy, application=application,
               profile=profile)
    report.timeline = timeline(report.regions)
    return report


# ---- rendering -------------------------------------------------------------------------------------------------
def render(console: Any, report: TraceReport) -> None:
    from rich.markup import escape
    from rich.table import Table

    console.print(f"[bold]trace {escape(report.thing)}[/bold] in {', '.join(r.region for r in report.regions)}")
    items = Table(title="inventory (each region's replica)", title_justify="left")
    for column in ("region", "status", "certificate", "origin", "version", "registered at"):
        items.add_column(column)
    for r in report.regions:
        if r.item is None:
            items.add_row(r.region, "—", "no item", "", "", "")
        else:
            items.add_row(r.region, r.item.get(inv.STATUS, ""), short(r.item.get(inv.CERTIFICATE_ID, "")),
                          r.item.get(inv.ORIGIN_REGION, ""), r.version, when(r.item.get(inv.REGISTERED_AT)))
    console.print(items)
    registry = Table(title="registry: the thing and its certificates", title_justify="left")
    for column in ("region", "thing", "certificate", "role", "status", "since", "device policy"):
        registry.add_column(column)
    for r in report.regions:
        thing = "exists" if r.thing.get("exists") else "no thing"
        if not r.certificates:
            registry.add_row(r.region, thing, "—", "", "", "", "")
        for c in r.certificates:
            registry.add_row(r.region, thing, short(c.certificate_id), ", ".join(c.roles),
                             c.status if c.exists else "not here", c.modified or c.created,
                             "attached" if c.device_policy else ("no" if c.exists else ""))
    console.print(registry)
    story = Table(title="story, oldest first", title_justify="left")
    for column in ("when", "region", "what"):
        story.add_column(column)
    for event in report.timeline:
        story.add_row(event.at or "?", event.region, escape(event.what))
    console.print(story)
    for r in report.regions:
        for note in r.truncated:
            console.print(f"[yellow]{r.region}: {escape(note)}[/yellow]")
        if r.unattributed_dead_letters:
            console.print(f"[yellow]{r.region}: {r.unattributed_dead_letters} pipe batch failure(s) in the dead-letter "
                          "queue name stream records, not things: they may include this device[/yellow]")
    console.print("[bold]verdict[/bold]")
    for r in report.regions:
        colour = "green" if r.agrees and not r.attention else ("yellow" if r.agrees else "red")
        console.print(f"  {r.region}: [{colour}]{escape(r.verdict)}[/{colour}]")
        if r.command:
            console.print(f"    fix: {escape(r.command)}")
