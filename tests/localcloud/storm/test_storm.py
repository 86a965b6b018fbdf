"""A storm of a few hundred devices at 10x the quota-bound rate, on the deployed program, in simulated time.

Tight test quotas (``tight-quotas.json``): AttachPolicy at 2/s is the bound (every device is attached to the policy in
both regions: 80 devices -> 40 s). The program is deployed with the same quota file, so its pacer spaces throttled
calls at these rates. The tests pin what the simulator guarantees and what the design holds: nothing lost, stuck or
dead-lettered, the drain within 1.1x the quota-bound minimum (throttled calls wait for a slot on their API's queue
instead of retrying at random: docs/design.md, "Onboarding storms"), and one DescribeCertificate per certificate
however often devices reconnect (the registration lease).
"""
from pathlib import Path

import pytest

from localcloud.assumptions import AWS_AS_REPORTED, KINDER
from localcloud.storm.run import StormConfig, run_storm

HERE = Path(__file__).resolve().parent
DEVICES = 80


@pytest.fixture(scope="module", params=[AWS_AS_REPORTED, KINDER],
                ids=["missing-item-is-a-function-error", "missing-item-is-undefined"])
def storm(request, tmp_path_factory):
    bound_rate = 2.0  # AttachPolicy 2/s, one call per device per region
    return run_storm(StormConfig(devices=DEVICES, rate=10 * bound_rate, quotas_file=HERE / "tight-quotas.json", seed=3,
                                 state_dir=tmp_path_factory.mktemp("storm"), assumptions=request.param))


def test_the_bound_is_measured_and_named(storm):
    assert storm.profile.origin["iot:AttachPolicy"] == 1 and storm.profile.replica["iot:AttachPolicy"] == 1
    assert (storm.bound_api, storm.bound_s) == ("iot:AttachPolicy", DEVICES / 2)


def test_throttled_calls_fail_as_aws_fails_them_and_wait_for_a_slot_in_simulated_time(storm):
    assert storm.throttles.get("iot:AttachPolicy", 0) > 0
    assert storm.retries["pacer_slots"] >= storm.throttles["iot:AttachPolicy"]  # every throttled call took a slot
    assert storm.retries["step_functions_retry_waits"] == 0  # no random retries on the paced path
    assert storm.drain_s is None or storm.drain_s >= storm.bound_s  # no device beats the quota
    assert storm.wall_s < storm.details["simulated_end_s"]  # nothing slept for real


def test_a_storm_at_ten_times_the_bound_loses_nothing_and_dead_letters_nothing(storm):
    assert (storm.lost, storm.stuck, storm.dead_letters, storm.executions_failed) == (0, 0, 0, 0)
    assert storm.drain_s is not None and storm.drain_s >= storm.bound_s  # drained, never faster than the quotas allow


def test_the_storm_drains_within_a_tenth_of_the_quota_bound(storm):
    assert storm.drain_s <= 1.1 * storm.bound_s, (storm.drain_s, storm.bound_s)


def test_repeated_registration_events_spend_no_describe_certificate(storm):
    # Devices reconnect while their certificate is PENDING_ACTIVATION and IoT repeats the registration event; the
    # registration lease ends each duplicate execution before the inspector's DescribeCertificate (10 TPS).
    assert storm.reconnects > 0
    described = sum(n for key, n in storm.details["admitted"].items() if key.startswith("iot:DescribeCertificate@"))
    assert described == DEVICES  # once per certificate, in the region it first connected to


def test_every_registration_event_starts_an_execution_and_no_rule_reads_dynamodb(storm):
    # Every reconnection of a pending device repeats the registration event; the rule reads nothing (a lookup's
    # missing item may make it match nothing), so each event starts a JITR execution and duplicates end at the lease.
    events = storm.details["registration_events"]
    assert events > 2 * DEVICES  # devices reconnected while pending
    assert (storm.details["rule_sql_lookups"], storm.details["rule_function_errors"]) == (0, 0)
    assert storm.details["executions"] >= events + DEVICES  # one JITR per event, one replication per device
