"""JITR onboards a new device whatever AWS answers for an undocumented rule-SQL behaviour.

AWS does not document ``get_dynamodb()`` of a missing item; a re:Post answer (QUtmrQNjM4SkiP8mWy31_8Ew) says it is
a FunctionExecution error that makes the rule match nothing. The deployed stacks run here under that answer (the
local cloud's default) and under the kinder reading (Undefined): a new device onboards in either region, and its
duplicate registration events (one per refused reconnect, two regions at once) still end with one inventory item.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import pki
from localcloud import observe
from localcloud.assumptions import AWS_AS_REPORTED, KINDER, Assumptions
from localcloud.cloud import LocalCloud
from localcloud.services import ConnectionRefused

PRIMARY, SECONDARY = "eu-west-1", "us-west-2"
REGIONS = (PRIMARY, SECONDARY)


@pytest.fixture(scope="module", params=[AWS_AS_REPORTED, KINDER],
                ids=["missing-item-is-a-function-error", "missing-item-is-undefined"])
def cloud(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    assumptions: Assumptions = request.param
    with LocalCloud(state_dir=tmp_path_factory.mktemp("localcloud-assumptions"), assumptions=assumptions) as cloud:
        cloud.deploy()
        yield cloud


def inventory(cloud: LocalCloud, region: str, thing: str) -> list[dict]:
    table = cloud.primary_outputs["inventoryTableName"]
    return [i for i in observe.table_items(region, table) if i["ThingName"] == thing]


@pytest.mark.parametrize("first", REGIONS)
def test_a_new_device_onboards_by_jitr_in_either_region(cloud: LocalCloud, ca: pki.CertificateAuthority,
                                                        first: str) -> None:
    device = ca.issue_device(f"first-{first}")
    connection = cloud.connect(first, device.certificate_pem, device.name)
    assert connection.attempts == 2  # refused once while JITR runs, then accepted
    cloud.settle()
    for region in REGIONS:
        assert observe.certificate_status(region, device.certificate_id) == "ACTIVE"
        assert [i["OriginRegion"] for i in inventory(cloud, region, device.name)] == [first]
    assert cloud.engines.iot.stats.sql_function_errors == 0  # no deployed rule depends on the undocumented answer


def test_duplicate_registration_events_end_with_one_activation(cloud: LocalCloud,
                                                               ca: pki.CertificateAuthority) -> None:
    device = ca.issue_device("duplicates-0001")
    for _ in range(3):  # three refused connections to each region before anything settles
        for region in REGIONS:
            with pytest.raises(ConnectionRefused):
                cloud.engines.iot.connect(region, device.certificate_pem, device.name)
    cloud.settle()
    for region in REGIONS:
        assert cloud.connect(region, device.certificate_pem, device.name, attempts=1).open
        items = inventory(cloud, region, device.name)
        assert [(i["CertificateId"], i["Status"]) for i in items] == [(device.certificate_id, "ACTIVE")]
