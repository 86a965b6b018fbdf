"""Pure parts of ``ops``: the token bucket, execution names, dead-letter classification, drift detection."""

from __future__ import annotations

import json

import pytest

from builders import inventory as inv
from localcloud.services.events.delivery import transform_input
from ops import backfill, reconcile, redrive
from ops.dead_letters import Kind, classify
from ops.drift import CertificateSnapshot, Code, Drift, ThingSnapshot, item_drift, orphan_things
from ops.executions import MAX_NAME, execution_name
from ops.ratelimit import TokenBucket

CERT = "a" * 64
OTHER = "b" * 64
CERT_ARN = f"arn:aws:iot:us-west-2:123456789012:cert/{CERT}"
OTHER_ARN = f"arn:aws:iot:us-west-2:123456789012:cert/{OTHER}"
REPLICATE = "arn:aws:states:us-west-2:123456789012:stateMachine:multi-region-iot-replicate-device"
POLICY = "multi-region-iot-device"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def an_item(status: str = inv.ACTIVE, thing: str = "dev-1", certificate: str = CERT) -> dict:
    return inv.item(thing_name=thing, certificate_id=certificate, certificate_pem="-----BEGIN CERTIFICATE-----\nX\n",
                    ca_certificate_id="c" * 64, origin_region="eu-west-1", registered_at="2025-01-01T00:00:00Z",
                    status=status)


# -- token bucket ----------------------------------------------------------------------------------
def test_the_bucket_spaces_calls_at_its_rate_without_real_sleeping() -> None:
    clock = FakeClock()
    bucket = TokenBucket(5, clock=clock, sleep=clock.sleep)
    started = clock.now
    for _ in range(11):
        bucket.acquire()
    assert clock.now - started == pytest.approx(2.0)  # first token at once, then one per 0.2 s
    assert clock.sleeps == [pytest.approx(0.2)] * 10
    assert bucket.waited == pytest.approx(2.0)


def test_an_idle_bucket_refills_up_to_its_burst_only() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        assert bucket.acquire() == 0.0
    assert bucket.acquire() == pytest.approx(0.5)
    clock.now += 3600  # idle for an hour: still only 3 saved up
    assert [bucket.acquire() for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(0.5)]


