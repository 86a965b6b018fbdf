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

from localcloud.storm.run import StormConfig, run_storm

HERE = Path(__file__).resolve().parent
DEVICES = 80


@pytest.fixture(scope="module")
def storm(tmp_path_factory):
    bound_rate = 2.0  # AttachPolicy 2/s, one call per device per region
    return run_storm(StormConfig(devices=DEVICES, rate=10 * bound_rate, quotas_file=HERE / "tight-quotas.json", seed=3,
                                 state_dir=tmp_path_factory.mktemp("storm")))


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


def test_the_jitr_rule_starts_no_execution_for_a_certificate_whose_lease_is_held(storm):
    # Every reconnection of a pending device repeats the registration event; the rule reads the lease (one
    # get_dynamodb per event) and starts an execution only when none is held, so executions stay near one JITR and
    # one replication per device instead of one per event.
    events, lookups = storm.details["registration_events"], storm.details["rule_lease_lookups"]
    assert events > 2 * DEVICES and lookups == events
    assert storm.details["executions"] < 2 * DEVICES + (events - DEVICES) // 4, (storm.details["executions"], events)
