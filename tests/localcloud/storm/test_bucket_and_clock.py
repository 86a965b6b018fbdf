"""Token bucket and simulated clock: pure units (no moto)."""
import time

import pytest

from localcloud.storm.bucket import TokenBucket
from localcloud.storm.clock import NotInSimulatedTask, SimClock


def test_a_full_bucket_admits_its_burst_then_throttles():
    bucket = TokenBucket(burst=3, rate=1)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]


def test_a_bucket_refills_at_its_rate_and_never_above_its_burst():
    bucket = TokenBucket(burst=2, rate=4)
    bucket.take(0.0)
    bucket.take(0.0)
    assert not bucket.take(0.1)  # 0.4 token
    assert bucket.take(0.25)  # 1.0 token
    assert bucket.available(100.0) == 2.0


def test_wait_for_token_says_when_the_next_call_would_pass():
    bucket = TokenBucket(burst=1, rate=10)
    bucket.take(0.0)
    assert bucket.wait_for_token(0.0) == pytest.approx(0.1)


@pytest.mark.parametrize("burst, rate", [(0, 1), (1, 0), (5, -1)])
def test_a_bucket_refuses_nonsense_sizes(burst, rate):
    with pytest.raises(ValueError, match="a token bucket needs burst >= 1 and rate > 0"):
        TokenBucket(burst=burst, rate=rate)


def test_tasks_sleep_in_simulated_time_interleaved_and_nothing_sleeps_for_real():
    clock = SimClock()
    log = []

    def worker(name, naps):
        def run():
            for nap in naps:
                clock.sleep(nap)
                log.append((clock.now(), name))
            return name
        return run

    a = clock.spawn(worker("a", [10, 10]), name="a")
    b = clock.spawn(worker("b", [5, 20]), name="b")
    started = time.perf_counter()
    clock.run()
    assert time.perf_counter() - started < 1.0
    assert log == [(5, "b"), (10, "a"), (20, "a"), (25, "b")]
    assert (a.result, b.result, a.slept, clock.running) == ("a", "b", 20, 0)


def test_a_task_can_start_later_and_a_failing_task_is_recorded_not_raised():
    clock = SimClock()

    def boom():
        clock.sleep(1)
        raise KeyError("x")

    task = clock.spawn(boom, delay=2)
    clock.run()
    assert task.done and isinstance(task.error, KeyError) and clock.tasks_failed == [task]
    assert clock.now() == 3


def test_sleeping_outside_a_simulated_task_is_refused():
    with pytest.raises(NotInSimulatedTask):
        SimClock().sleep(1)


def test_every_runs_a_periodic_step_until_told_to_stop():
    clock = SimClock()
    ticks = []
    clock.every(0.5, lambda: ticks.append(clock.now()), until=lambda: len(ticks) >= 3)
    clock.run(until=10)
    assert ticks == [0, 0.5, 1.0]


def test_a_wait_states_timestamp_is_read_to_the_fraction_of_a_second():
    from localcloud.storm.simulated import _timestamp_epoch

    assert _timestamp_epoch("2027-01-15T08:00:01Z") == 1_800_000_001.0
    assert _timestamp_epoch("2027-01-15T08:00:01.250Z") == pytest.approx(1_800_000_001.25)


def test_inside_the_simulation_the_lambdas_wall_clock_is_the_simulated_one():
    import functions.pacer.pacing as pacing
    from localcloud.storm.simulated import simulated_time

    clock = SimClock()
    seen = []
    clock.spawn(lambda: (clock.sleep(12.5), seen.append(pacing.time.time())))
    with simulated_time(clock):
        clock.run()
    assert seen == [clock.epoch + 12.5]
    assert pacing.time is __import__("time")  # put back afterwards


def test_inside_the_simulation_the_rules_engines_timestamp_is_the_simulated_wall_clock():
    from localcloud.services.iot.core import IotCore
    from localcloud.storm.simulated import simulated_time

    clock, iot = SimClock(), IotCore()
    real = iot.clock_ms
    seen = []
    clock.spawn(lambda: (clock.sleep(3.25), seen.append(iot.clock_ms())))
    with simulated_time(clock, iot):
        clock.run()
    assert seen == [int((clock.epoch + 3.25) * 1000)]
    assert iot.clock_ms is real  # put back afterwards
