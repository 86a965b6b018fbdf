"""The local cloud's speed-ups change when work is done, never what it computes; one switch turns them all off."""

from __future__ import annotations

import gc

import boto3

from localcloud.speedups import process_caches
from localcloud.speedups.gc_tuning import bulk_gc


def test_bulk_gc_freezes_the_deployed_objects_and_restores_the_collector() -> None:
    before = gc.get_threshold()
    deployed = [[i] for i in range(100)]
    assert all(gc.is_tracked(resource) for resource in deployed)
    with bulk_gc(young_threshold=12_345):
        assert gc.get_threshold()[0] == 12_345
        assert gc.get_freeze_count() >= len(deployed)
        scanned = {id(o) for o in gc.get_objects()}
        assert not any(id(resource) in scanned for resource in deployed)  # frozen: never scanned again
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_bulk_gc_restores_the_collector_when_the_run_fails() -> None:
    before = gc.get_threshold()
    try:
        with bulk_gc():
            raise RuntimeError("bench failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_install_and_uninstall_restore_boto3_client() -> None:
    original = boto3.client
    process_caches.install()
    try:
        assert boto3.client is not original
        assert process_caches.installed()
    finally:
        process_caches.uninstall()
    assert boto3.client is original and not process_caches.installed()


def test_a_checkpoint_freezes_what_the_batch_left_alive_and_collects_its_garbage() -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    with bulk_gc() as collector:
        frozen_before = gc.get_freeze_count()
        survivors = [[i] for i in range(1000)]  # lists are tracked by the collector
        Cycle()  # garbage: only the collector can free it
        collector.checkpoint()
        assert gc.get_freeze_count() >= frozen_before + len(survivors)
        assert not any(type(o) is Cycle for o in gc.get_objects())
    assert gc.get_freeze_count() == 0


def test_the_demo_tells_the_same_story_with_every_speed_up_switched_off(tmp_path) -> None:
    from localcloud import demo
    from localcloud.cloud import LocalCloud
    from localcloud.speedups import SPEEDUPS

    def outcome(switched_on: bool) -> tuple:
        with LocalCloud(state_dir=tmp_path / str(switched_on), speedups=switched_on) as cloud:
            assert [speedup.installed() for speedup in SPEEDUPS] == [switched_on] * len(SPEEDUPS)
            cloud.deploy()
            result = demo.run_scenario(cloud)
        return (sorted((d.name, d.role, tuple(sorted(d.worked_in))) for d in result.devices), result.dead_letters)

    assert outcome(False) == outcome(True)
