"""The same device reaching two regions before replication: active in both, one item, replication harmless."""
from __future__ import annotations

import pytest

from localcloud import interception as aws_calls

EU, US = "eu-west-1", "us-west-2"
OTHER = {EU: US, US: EU}


def assert_active_everywhere(cloud, device):
    for region in (EU, US):
        certificate = cloud.certificate(region, device.certificate_id)
        assert certificate["status"] == "ACTIVE", region
        assert cloud.principals(region, device.name) == [certificate["certificateArn"]], region
        assert cloud.policies(region, certificate["certificateArn"]) == ["iotmr-device"], region


def converge_and_replicate(cloud, device, last_writer):
    """Global tables: last writer wins; then each region's pipe sees the other region's write."""
    cloud.replicate_table(last_writer, OTHER[last_writer])
    items = [cloud.items(region) for region in (EU, US)]
    assert items[0] == items[1] and len(items[0]) == 1  # one inventory item
    item = items[0][0]
    assert item["CertificateId"]["S"] == device.certificate_id
    for region in (EU, US):
        if item["OriginRegion"]["S"] != region:
            assert cloud.replicate(region, item, "MODIFY").status == "SUCCEEDED"
    # the first writer's INSERT also reached the last writer's stream before it was overwritten
    assert cloud.replicate(last_writer, item, "INSERT").status == "SUCCEEDED"


@pytest.mark.parametrize("first", [EU, US])
def test_sequential_jitr_in_both_regions_before_replication(cloud, ca, first):
    device = ca.device(f"roamer-{first}")
    second = OTHER[first]
    assert cloud.jitr(first, device).status == "SUCCEEDED"
    assert cloud.jitr(second, device).status == "SUCCEEDED"  # the EU item has not replicated yet: NEW there too

    converge_and_replicate(cloud, device, last_writer=second)
    assert_active_everywhere(cloud, device)


@pytest.mark.parametrize("outer", [EU, US])
def test_interleaved_jitr_in_both_regions(cloud, ca, outer):
    device = ca.device(f"racer-{outer}")
    inner = OTHER[outer]
    outer_event = cloud.connect(outer, device)
    inner_runs = []
    # the inner region's whole JITR runs after the outer one created the thing and before it activates
    aws_calls.inject("iot", "UpdateCertificate", region=outer,
                     before=lambda: inner_runs.append(cloud.jitr(inner, device)))

    outer_run = cloud.run(outer, "jitr", outer_event)

    assert outer_run.status == "SUCCEEDED", (outer_run.error, outer_run.cause)
    assert [r.status for r in inner_runs] == ["SUCCEEDED"]
    converge_and_replicate(cloud, device, last_writer=outer)
    assert_active_everywhere(cloud, device)


def test_replication_arriving_first_then_the_device_connects(cloud, ca):
    device = ca.device("late-roamer")
    assert cloud.jitr(EU, device).status == "SUCCEEDED"
    cloud.replicate_table(EU, US)
    assert cloud.replicate(US, cloud.item(US, "late-roamer")).status == "SUCCEEDED"
    # the certificate is registered in US now: IoT does not auto-register it again, so no JITR happens
    assert_active_everywhere(cloud, device)