def test_time_already_passed_between_calls_counts_toward_the_next_token() -> None:
    clock = FakeClock()
    bucket = TokenBucket(4, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    clock.now += 0.1  # half a token accrued while the caller worked
    assert bucket.acquire() == pytest.approx(0.15)


def test_a_clock_that_does_not_move_still_terminates() -> None:
    sleeps: list[float] = []
    bucket = TokenBucket(10, clock=lambda: 0.0, sleep=sleeps.append)
    for _ in range(3):
        bucket.acquire()
    assert sleeps == [pytest.approx(0.1)] * 2


@pytest.mark.parametrize("rate, burst", [(0, 1), (-1, 1), (1, 0.5)])
def test_the_bucket_refuses_meaningless_settings(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match=r"rate must be a positive number|burst must be at least 1 token"):
        TokenBucket(rate, burst=burst)


# -- execution names ---------------------------------------------------------------------------------
def test_execution_names_are_stable_short_and_made_of_allowed_characters() -> None:
    name = execution_name("backfill", "dev-1", CERT)
    assert name == execution_name("backfill", "dev-1", CERT)
    assert name.startswith("backfill-") and len(name) <= MAX_NAME
    assert all(c.isalnum() or c in "-_" for c in name)
    assert execution_name("backfill", "dev-1", OTHER) != name
    assert execution_name("backfill", "dev-1" + CERT) != execution_name("backfill", "dev-1", CERT)  # parts separated
    long = execution_name("a prefix with spaces / and slashes" * 5, "x")
    assert len(long) <= MAX_NAME and " " not in long and "/" not in long
    with pytest.raises(ValueError, match="needs at least one part"):
        execution_name("backfill")


def test_each_command_derives_its_names_from_what_it_replays() -> None:
    assert backfill.backfill_name("dev-1", CERT) == backfill.backfill_name("dev-1", CERT)
    assert backfill.backfill_name("dev-1", CERT) != backfill.backfill_name("dev-1", OTHER)  # rotated: a new run
    assert redrive.redrive_name("m-1") != redrive.redrive_name("m-2")
    flat = inv.flat_item(an_item())
    missing = [Drift(Code.THING_MISSING, "dev-1")]
    name = reconcile.repair_name(flat, missing)
    assert name == reconcile.repair_name(flat, list(missing))
    assert reconcile.repair_name(flat, [Drift(Code.POLICY_NOT_ATTACHED, POLICY)]) != name  # a new drift, a new run
    assert reconcile.repair_name(flat, missing, retry_tag="2") != name
    assert {n.split("-")[0] for n in (name, backfill.backfill_name("d", CERT), redrive.redrive_name("m"))} == {
        "repair", "backfill", "redrive"}


# -- dead-letter classification ----------------------------------------------------------------------
def _message(body: object, attributes: dict[str, str] | None = None, message_id: str = "m-1") -> dict:
    message = {"MessageId": message_id, "ReceiptHandle": "r-1",
               "Body": body if isinstance(body, str) else json.dumps(body)}
    if attributes:
        message["MessageAttributes"] = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
    return message


def _status_change(machine: str = REPLICATE, payload: object = None) -> dict:
    flat = inv.flat_item(an_item())
    return {"version": "0", "source": "aws.states", "detail-type": "Step Functions Execution Status Change",
            "detail": {"executionArn": machine.replace("stateMachine", "execution") + ":e1", "stateMachineArn": machine,
                       "status": "FAILED", "input": json.dumps(flat if payload is None else payload)}}


def _bus_event(event_name: str = "INSERT") -> dict:
    return {"version": "0", "source": "multi-region-iot.devices", "detail-type": inv.DETAIL_TYPE,
            "detail": {"eventName": event_name, "dynamodb": {"Keys": {"ThingName": {"S": "dev-1"}},
                                                             "NewImage": an_item(),
                                                             "OldImage": an_item(certificate=OTHER)}}}


def test_a_status_change_event_redrives_its_machine_with_its_input() -> None:
    letter = classify(_message(_status_change()))
    assert (letter.kind, letter.state_machine_arn, letter.input) == (
        Kind.EXECUTION_STATUS_CHANGE, REPLICATE, inv.flat_item(an_item()))
    assert letter.redrivable and letter.message_id == "m-1" and letter.receipt_handle == "r-1"


def test_an_undelivered_event_gets_exactly_the_input_its_rule_would_have_given() -> None:
    attributes = {"RULE_ARN": "arn:aws:events:us-west-2:123456789012:rule/multi-region-iot-devices/r",
                  "TARGET_ARN": REPLICATE, "ERROR_CODE": "THROTTLING", "ERROR_MESSAGE": "Rate exceeded"}
    event = _bus_event("MODIFY")
    letter = classify(_message(event, attributes))
    assert (letter.kind, letter.state_machine_arn) == (Kind.UNDELIVERED_EVENT, REPLICATE)
    paths, template = inv.item_input_transformer()
    assert letter.input == transform_input(paths, template, event)  # the emulator's EventBridge semantics
    assert letter.input[inv.EVENT_NAME] == "MODIFY" and "THROTTLING" in letter.detail


def test_a_pipe_batch_failure_is_recognised_but_not_redrivable() -> None:
    body = {"requestContext": {"condition": "RetryAttemptsExhausted"}, "version": "1.0",
            "DDBStreamBatchInfo": {"shardId": "shardId-1", "startSequenceNumber": "100", "endSequenceNumber": "200",
                                   "batchSize": 2, "streamArn": "arn:aws:dynamodb:us-west-2:1:table/t/stream/x"}}
    letter = classify(_message(body))
    assert letter.kind == Kind.PIPE_BATCH_FAILURE and not letter.redrivable
    assert "shardId-1" in letter.detail and "100" in letter.detail


@pytest.mark.parametrize("body, attributes, why", [
    ("not json", None, "not JSON"),
    ([1, 2], None, "not a JSON object"),
    ({"hello": "world"}, None, "neither"),
    (_status_change(payload=[1]), None, "not a JSON object"),
    ({**_status_change(), "detail-type": "Something else"}, None, "not an"),
    ({"source": "aws.states", "detail-type": "Step Functions Execution Status Change", "detail": {"input": "{}"}},
     None, "without detail.stateMachineArn"),
    (_bus_event(), {"TARGET_ARN": "arn:aws:lambda:us-west-2:1:function:f"}, "not a state machine"),
    ({"detail": {"eventName": "INSERT"}}, {"TARGET_ARN": REPLICATE}, "without detail.dynamodb.NewImage"),
])
def test_anything_else_is_unknown_with_a_reason(body: object, attributes: dict | None, why: str) -> None:
    letter = classify(_message(body, attributes))
    assert letter.kind == Kind.UNKNOWN and why in letter.detail and not letter.redrivable


# -- drift ----------------------------------------------------------------------------------------------
HEALTHY_THING = ThingSnapshot("dev-1", True, {"certificateId": CERT}, (CERT_ARN,))
HEALTHY_CERTIFICATE = CertificateSnapshot(CERT, True, "ACTIVE", CERT_ARN, (POLICY,))


def drift(item: dict, thing: ThingSnapshot = HEALTHY_THING,
          certificate: CertificateSnapshot = HEALTHY_CERTIFICATE) -> list[tuple[Code, str]]:
    return [(d.code, d.detail) for d in item_drift(inv.flat_item(item), thing, certificate, POLICY)]


def test_a_converged_active_device_has_no_drift() -> None:
    assert drift(an_item()) == []
    old_thing = ThingSnapshot("dev-1", True, {}, (CERT_ARN,))  # created before things carried certificateId
    assert drift(an_item(), old_thing) == []


def test_active_item_drift_is_named_precisely() -> None:
    assert drift(an_item(), ThingSnapshot("dev-1", False)) == [(Code.THING_MISSING, "dev-1")]
    assert drift(an_item(), certificate=CertificateSnapshot(CERT, False)) == [(Code.CERTIFICATE_MISSING, CERT)]
    assert drift(an_item(), certificate=CertificateSnapshot(CERT, True, "INACTIVE", CERT_ARN, (POLICY,))) == [
        (Code.CERTIFICATE_NOT_ACTIVE, "INACTIVE")]
    assert drift(an_item(), certificate=CertificateSnapshot(CERT, True, "ACTIVE", CERT_ARN, ())) == [
        (Code.POLICY_NOT_ATTACHED, POLICY)]
    assert drift(an_item(), ThingSnapshot("dev-1", True, {"certificateId": CERT}, ())) == [
        (Code.CERTIFICATE_NOT_ATTACHED, CERT)]
    assert drift(an_item(), ThingSnapshot("dev-1", True, {"certificateId": CERT}, (CERT_ARN, OTHER_ARN))) == [
        (Code.OTHER_PRINCIPALS, OTHER_ARN)]
    assert drift(an_item(), ThingSnapshot("dev-1", True, {"certificateId": OTHER}, (CERT_ARN,))) == [
        (Code.ATTRIBUTE_MISMATCH, f"thing says {OTHER}, item says {CERT}")]


def test_a_revoked_certificate_under_an_active_item_is_not_repairable() -> None:
    found = item_drift(inv.flat_item(an_item()), HEALTHY_THING,
                       CertificateSnapshot(CERT, True, "REVOKED", CERT_ARN, (POLICY,)), POLICY)
    assert [(d.code, d.repairable) for d in found] == [(Code.CERTIFICATE_REVOKED, False)]


def test_a_revoked_item_must_leave_no_thing_and_no_active_certificate() -> None:
    revoked = an_item(inv.REVOKED)
    gone = ThingSnapshot("dev-1", False)
    assert drift(revoked, gone, CertificateSnapshot(CERT, True, "REVOKED", CERT_ARN)) == []
    assert drift(revoked, gone, CertificateSnapshot(CERT, False)) == []  # never reached this region
    assert drift(revoked) == [(Code.THING_STILL_EXISTS, "dev-1"), (Code.CERTIFICATE_STILL_ACTIVE, CERT)]
    assert all(d.repairable for d in item_drift(inv.flat_item(revoked), HEALTHY_THING, HEALTHY_CERTIFICATE, POLICY))


def test_an_item_with_an_unknown_status_is_reported_not_repaired() -> None:
    item = an_item()
    item[inv.STATUS] = {"S": "PAUSED"}
    (found,) = item_drift(inv.flat_item(item), HEALTHY_THING, HEALTHY_CERTIFICATE, POLICY)
    assert found.code == Code.UNKNOWN_STATUS and not found.repairable


def test_things_without_an_item_are_orphans() -> None:
    assert orphan_things(["b", "a", "c"], ["c"]) == ["a", "b"]
