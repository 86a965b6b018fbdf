"""The account's StartExecution quota applies to the executions AWS starts on its behalf: the JITR rule's action and
EventBridge's deliveries to the replication machine. A refused rule action is a failed action (the registration
event starts nothing; the device's next connection sends it again); a refused delivery is retried by EventBridge.
Under a quota far below AWS's, a storm still converges with nothing lost."""
from pathlib import Path

import pytest

from localcloud.storm.run import StormConfig, run_storm

HERE = Path(__file__).resolve().parent
DEVICES = 30


@pytest.fixture(scope="module")
def storm(tmp_path_factory):
    return run_storm(StormConfig(devices=DEVICES, rate=10.0, quotas_file=HERE / "start-execution-quota.json", seed=5,
                                 state_dir=tmp_path_factory.mktemp("storm-start")))


def test_rule_and_eventbridge_starts_are_throttled_by_the_accounts_start_execution_quota(storm):
    assert storm.throttles.get("sfn:StartExecution", 0) > 0
    assert storm.details["throttled_rule_starts"] > 0  # JITR rule actions refused
    assert storm.details["throttled_deliveries"] > 0  # replication deliveries refused, then retried


def test_a_storm_under_a_tight_start_execution_quota_loses_nothing(storm):
    assert (storm.lost, storm.stuck, storm.dead_letters, storm.executions_failed) == (0, 0, 0, 0)
    assert storm.drain_s is not None and storm.drain_s >= storm.bound_s
