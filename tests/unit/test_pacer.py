"""The pacer's queue: throttled calls get slots spaced at the API's rate, whole-second wake-ups hold at most ``rate``
callers, a queue beyond the caller's horizon is refused without taking a slot, and bad requests say what is wrong."""
from __future__ import annotations

import itertools
from collections import Counter
from typing import ClassVar

import boto3
import pytest
from moto import mock_aws

from functions.pacer import handler, pacing

TABLE = "iotmr-api-pacing"
REGION = "eu-west-1"
START = 1_800_000_000.25  # an epoch second plus a quarter


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def dynamodb():
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(TableName=TABLE, KeySchema=[{"AttributeName": "Api", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "Api", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
        yield client


def request(api="iot:AttachPolicy", rate=15, horizon=900):
    return pacing.Request(api, float(rate), float(horizon))


def tat(dynamodb, api="iot:AttachPolicy"):
    item = dynamodb.get_item(TableName=TABLE, Key={"Api": {"S": api}}, ConsistentRead=True).get("Item")
    return None if item is None else float(item["Tat"]["N"])


def test_an_idle_queue_gives_the_next_whole_second(dynamodb):
    slot = pacing.reserve(dynamodb, TABLE, request(), clock=Clock())

    assert slot.at == START
    assert slot.not_before == "2027-01-15T08:00:01Z"  # START is 08:00:00.25 UTC
    assert slot.wait_seconds == pytest.approx(0.75)
    assert tat(dynamodb) == pytest.approx(START + 1 / 15)


def test_a_busy_queue_spaces_slots_at_the_rate_and_wakes_at_most_rate_callers_per_second(dynamodb):
    clock = Clock()
    slots = [pacing.reserve(dynamodb, TABLE, request(rate=10), clock=clock) for _ in range(35)]

    gaps = {round(b.at - a.at, 6) for a, b in itertools.pairwise(slots)}
    assert gaps == {0.1}
    per_second = Counter(slot.not_before for slot in slots)
    assert max(per_second.values()) <= 10
    assert sum(per_second.values()) == 35
    assert all(slot.wait_seconds > 0 for slot in slots)


def test_queues_of_different_apis_are_independent(dynamodb):
    clock = Clock()
    for _ in range(20):
        pacing.reserve(dynamodb, TABLE, request("iot:AttachPolicy", rate=15), clock=clock)
    first_describe = pacing.reserve(dynamodb, TABLE, request("iot:DescribeCertificate", rate=10), clock=clock)

    assert first_describe.at == START


def test_a_queue_that_drained_starts_again_from_now(dynamodb):
    clock = Clock()
    for _ in range(5):
        pacing.reserve(dynamodb, TABLE, request(), clock=clock)
    clock.now += 60

    assert pacing.reserve(dynamodb, TABLE, request(), clock=clock).at == clock.now


def test_a_queue_beyond_the_horizon_is_refused_without_taking_a_slot(dynamodb):
    clock = Clock()
    for _ in range(30):  # 3 seconds of AttachPolicy at 10/s
        pacing.reserve(dynamodb, TABLE, request(rate=10, horizon=900), clock=clock)
    before = tat(dynamodb)

    with pytest.raises(pacing.QueueTooLong, match=r"horizon of 2 s.*higher quota"):
        pacing.reserve(dynamodb, TABLE, request(rate=10, horizon=2), clock=clock)

    assert tat(dynamodb) == before


def test_losing_every_round_to_other_pacers_is_reported_for_a_retry():
    class AlwaysLosing:
        class exceptions:
            class ConditionalCheckFailedException(Exception):
                response: ClassVar[dict] = {}

        def update_item(self, **_):
            raise self.exceptions.ConditionalCheckFailedException()

    with pytest.raises(pacing.PacingContention):
        pacing.reserve(AlwaysLosing(), TABLE, request(), clock=Clock())


@pytest.mark.parametrize("event, problem", [
    ({"Rate": 15, "HorizonSeconds": 900}, "Api must look like"),
    ({"Api": "AttachPolicy", "Rate": 15, "HorizonSeconds": 900}, "Api must look like"),
    ({"Api": "iot:AttachPolicy", "Rate": 0, "HorizonSeconds": 900}, "Rate must be a positive number"),
    ({"Api": "iot:AttachPolicy", "Rate": True, "HorizonSeconds": 900}, "Rate must be a positive number"),
    ({"Api": "iot:AttachPolicy", "Rate": 15, "HorizonSeconds": float("nan")}, "HorizonSeconds must be"),
    ("iot:AttachPolicy", "expected an object"),
])
def test_a_bad_request_names_what_is_wrong(event, problem):
    with pytest.raises(pacing.InvalidPacingRequest, match=problem):
        pacing.Request.parse(event)


def test_the_handler_returns_the_slot_the_state_machine_waits_for(dynamodb, monkeypatch):
    monkeypatch.setenv("PACING_TABLE", TABLE)
    monkeypatch.setenv("AWS_REGION", REGION)

    first = handler.handler({"Api": "iot:AttachPolicy", "Rate": 15, "HorizonSeconds": 900}, None)
    second = handler.handler({"Api": "iot:AttachPolicy", "Rate": 15, "HorizonSeconds": 900}, None)

    assert set(first) == {"Api", "Slot", "NotBefore", "WaitSeconds"}
    assert second["Slot"] == pytest.approx(first["Slot"] + 1 / 15, abs=0.002)
    assert first["NotBefore"].endswith("Z") and len(first["NotBefore"]) == 20
