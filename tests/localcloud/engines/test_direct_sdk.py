"""SDK calls answered in-process by moto's response handlers give callers exactly what the stubber path gives."""

from __future__ import annotations

import datetime
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from engine_support import PRIMARY, SECONDARY, make_ca, make_device, record_requests
from moto import mock_aws

from localcloud import interception as aws_calls
from localcloud.services.awslambda import inprocess as lambda_inprocess
from localcloud.speedups import direct_sdk

CA = make_ca("Direct CA")
DEVICE = make_device(CA, "direct-1")
OTHER = make_device(CA, "direct-2")
TABLE = "inventory"
UPDATE = "SET CertificateId = :cid, #status = :active"
CONDITION = "attribute_not_exists(ThingName) OR CertificateId = :cid"
RANDOM_KEYS = {"thingId", "RequestId", "x-amzn-requestid", "date", "x-amz-crc32", "x-amz-request-id",
               "x-amzn-trace-id", "x-amz-executed-version"}


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled"}.items():
        monkeypatch.setenv(name, value)


def _comparable(value: Any) -> Any:
    """The response with values that differ between two runs (ids, dates) reduced to their type."""
    if isinstance(value, dict):
        return {k: ("<random>" if k in RANDOM_KEYS else _comparable(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if isinstance(value, datetime.datetime):
        return ("datetime", value.tzinfo is not None)
    if isinstance(value, StreamingBody):
        return ("stream", value.read())
    return value


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        return ("ok", _comparable(call()))
    except ClientError as error:
        return ("error", type(error).__name__, _comparable(error.response))


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def _echo(event: Any, context: Any) -> Any:
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"echo": event}


def _session() -> list[Any]:
    """Every listed operation, succeeding and failing, as a device's onboarding and its rollbacks make them."""
    outcomes: list[Any] = []
    with mock_aws():
        iot = boto3.client("iot", region_name=PRIMARY)
        ddb = boto3.client("dynamodb", region_name=PRIMARY)
        awslambda = boto3.client("lambda", region_name=PRIMARY)
        ca_id = iot.register_ca_certificate(caCertificate=CA.pem, setAsActive=True,
                                            allowAutoRegistration=True)["certificateId"]
        iot.create_policy(policyName="device", policyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
        ddb.create_table(TableName=TABLE, KeySchema=[{"AttributeName": "ThingName", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "ThingName", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        role = boto3.client("iam", region_name=PRIMARY).create_role(RoleName="r", AssumeRolePolicyDocument="{}")
        awslambda.create_function(FunctionName="echo", Runtime="python3.12", Role=role["Role"]["Arn"],
                                  Handler="handler.handler", Code={"ZipFile": _zip()})
        registered = iot.register_certificate(certificatePem=DEVICE.pem, caCertificatePem=CA.pem,
                                              status="PENDING_ACTIVATION")
        cid, arn = registered["certificateId"], registered["certificateArn"]
        values = {":cid": {"S": cid}, ":active": {"S": "ACTIVE"}}
        key = {"ThingName": {"S": "direct-1"}}
        calls: list[Callable[[], Any]] = [
            lambda: registered,
            lambda: iot.register_certificate(certificatePem=DEVICE.pem, caCertificatePem=CA.pem),  # exists
            lambda: iot.register_certificate(certificatePem="not a certificate"),
            lambda: iot.describe_certificate(certificateId=cid),
            lambda: iot.describe_certificate(certificateId="0" * 64),
            lambda: iot.describe_thing(thingName="direct-1"),  # not yet
            lambda: iot.create_thing(thingName="direct-1"),
            lambda: iot.create_thing(thingName="direct-1"),  # idempotent
            lambda: iot.describe_thing(thingName="direct-1"),
            lambda: iot.attach_thing_principal(thingName="direct-1", principal=arn),
            lambda: iot.attach_thing_principal(thingName="nobody", principal=arn),
            lambda: iot.attach_policy(policyName="device", target=arn),
            lambda: iot.attach_policy(policyName="missing", target=arn),
            lambda: iot.update_certificate(certificateId=cid, newStatus="ACTIVE"),
            lambda: iot.update_certificate(certificateId=cid, newStatus="NOT_A_STATUS"),
            lambda: iot.describe_certificate(certificateId=cid),
            lambda: ddb.get_item(TableName=TABLE, Key=key, ConsistentRead=True),
            lambda: ddb.update_item(TableName=TABLE, Key=key, UpdateExpression=UPDATE, ConditionExpression=CONDITION,
                                    ExpressionAttributeNames={"#status": "Status"}, ExpressionAttributeValues=values,
                                    ReturnValues="ALL_NEW"),
            lambda: ddb.update_item(TableName=TABLE, Key=key, UpdateExpression=UPDATE, ConditionExpression=CONDITION,
                                    ExpressionAttributeNames={"#status": "Status"},
                                    ExpressionAttributeValues={**values, ":cid": {"S": "impostor"}},
                                    ReturnValuesOnConditionCheckFailure="ALL_OLD"),
            lambda: ddb.update_item(TableName="missing", Key=key, UpdateExpression=UPDATE,
                                    ExpressionAttributeNames={"#status": "Status"}, ExpressionAttributeValues=values),
            lambda: ddb.get_item(TableName=TABLE, Key=key, ConsistentRead=True),
            lambda: ddb.put_item(TableName=TABLE, Item={"ThingName": {"S": "other"}, "N": {"N": "1.50"},
                                                        "B": {"B": b"\x00\x01"}}),
            lambda: ddb.get_item(TableName=TABLE, Key={"ThingName": {"S": "other"}}),
            lambda: ddb.delete_item(TableName=TABLE, Key={"ThingName": {"S": "other"}}, ReturnValues="ALL_OLD"),
            lambda: awslambda.invoke(FunctionName="echo", Payload=json.dumps({"k": 1})),
            lambda: awslambda.invoke(FunctionName="echo", Payload=json.dumps({"fail": True})),
            lambda: awslambda.invoke(FunctionName="missing", Payload=b"{}"),
            lambda: iot.detach_policy(policyName="device", target=arn),
            lambda: iot.detach_thing_principal(thingName="direct-1", principal=arn),
            lambda: iot.delete_thing(thingName="direct-1"),
            lambda: iot.update_certificate(certificateId=cid, newStatus="INACTIVE"),
            lambda: iot.delete_certificate(certificateId=cid),
            lambda: iot.delete_certificate(certificateId=cid),
            lambda: ca_id,
        ]
        lambda_inprocess.register("echo", _echo)
        try:
            outcomes.extend(_outcome(call) for call in calls)
        finally:
            lambda_inprocess.unregister_all()
    return outcomes


def _stubbed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """URLs of the requests that reach moto's stubber from now on."""
    from moto.core.botocore_stubber import BotocoreStubber

    return record_requests(monkeypatch, BotocoreStubber, "process_request", lambda request: request.url)


@pytest.fixture
def inprocess_lambda() -> Any:
    from localcloud import fixes

    with fixes.patched(only=("lambda_inprocess", "iot_certificate_ids", "iot_create_thing")):
        yield


def test_every_listed_operation_answers_as_the_stubber_path_does(
    credentials: None, inprocess_lambda: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stubbed = _stubbed(monkeypatch)
    usual = _session()
    usual_stubbed = len(stubbed)
    stubbed.clear()
    direct_sdk.install()
    try:
        assert direct_sdk.installed()
        direct = _session()
    finally:
        direct_sdk.uninstall()
    assert len(stubbed) == 5 and usual_stubbed == 6 + len(usual) - 2  # only the unlisted set-up calls took it
    assert not direct_sdk.installed()
    assert direct == usual
    errors = [outcome for outcome in usual if outcome[0] == "error"]
    assert len(errors) >= 9  # the comparison covers failures, not only successes


def test_listed_calls_skip_moto_s_stubber_and_others_take_it(credentials: None, monkeypatch: pytest.MonkeyPatch) -> None:
    stubbed = _stubbed(monkeypatch)
    direct_sdk.install()
    try:
        with mock_aws():
            iot = boto3.client("iot", region_name=PRIMARY)
            iot.create_thing(thingName="t1")
            assert stubbed == []
            assert [t["thingName"] for t in iot.list_things()["things"]] == ["t1"]  # not listed: usual path
            assert len(stubbed) == 1
    finally:
        direct_sdk.uninstall()


def test_an_armed_fault_takes_the_stubber_path_and_every_call_is_recorded_once(
    credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from localcloud import fixes

    observed: list[aws_calls.Call] = []
    stubbed = _stubbed(monkeypatch)
    direct_sdk.install()
    try:
        with fixes.patched(only=("aws_calls",)), mock_aws():
            aws_calls.clear()
            aws_calls.add_observer(observed.append)
            try:
                iot = boto3.client("iot", region_name=SECONDARY)
                fault = aws_calls.inject("iot", "DescribeThing", error_code="ResourceNotFoundException", nth=2)
                iot.create_thing(thingName="t1")
                assert iot.describe_thing(thingName="t1")["thingName"] == "t1"  # 1st: fault armed, stubber path
                with pytest.raises(iot.exceptions.ResourceNotFoundException, match="Injected"):
                    iot.describe_thing(thingName="t1")
                assert fault.fired == 1
                assert iot.describe_thing(thingName="t1")["thingName"] == "t1"  # fault spent: direct again
            finally:
                aws_calls.remove_observer(observed.append)
            recorded = [(c.operation, c.region) for c in aws_calls.calls("iot")]
    finally:
        direct_sdk.uninstall()
    assert recorded == [("CreateThing", SECONDARY)] + [("DescribeThing", SECONDARY)] * 3
    assert [(c.operation, c.region) for c in observed] == recorded
    assert len(stubbed) == 1  # the 1st DescribeThing, made while the fault was armed; the 2nd got the fault


def test_requests_for_other_endpoints_or_without_moto_are_left_alone(credentials: None) -> None:
    from moto.core.models import botocore_stubber

    session = boto3.session.Session()
    iot = session.client("iot", region_name=PRIMARY)
    model = iot.meta.service_model.operation_model("DescribeThing")
    request = {"url": "https://iot.eu-west-1.amazonaws.com/things/t1", "method": "GET", "headers": {}, "body": b"",
               "query_string": {}, "url_path": "/things/t1", "context": {}}
    direct_sdk.install()
    try:
        assert not botocore_stubber.enabled
        assert direct_sdk._before_call(model=model, params=request, context={}) is None  # moto is not on
        with mock_aws():
            local = {**request, "url": "http://localhost:5000/things/t1"}
            assert direct_sdk._before_call(model=model, params=local, context={}) is None
            unlisted = iot.meta.service_model.operation_model("ListThings")
            assert direct_sdk._before_call(model=unlisted, params=request, context={}) is None
    finally:
        direct_sdk.uninstall()


def test_uninstall_removes_the_handlers_from_new_sessions(credentials: None) -> None:
    from botocore import handlers

    direct_sdk.install()
    direct_sdk.install()  # idempotent
    assert handlers.BUILTIN_HANDLERS.count(("before-call", direct_sdk._before_call)) == 1
    direct_sdk.uninstall()
    assert ("before-call", direct_sdk._before_call) not in handlers.BUILTIN_HANDLERS
    assert not direct_sdk.installed()
