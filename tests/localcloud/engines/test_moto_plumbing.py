"""Per-call plumbing speed-ups (botocore User-Agent, moto REST action lookup) change no request or response."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from engine_support import PRIMARY, record_requests
from moto import mock_aws

from localcloud.speedups import botocore_user_agent, moto_action_cache


def _iot_session(agents: list[Any]) -> list[Any]:
    """A few IoT (REST) calls, their results and errors, and the User-Agent each request carried."""
    outcomes: list[Any] = []
    with mock_aws():
        iot = boto3.client("iot", region_name=PRIMARY)
        iot.meta.events.register("before-send.iot.*", lambda request, **_: agents.append(request.headers["User-Agent"]))
        outcomes.append(iot.create_thing(thingName="t1", attributePayload={"attributes": {"a": "1"}})["thingName"])
        outcomes.append(iot.describe_thing(thingName="t1")["attributes"])
        outcomes.append(iot.create_policy(policyName="p", policyDocument='{"Version": "2012-10-17", "Statement": []}')
                        ["policyName"])
        outcomes.append(sorted(p["policyName"] for p in iot.list_policies()["policies"]))
        try:
            iot.describe_thing(thingName="missing")
        except ClientError as error:
            outcomes.append(error.response["Error"]["Code"])
        outcomes.append(sorted(t["thingName"] for t in iot.list_things()["things"]))
    return outcomes


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(name, value)


def test_user_agent_cache_sends_botocore_s_exact_header(credentials: None) -> None:
    plain_agents: list[Any] = []
    plain = _iot_session(plain_agents)
    botocore_user_agent.install()
    try:
        assert botocore_user_agent.installed()
        cached_agents: list[Any] = []
        cached = _iot_session(cached_agents)
        assert botocore_user_agent._CACHE, "the cache was never used"
    finally:
        botocore_user_agent.uninstall()
    assert not botocore_user_agent.installed()
    assert cached == plain
    assert cached_agents == plain_agents and len(plain_agents) == 6


def test_rest_operations_are_routed_once_per_request_with_the_same_results(
    credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.core.responses import BaseResponse

    routed = record_requests(monkeypatch, BaseResponse, "_get_action_from_method_and_request_uri",
                             lambda request: request.path)
    plain = _iot_session([])
    plain_routings = len(routed)
    routed.clear()
    moto_action_cache.install()
    try:
        assert moto_action_cache.installed()
        cached = _iot_session([])
    finally:
        moto_action_cache.uninstall()
    assert not moto_action_cache.installed()
    assert cached == plain
    assert len(routed) == 6 < plain_routings  # one routing per request instead of several


def test_in_process_requests_keep_the_authorization_form_without_hashing(credentials: None) -> None:
    import re

    from localcloud.speedups import sigv4_in_process

    plain_agents: list[Any] = []
    plain = _iot_session(plain_agents)
    headers: list[str] = []

    def session() -> list[Any]:
        with mock_aws():
            iot = boto3.client("iot", region_name=PRIMARY)
            s3 = boto3.client("s3", region_name=PRIMARY)
            for client in (iot, s3):
                client.meta.events.register("before-send", lambda request, **_: headers.append(
                    request.headers["Authorization"].decode() if isinstance(request.headers["Authorization"], bytes)
                    else request.headers["Authorization"]))
            iot.create_thing(thingName="t1")
            s3.create_bucket(Bucket="bucket-one", CreateBucketConfiguration={"LocationConstraint": PRIMARY})
        return _iot_session([])

    sigv4_in_process.install()
    try:
        assert sigv4_in_process.installed()
        unsigned = session()
    finally:
        sigv4_in_process.uninstall()
    assert not sigv4_in_process.installed()
    assert unsigned == plain
    form = re.compile(r"AWS4-HMAC-SHA256 Credential=[A-Za-z0-9]+/\d{8}/eu-west-1/(iot|s3)/aws4_request, "
                      r"SignedHeaders=[a-z0-9;-]+, Signature=([0-9a-f]{64})$")
    iot_header, s3_header = (form.match(header) for header in headers)
    assert iot_header and iot_header.group(2) == sigv4_in_process.UNSIGNED
    assert s3_header and s3_header.group(2) != sigv4_in_process.UNSIGNED  # S3's own signer is untouched
