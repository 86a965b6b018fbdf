"""``redrive REGION``: empty the region's replication dead-letter queue back into its state machines.

Each message is classified (``ops.dead_letters``). A redrivable one starts the machine it names,
which must be this region's replicate or decommission machine, under the execution name
``redrive-<sha256(SQS message id)>``, and is deleted only once that start succeeded or the name was
already taken (a run that crashed after starting and before deleting). Running it twice therefore
never starts a message's work twice. Replaying an old message is safe: the machines re-read the
inventory item and converge the thing to its current state.

A pipe batch-failure message names a stream batch, not items, so it cannot be redriven item by item:
it stays in the queue (keeping the alarm on as a reminder) and the report tells the operator to run
``backfill REGION`` or ``reconcile REGION --repair``; ``--discard-batch-failures`` deletes such
messages once that is done. Unknown messages, and messages whose start failed, stay in the queue and
are made visible again at the end of the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ops import executions
from ops.clients import DEFAULT_APPLICATION, Scope, SessionOrFactory, error_code, scope as resolve_scope
from ops.dead_letters import DeadLetter, Kind, classify
from ops.executions import Outcome
from ops.errors import OpsError
from ops.ratelimit import DEFAULT_RATE, TokenBucket

PREFIX = "redrive"


def redrive_name(message_id: str) -> str:
    """The execution name for one dead-letter message (stable across runs)."""
    return executions.execution_name(PREFIX, message_id)


@dataclass
class RedriveRow:
    message_id: str
    kind: str
    action: str  # started | already done | left | failed | discarded
    state_machine: str = ""
    execution_name: str = ""
    detail: str = ""
    deleted: bool = False


@dataclass
class RedriveReport:
    region: str
    queue_url: str
    rows: list[RedriveRow] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for row in self.rows if row.action == action)

    @property
    def counts(self) -> dict[str, int]:
        return {name: self.count(name) for name in ("started", "already done", "discarded", "left", "failed")}

    @property
    def batch_failures(self) -> int:
        return sum(1 for row in self.rows if row.kind == Kind.PIPE_BATCH_FAILURE.value)

    @property
    def advice(self) -> list[str]:
        notes = []
        if any(row.kind == Kind.PIPE_BATCH_FAILURE.value and not row.deleted for row in self.rows):
            notes.append(f"pipe batch failures cannot be redriven item by item: run `python -m ops backfill "
                         f"{self.region}` or `python -m ops reconcile {self.region} --repair`, then "
                         f"`python -m ops redrive {self.region} --discard-batch-failures` to delete them")
        if self.count("failed"):
            notes.append("some starts failed (see detail); their messages stay in the queue: fix the cause and run again")
        if any(row.kind == Kind.UNKNOWN.value for row in self.rows):
            notes.append("unknown messages were left in the queue: inspect them with `aws sqs receive-message`")
        return notes

    @property
    def ok(self) -> bool:
        return all(row.deleted for row in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {"command": "redrive", "region": self.region, "queueUrl": self.queue_url, "counts": self.counts,
                "advice": self.advice, "messages": [row.__dict__ for row in self.rows]}


def queue_url(where: Scope) -> str:
    name = where.names.replication_dead_letter_queue
    try:
        return str(where.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])
    except Exception as error:
        if "NonExistentQueue" in error_code(error) or "QueueDoesNotExist" in error_code(error):
            raise OpsError(f"the dead-letter queue {name!r} does not exist in {where.region}: is the stack deployed "
                           f"there, and is --application {where.names.application!r} right?") from None
        raise


def _machine_name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def _handle(letter: DeadLetter, where: Scope, sfn: Any, bucket: TokenBucket, discard_batch_failures: bool) -> RedriveRow:
    row = RedriveRow(letter.message_id, letter.kind.value, "left", detail=letter.detail)
    if letter.kind == Kind.PIPE_BATCH_FAILURE:
        if discard_batch_failures:
            row.action = "discarded"
        return row
    if not letter.redrivable:
        return row
    row.state_machine = _machine_name(letter.state_machine_arn)
    if letter.state_machine_arn not in (where.replicate_arn, where.decommission_arn):
        row.kind = Kind.UNKNOWN.value
        row.detail = (f"names {letter.state_machine_arn}, not {where.region}'s replicate or decommission machine "
                      f"of {where.names.application!r}")
        return row
    started = executions.start(sfn, letter.state_machine_arn, redrive_name(letter.message_id), letter.input, bucket)
    row.execution_name = started.name
    row.action = started.outcome.value
    if started.outcome == Outcome.FAILED:
        row.detail = started.error
    return row


def redrive(source: SessionOrFactory, region: str, *, application: str = DEFAULT_APPLICATION,
            rate: float = DEFAULT_RATE, bucket: TokenBucket | None = None, discard_batch_failures: bool = False,
            wait_seconds: int = 1, visibility_timeout: int = 300) -> RedriveReport:
    """Drain ``region``'s dead-letter queue once (see the module docstring); messages left are made visible again."""
    where = resolve_scope(source, region, application)
    bucket = bucket or TokenBucket(rate)
    sqs, sfn = where.client("sqs"), where.client("stepfunctions")
    url = queue_url(where)
    report = RedriveReport(region, url)
    seen: set[str] = set()
    left: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds,
                                       VisibilityTimeout=visibility_timeout, MessageAttributeNames=["All"],
                                       AttributeNames=["All"]).get("Messages", [])
        fresh = [m for m in messages if m.get("MessageId") not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            letter = classify(message)
            row = _handle(letter, where, sfn, bucket, discard_batch_failures)
            if row.action in ("started", "already done", "discarded"):
                sqs.delete_message(QueueUrl=url, ReceiptHandle=letter.receipt_handle)
                row.deleted = True
            else:
                left.append(letter.receipt_handle)
            report.rows.append(row)
    for receipt in left:  # visible again for the next run or the operator's inspection
        try:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0)
        except Exception:  # noqa: BLE001 - the message reappears after its visibility timeout anyway
            pass
    return report
