"""A region added after devices were onboarded: its pipe starts at LATEST, so only `python -m ops backfill` brings
the existing fleet there; afterwards every device connects there on its first try."""
from __future__ import annotations

import boto3

from components.naming import Names
from localcloud import observe
from ops import backfill
from ops.ratelimit import Unlimited

from convergence import assert_converged, refused_once, snapshot

EU, NEW_REGION = "eu-west-1", "us-west-2"
FLEET = 100
PIPE = Names("multi-region-iot").pipe


def recreate_pipe(region: str) -> None:
    """The new region's pipe as `pulumi up` creates it: starting at LATEST, after the fleet was onboarded."""
    pipes = boto3.client("pipes", region_name=region)
    described = pipes.describe_pipe(Name=PIPE)
    pipes.delete_pipe(Name=PIPE)
    pipes.create_pipe(Name=PIPE, RoleArn=described["RoleArn"], Source=described["Source"], Target=described["Target"],
                      SourceParameters=described["SourceParameters"], TargetParameters=described["TargetParameters"])


def test_a_region_added_after_100_devices_is_backfilled_and_every_device_connects_there_first_try(cloud):
    ca = cloud.load_ca()
    boto3.client("pipes", region_name=NEW_REGION).stop_pipe(Name=PIPE)  # the region has no stack yet
    devices = [ca.issue_device(f"fleet-{n:03d}") for n in range(FLEET)]
    for device in devices:
        refused_once(cloud, EU, device.certificate_pem, device.name)
    cloud.settle()
    for device in devices:
        cloud.connect(EU, device.certificate_pem, device.name, attempts=1)
    recreate_pipe(NEW_REGION)
    cloud.settle()
    known_there = observe.certificates(NEW_REGION)
    assert not any(device.certificate_id in known_there for device in devices)  # only the table replica has them

    first = backfill.backfill(None, NEW_REGION, bucket=Unlimited())
    again = backfill.backfill(None, NEW_REGION, bucket=Unlimited())  # idempotent: same execution names
    cloud.settle()

    assert first.counts == {"started": FLEET, "already done": 0, "skipped": 0, "failed": 0}
    assert again.counts == {"started": 0, "already done": FLEET, "skipped": 0, "failed": 0}
    for device in devices:
        connection = cloud.engines.iot.connect(NEW_REGION, device.certificate_pem, device.name)  # no retry
        assert connection.open
    assert {assert_converged(snapshot(cloud, d.name, [d.certificate_id])) for d in devices[:10]} == \
        {d.certificate_id for d in devices[:10]}
