"""What a message in the replication dead-letter queue is, and what would redo its work (pure).

Three producers write to ``<application>-replication-dlq`` (docs/design.md, "Dead letters"):

- the default-bus rule ``<application>-failed-executions``: Step Functions' "Execution Status
  Change" event (``source`` ``aws.states``) of a replicate/decommission execution that FAILED,
  TIMED_OUT or ABORTED; ``detail.stateMachineArn`` and ``detail.input`` (the flat item) redo it;
- a device-bus rule target that gave up: the undelivered EventBridge event as the body, with the
  ``RULE_ARN``, ``TARGET_ARN``, ``ERROR_CODE`` and ``ERROR_MESSAGE`` message attributes; the machine
  is ``TARGET_ARN`` and its input is what the rule's input transformer
  (``builders.inventory.item_input_transformer``) makes of the event: the flat item of
  ``detail.dynamodb.NewImage`` plus ``EventName`` = ``detail.eventName``;
- the pipe: a description of a failed stream batch (shard and sequence numbers, no records).

Redrive starts the machine directly rather than re-putting the event on the bus: a start under a
name derived from the SQS message id is idempotent (a crash between start and delete cannot start
twice), whereas ``PutEvents`` has no deduplication, would fan the event out to every matching rule
again, and would need the operator to publish as the pipe's ``<application>.devices`` source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeGuard

from builders import inventory as inv
from contract.events import EXECUTION_STATUS_DETAIL_TYPE, EXECUTION_STATUS_SOURCE


class Kind(str, Enum):
    EXECUTION_STATUS_CHANGE = "execution status change"
    UNDELIVERED_EVENT = "undelivered event"
    PIPE_BATCH_FAILURE = "pipe batch failure"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class DeadLetter:
    """One classified message: for redrivable kinds, the machine to start and its input."""

    message_id: str
    receipt_handle: str
    kind: Kind
    state_machine_arn: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    detail: str = ""  # why it is unknown, or what the batch failure names

    @property
    def redrivable(self) -> bool:
        return self.kind in (Kind.EXECUTION_STATUS_CHANGE, Kind.UNDELIVERED_EVENT)


def _attribute(message: dict[str, Any], name: str) -> str:
    value = (message.get("MessageAttributes") or {}).get(name) or {}
    return str(value.get("StringValue", ""))


def _is_state_machine_arn(arn: Any) -> TypeGuard[str]:
    return isinstance(arn, str) and arn.startswith("arn:") and ":states:" in arn and ":stateMachine:" in arn


def _batch_info(body: dict[str, Any]) -> dict[str, Any] | None:
    """The stream batch a pipe (or Lambda-style) failure record describes, if ``body`` is one."""
    for key, value in body.items():
        if key.endswith("BatchInfo") and isinstance(value, dict):
            return value
    if "shardId" in body and ("startSequenceNumber" in body or "endSequenceNumber" in body):
        return body
    return None


def _path(document: Any, path: str) -> Any:
    """A ``$.a.b.c`` JSONPath (the only shape the item transformer uses); None when any step is missing."""
    value = document
    for step in path.removeprefix("$.").split("."):
        if not isinstance(value, dict) or step not in value:
            return None
        value = value[step]
    return value


def transformed_input(event: dict[str, Any]) -> dict[str, Any]:
    """What the bus rule's ``builders.inventory.item_input_transformer()`` gives its machine for ``event``.

    The template is ``{"<name>": <name>, ...}`` with unquoted placeholders, so each value is inserted as
    JSON (a missing path as ``null``): the result is the input paths, each resolved against the event.
    Computed from the builder itself, so redrive follows the machines' input contract as it evolves.
    """
    paths, _template = inv.item_input_transformer()
    return {name: _path(event, path) for name, path in paths.items()}


def classify(message: dict[str, Any]) -> DeadLetter:
    """Classify one SQS message as ``ReceiveMessage`` returns it (with ``MessageAttributes``)."""
    message_id = str(message.get("MessageId", ""))
    receipt = str(message.get("ReceiptHandle", ""))

    def unknown(why: str) -> DeadLetter:
        return DeadLetter(message_id, receipt, Kind.UNKNOWN, detail=why)

    try:
        body = json.loads(message.get("Body") or "")
    except (TypeError, ValueError):
        return unknown("the body is not JSON")
    if not isinstance(body, dict):
        return unknown("the body is not a JSON object")
    target_arn = _attribute(message, "TARGET_ARN")
    detail = body.get("detail")

    if target_arn:  # a rule target gave up: the event itself
        if not _is_state_machine_arn(target_arn):
            return unknown(f"TARGET_ARN {target_arn!r} is not a state machine")
        image = (detail or {}).get("dynamodb", {}).get("NewImage") if isinstance(detail, dict) else None
        event_name = detail.get("eventName") if isinstance(detail, dict) else None
        if not isinstance(image, dict) or not (image.get(inv.THING_NAME) or {}).get("S") or not isinstance(event_name, str):
            return unknown("an undelivered event without detail.dynamodb.NewImage.ThingName or detail.eventName")
        return DeadLetter(message_id, receipt, Kind.UNDELIVERED_EVENT, target_arn, transformed_input(body),
                          detail=f"{_attribute(message, 'ERROR_CODE')}: {_attribute(message, 'ERROR_MESSAGE')}")

    if body.get("source") == EXECUTION_STATUS_SOURCE:
        if body.get("detail-type") != EXECUTION_STATUS_DETAIL_TYPE or not isinstance(detail, dict):
            return unknown(f"an {EXECUTION_STATUS_SOURCE} event that is not an {EXECUTION_STATUS_DETAIL_TYPE!r}")
        machine = detail.get("stateMachineArn")
        if not _is_state_machine_arn(machine):
            return unknown("an execution status change without detail.stateMachineArn")
        try:
            payload = json.loads(detail.get("input") or "")
        except (TypeError, ValueError):
            return unknown("an execution status change whose detail.input is not JSON")
        if not isinstance(payload, dict):
            return unknown("an execution status change whose detail.input is not a JSON object")
        return DeadLetter(message_id, receipt, Kind.EXECUTION_STATUS_CHANGE, machine, payload,
                          detail=f"{detail.get('status', '')} {detail.get('executionArn', '')}".strip())

    batch = _batch_info(body)
    if batch is not None:
        where = ", ".join(f"{key} {batch[key]}" for key in ("shardId", "startSequenceNumber", "endSequenceNumber",
                                                            "batchSize") if key in batch)
        return DeadLetter(message_id, receipt, Kind.PIPE_BATCH_FAILURE, detail=where or "a failed stream batch")
    return unknown("neither a Step Functions status change, an undelivered rule event nor a pipe batch failure")
