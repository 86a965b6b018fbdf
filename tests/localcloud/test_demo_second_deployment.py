"""The demo's second deployment (provisioning jitr + fleet, its own local cloud) tells its story with every speed-up
switched off, as the first one does (tests/localcloud/test_speedups.py); the full demo checks it with them on
(tests/localcloud/test_e2e_commands.py). Both check the same facts (tests/localcloud/demo_checks.py)."""

from __future__ import annotations

from pathlib import Path

from localcloud import demo, speedups
from tests.localcloud.demo_checks import check_second_deployment


def test_the_second_deployment_provisions_a_fleet_device_with_every_speed_up_off(tmp_path: Path) -> None:
    steps: list[str] = []
    with demo.provisioning_cloud(tmp_path, speedups=False) as cloud:
        assert not any(speedup.installed() for speedup in speedups.SPEEDUPS)
        demo.deploy_provisioning_cloud(cloud)
        second = demo.run_provisioning_scenario(cloud, steps.append)
    check_second_deployment(second)
    assert len(steps) == 2
