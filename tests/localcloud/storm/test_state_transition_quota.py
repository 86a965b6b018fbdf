"""AWS delays a state transition its account's state-transition bucket has no token for (it does not fail it): in
the storm every state entered waits for its token on the simulated clock. Under a quota far below AWS's, the
transitions bound the onboarding, and the storm drains at the rate of the transitions it spends (duplicate
registration events included) with nothing lost."""
from pathlib import Path

import pytest

from localcloud.storm.bucket import TokenBucket
from localcloud.storm.run import StormConfig, run_storm

HERE = Path(__file__).resolve().parent


def test_reservations_queue_one_token_apart():
    bucket = TokenBucket(burst=2, rate=4)
    assert [bucket.reserve(0.0) for _ in range(5)] == [0.0, 0.0, 0.25, 0.5, 0.75]
    assert bucket.reserve(2.0) == 0.0  # refilled meanwhile: (2.0 - 0.75) s at 4/s covers the debt and more


@pytest.fixture(scope="module")
def storm(tmp_path_factory):
    return run_storm(StormConfig(devices=40, rate=20.0, quotas_file=HERE / "state-transition-quota.json", seed=5,
                                 state_dir=tmp_path_factory.mktemp("storm-transitions")))


def test_transitions_wait_for_the_accounts_state_transition_bucket(storm):
    assert storm.bound_api == "sfn:StateTransition"
    assert storm.throttles.get("sfn:StateTransition", 0) > 0  # delayed, not failed
    assert storm.executions_failed == 0


def test_a_storm_bound_by_state_transitions_drains_at_the_rate_of_the_transitions_it_spends(storm):
    # The calm bound counts a device's own transitions; every duplicate registration event also spends two (its
    # execution ends at the lease), so the drain is the storm's transitions at the bucket's rate, nothing slower.
    assert (storm.lost, storm.stuck, storm.dead_letters) == (0, 0, 0)
    rate_per_region = 20
    spent_s = storm.details["transitions"] / (rate_per_region * len(storm.regions))
    duplicates = storm.details["registration_events"] - storm.devices
    assert duplicates > 0 and spent_s > storm.bound_s
    assert storm.bound_s <= storm.drain_s <= 1.1 * spent_s, (storm.drain_s, storm.bound_s, spent_s)
