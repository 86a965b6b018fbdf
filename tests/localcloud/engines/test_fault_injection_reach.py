"""Faults armed with ``localcloud.interception`` reach every SDK call of the local cloud, in either region:

calls made inside the certificate inspector Lambda (served in-process by ``lambda_inprocess``) and calls
answered in-process by ``engines.direct_sdk``, as well as calls through moto's stubber.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator

import boto3
import pytest
from engine_support import PRIMARY, SECONDARY
from moto import mock_aws

from localcloud import fixes
from localcloud import interception as aws_calls
from localcloud.services.awslambda import inprocess as lambda_inprocess
from functions.certificate_inspector import handler as inspector_handler
from localcloud.speedups import direct_sdk

FUNCTION = "inspector"
EVENT = {"certificateId": "a" * 64, "caCertificateId": "b" * 64, "certificateStatus": "PENDING_ACTIVATION"}


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    raise RuntimeError('served in-process')\n")
    return buffer.getvalue()


@pytest.fixture(params=["stubber", "direct_sdk"])
def cloud(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Both regions with the inspector function; SDK calls take moto's stubber or ``direct_sdk``."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled"}.items():
        monkeypatch.setenv(name, value)
    if request.param == "direct_sdk":
        direct_sdk.install()
    try:
        with mock_aws(), fixes.patched():
            role = boto3.client("iam", region_name=PRIMARY).create_role(
                RoleName="inspector", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
            for region in (PRIMARY, SECONDARY):
                boto3.client("lambda", region_name=region).create_function(
                    FunctionName=FUNCTION, Runtime="python3.12", Role=role, Handler="handler.handler",
                    Code={"ZipFile": _zip()},
                    Environment={"Variables": {"INVENTORY_TABLE": "inventory", "EXPECTED_CA_CERTIFICATE_ID": "b" * 64}})
            lambda_inprocess.register(FUNCTION, "functions.certificate_inspector.handler:handler")
            inspector_handler._clients.cache_clear()  # a new Lambda environment: the handler makes its clients again
            aws_calls.clear()
            yield request.param
            lambda_inprocess.unregister_all()
            aws_calls.clear()
    finally:
        if request.param == "direct_sdk":
            direct_sdk.uninstall()


def invoke(region: str) -> dict:
    response = boto3.client("lambda", region_name=region).invoke(FunctionName=FUNCTION, Payload=json.dumps(EVENT))
    return {"error": response.get("FunctionError"), **json.loads(response["Payload"].read())}


@pytest.mark.parametrize("region", [PRIMARY, SECONDARY])
def test_a_fault_reaches_the_boto3_calls_inside_the_inspector_lambda(cloud: str, region: str) -> None:
    other = SECONDARY if region == PRIMARY else PRIMARY
    elsewhere = aws_calls.inject("iot", "DescribeCertificate", region=other, error_code="InvalidRequestException")
    here = aws_calls.inject("iot", "DescribeCertificate", region=region, error_code="InvalidRequestException",
                            message="injected inside the Lambda")
    result = invoke(region)
    assert result["error"] == "Unhandled"
    assert result["errorType"] == "InvalidRequestException"
    assert re.fullmatch(r"An error occurred \(InvalidRequestException\) when calling the DescribeCertificate operation"
                        r"( \(reached max retries: 0\))?: injected inside the Lambda", result["errorMessage"])
    assert (here.fired, elsewhere.fired) == (1, 0)
    assert [(c.service, c.operation, c.region) for c in aws_calls.calls()] == [
        ("lambda", "Invoke", region), ("iot", "DescribeCertificate", region)]
    without_fault = invoke(region)  # the fault is spent: the handler gets moto's own answer
    assert without_fault["errorType"] == "ResourceNotFoundException"


@pytest.mark.parametrize("region", [PRIMARY, SECONDARY])
def test_a_fault_reaches_calls_direct_sdk_answers(cloud: str, region: str) -> None:
    iot = boto3.client("iot", region_name=region)
    iot.create_thing(thingName="t")
    fault = aws_calls.inject("iot", "DescribeThing", region=region, nth=2, error_code="InvalidRequestException")
    assert iot.describe_thing(thingName="t")["thingName"] == "t"
    with pytest.raises(iot.exceptions.InvalidRequestException, match="Injected"):
        iot.describe_thing(thingName="t")
    assert iot.describe_thing(thingName="t")["thingName"] == "t"
    assert fault.fired == 1
    assert [(c.operation, c.region) for c in aws_calls.calls("iot")] == [("CreateThing", region)] + [
        ("DescribeThing", region)] * 3
    assert direct_sdk.installed() == (cloud == "direct_sdk")


def test_the_inspector_s_calls_are_answered_by_direct_sdk_when_it_is_installed(cloud: str, stubber_events) -> None:
    with stubber_events() as stubbed:
        invoke(SECONDARY)
    assert [(c.operation, c.region) for c in aws_calls.calls()] == [
        ("Invoke", SECONDARY), ("DescribeCertificate", SECONDARY)]
    through_stubber = [name for name in stubbed if name.startswith("before-send")]
    assert len(through_stubber) == (2 if cloud == "stubber" else 0)
