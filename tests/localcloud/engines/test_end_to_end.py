"""The engines carry the real program parts (builders' machines, the inspector Lambda, the
fixes) from a device's first connection to a working connection in the other region."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import boto3
import pytest
from engine_support import ACCOUNT, PRIMARY, SECONDARY, Issued, make_ca, make_device
from moto import mock_aws

from builders import inventory as inv
from builders import iot_rules
from builders.asl import decommission, jitr, replication
from builders.iot_policy import device_policy
from localcloud import fixes, speedups
from localcloud.services.awslambda import inprocess as lambda_inprocess
from localcloud.services import ConnectionRefused, Engines, connect_with_backoff

TABLE, DATA, POLICY, BUS, SOURCE = "app-device-inventory", "app-data", "app-device", "app-devices", "app.devices"
FUNCTION = "app-certificate-inspector"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    raise RuntimeError('in-process')\n")
    return buffer.getvalue()


def _table(region: str, name: str, keys: list[str]) -> None:
    boto3.client("dynamodb", region_name=region).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in zip(keys, ("HASH", "RANGE"), strict=False)],
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


def deploy_region(region: str, ca: Issued, engines: Engines) -> None:
    """What the Pulumi program deploys in one region, in the order the deployer would."""
    iot = boto3.client("iot", region_name=region)
    ca_id = iot.register_ca_certificate(
        caCertificate=ca.pem, setAsActive=True, allowAutoRegistration=True, certificateMode="SNI_ONLY"
    )["certificateId"]
    iot.update_event_configurations(eventConfigurations={"CERTIFICATE": {"Enabled": True}})
    iot.create_policy(policyName=POLICY, policyDocument=json.dumps(device_policy(region, ACCOUNT)))
    function_arn = boto3.client("lambda", region_name=region).create_function(
        FunctionName=FUNCTION, Runtime="python3.12", Role=ROLE, Handler="handler.handler",
        Code={"ZipFile": _zip()},
        Environment={"Variables": {"INVENTORY_TABLE": TABLE, "EXPECTED_CA_CERTIFICATE_ID": ca_id}},
    )["FunctionArn"]  # fmt: skip
    sfn = boto3.client("stepfunctions", region_name=region)
    definitions = {
        "jitr": jitr.definition(inspector_function_arn=function_arn, inventory_table=TABLE,
                                device_policy_name=POLICY, event_bus_name=BUS, source=SOURCE),
        "replication": replication.definition(inventory_table=TABLE, device_policy_name=POLICY, event_bus_name=BUS, source=SOURCE),
        "decommission": decommission.definition(inventory_table=TABLE, device_policy_name=POLICY, event_bus_name=BUS, source=SOURCE),
    }  # fmt: skip
    machines = {
        key: sfn.create_state_machine(name=f"app-{key}", definition=json.dumps(d), roleArn=ROLE)["stateMachineArn"]
        for key, d in definitions.items()
    }
    iot.create_topic_rule(ruleName="app_jitr", topicRulePayload={
        "sql": iot_rules.jitr_sql(ca_id), "awsIotSqlVersion": iot_rules.SQL_VERSION,
        "actions": [{"stepFunctions": {"stateMachineName": "app-jitr", "roleArn": ROLE}}]})  # fmt: skip
    iot.create_topic_rule(ruleName="app_telemetry", topicRulePayload={
        "sql": iot_rules.telemetry_sql(region), "awsIotSqlVersion": iot_rules.SQL_VERSION,
        "actions": [{"dynamoDBv2": {"putItem": {"tableName": DATA}, "roleArn": ROLE}}]})  # fmt: skip
    events = boto3.client("events", region_name=region)
    bus_arn = events.create_event_bus(Name=BUS)["EventBusArn"]
    paths, template = inv.item_input_transformer()
    for name, pattern in (("replicate", inv.replicate_rule_pattern(SOURCE)),
                          ("decommission", inv.decommission_rule_pattern(SOURCE))):  # fmt: skip
        events.put_rule(Name=name, EventBusName=BUS, EventPattern=json.dumps(pattern))
        target = machines["replication" if name == "replicate" else "decommission"]
        events.put_targets(Rule=name, EventBusName=BUS, Targets=[{
            "Id": name, "Arn": target, "RoleArn": ROLE,
            "InputTransformer": {"InputPathsMap": paths, "InputTemplate": template}}])  # fmt: skip
    stream = boto3.client("dynamodb", region_name=region).describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    boto3.client("pipes", region_name=region).create_pipe(
        Name="app-inventory", RoleArn=ROLE, Source=stream,
        SourceParameters={
            "DynamoDBStreamParameters": {"StartingPosition": "LATEST", "BatchSize": 1},
            "FilterCriteria": {"Filters": [{"Pattern": json.dumps(f)} for f in inv.pipe_filters(region)]},
        },
        Target=bus_arn,
        TargetParameters={"EventBridgeEventBusParameters": {"Source": SOURCE, "DetailType": inv.DETAIL_TYPE}},
    )  # fmt: skip


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engines, Issued]]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": PRIMARY, "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    saved = (fixes.SETTINGS.retry_time_scale, fixes.SETTINGS.synchronous_executions)
    fixes.SETTINGS.retry_time_scale, fixes.SETTINGS.synchronous_executions = 0.0, True
    lambda_inprocess.register(FUNCTION, "functions.certificate_inspector.handler:handler")
    ca = make_ca()
    try:
        with fixes.patched(), mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), \
                speedups.switched_on(), Engines() as engines:  # fmt: skip
            boto3.client("iam", region_name=PRIMARY).create_role(
                RoleName="app", AssumeRolePolicyDocument=json.dumps({"Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole"}]}))  # fmt: skip
            for region in (PRIMARY, SECONDARY):
                _table(region, TABLE, [inv.HASH_KEY])
            _table(PRIMARY, DATA, ["PK", "SK"])
            engines.global_tables.register(TABLE, [PRIMARY, SECONDARY])
            engines.global_tables.register(DATA, [PRIMARY, SECONDARY])
            for region in (PRIMARY, SECONDARY):
                deploy_region(region, ca, engines)
            yield engines, ca
    finally:
        lambda_inprocess.unregister_all()
        fixes.SETTINGS.retry_time_scale, fixes.SETTINGS.synchronous_executions = saved


def statuses(region: str) -> dict[str, list[str]]:
    sfn = boto3.client("stepfunctions", region_name=region)
    return {
        m["name"]: [e["status"] for e in sfn.list_executions(stateMachineArn=m["stateMachineArn"])["executions"]]
        for m in sfn.list_state_machines()["stateMachines"]
    }


def test_first_connection_registers_replicates_and_the_device_works_in_both_regions(
    cloud: tuple[Engines, Issued],
) -> None:
    engines, ca = cloud
    device = make_device(ca, "dev-0001")
    connection = connect_with_backoff(engines.iot, PRIMARY, device.pem, "dev-0001", settle=engines.settle)
    assert connection.attempts == 2
    assert statuses(PRIMARY)["app-jitr"] == ["SUCCEEDED"]
    assert statuses(SECONDARY)["app-replication"] == ["SUCCEEDED"]
    assert statuses(PRIMARY)["app-replication"] == []  # the pipe filter keeps local writes out
    other = engines.iot.connect(SECONDARY, device.pem, "dev-0001")  # no JITR needed there
    assert other.certificate_id == device.der_sha256
    engines.iot.publish(other, "i/dev-0001/m", json.dumps({"message": "from us"}))
    engines.settle()
    items = boto3.client("dynamodb", region_name=PRIMARY).scan(TableName=DATA)["Items"]
    assert [(i["Region"]["S"], i["Message"]["S"]) for i in items] == [(SECONDARY, "from us")]


def test_a_device_reaching_both_regions_before_replication_ends_up_connected_in_both(
    cloud: tuple[Engines, Issued],
) -> None:
    engines, ca = cloud
    device = make_device(ca, "dev-0002")
    for region in (PRIMARY, SECONDARY):
        with pytest.raises(ConnectionRefused):
            engines.iot.connect(region, device.pem, "dev-0002")
    engines.settle()
    for region in (PRIMARY, SECONDARY):
        connection = connect_with_backoff(engines.iot, region, device.pem, "dev-0002", settle=engines.settle)
        assert connection.open, statuses(region)
