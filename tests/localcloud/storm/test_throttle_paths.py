"""The throttle refuses a call the same way whichever path the SDK call takes to moto: through moto's stubber or
answered in-process by ``speedups.direct_sdk``; each refused or admitted call is counted once."""
from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from localcloud import fixes
from localcloud import interception as aws_calls
from localcloud.speedups import direct_sdk
from localcloud.storm.throttle import Throttle
from quotas import Quotas

REGION = "eu-west-1"
ONE_PER_SECOND = Quotas(apis={("iot", "DescribeThing"): {"service": "iot", "operation": "DescribeThing",
                                                         "default": {"burst": 2, "rate": 1}}})


@pytest.fixture(params=["stubber", "direct_sdk"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    if request.param == "direct_sdk":
        direct_sdk.install()
    try:
        with mock_aws(), fixes.patched():
            aws_calls.clear()
            yield request.param
            aws_calls.clear()
    finally:
        if request.param == "direct_sdk":
            direct_sdk.uninstall()


def test_a_call_beyond_the_bucket_is_refused_as_aws_refuses_it_on_either_path(path: str, stubber_events) -> None:
    now = [0.0]
    iot = boto3.client("iot", region_name=REGION, config=boto3.session.Config(retries={"total_max_attempts": 1}))
    iot.create_thing(thingName="t")
    with stubber_events() as through_stubber, Throttle(ONE_PER_SECOND, lambda: now[0]) as throttle:
        assert iot.describe_thing(thingName="t")["thingName"] == "t"
        assert iot.describe_thing(thingName="t")["thingName"] == "t"  # the burst of 2
        with pytest.raises(iot.exceptions.ThrottlingException, match="Rate exceeded"):
            iot.describe_thing(thingName="t")
        now[0] = 1.0  # one token back
        assert iot.describe_thing(thingName="t")["thingName"] == "t"

    key = ("iot", "DescribeThing", REGION)
    assert (throttle.admitted[key], throttle.throttled[key]) == (3, 1)
    assert [c.operation for c in aws_calls.calls("iot")] == ["CreateThing"] + ["DescribeThing"] * 4
    described = [name for name in through_stubber if name.startswith("before-send.iot.DescribeThing")]
    assert len(described) == (4 if path == "stubber" else 0)
