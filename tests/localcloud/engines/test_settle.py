"""settle(): the engines together, from a device's first connection to the other region."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from engine_support import ACCOUNT, PRIMARY, SECONDARY, Issued, make_ca, make_device
from moto import mock_aws

from localcloud import speedups
from localcloud.services.iot.core import ConnectionRefused
from localcloud.services.settle import Engines

ROLE = f"arn:aws:iam::{ACCOUNT}:role/x"
TABLE = "inventory"
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})


def build_region(region: str, ca: Issued, stream_arn: str) -> dict[str, str]:
    iot = boto3.client("iot", region_name=region)
    sfn = boto3.client("stepfunctions", region_name=region)
    events = boto3.client("events", region_name=region)
    ca_id = iot.register_ca_certificate(caCertificate=ca.pem, setAsActive=True, allowAutoRegistration=True)[
        "certificateId"
    ]
    jitr = sfn.create_state_machine(name="jitr", definition=PASS, roleArn=ROLE)["stateMachineArn"]
    replicate = sfn.create_state_machine(name="replicate", definition=PASS, roleArn=ROLE)["stateMachineArn"]
    iot.create_topic_rule(
        ruleName="jitr",
        topicRulePayload={
            "sql": f"SELECT * FROM '$aws/events/certificates/registered/{ca_id}' "
            "WHERE certificateStatus = 'PENDING_ACTIVATION'",
            "actions": [{"stepFunctions": {"stateMachineName": "jitr", "roleArn": ROLE}}],
        },
    )
    bus = events.create_event_bus(Name="bus")["EventBusArn"]
    events.put_rule(Name="replicate", EventBusName="bus", EventPattern=json.dumps({"source": ["app.devices"]}))
    events.put_targets(
        Rule="replicate",
        EventBusName="bus",
        Targets=[
            {
                "Id": "r",
                "Arn": replicate,
                "InputTransformer": {
                    "InputPathsMap": {"t": "$.detail.dynamodb.NewImage.ThingName.S"},
                    "InputTemplate": '{"ThingName": <t>}',
                },
            }
        ],
    )
    pattern = {"dynamodb": {"NewImage": {"OriginRegion": {"S": [{"anything-but": region}]}}}}
    boto3.client("pipes", region_name=region).create_pipe(
        Name="inventory",
        RoleArn=ROLE,
        Source=stream_arn,
        SourceParameters={
            "DynamoDBStreamParameters": {"StartingPosition": "LATEST", "BatchSize": 1},
            "FilterCriteria": {"Filters": [{"Pattern": json.dumps(pattern)}]},
        },
        Target=bus,
        TargetParameters={"EventBridgeEventBusParameters": {"Source": "app.devices", "DetailType": "Change"}},
    )
    return {"jitr": jitr, "replicate": replicate}


@pytest.fixture(params=[False, True], ids=["recorded-executions", "executing-backend"])
def cloud(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engines, dict]]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": PRIMARY,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }.items():
        monkeypatch.setenv(name, value)
    config: dict[str, Any] = {"iot": {"use_valid_cert": True}}
    if request.param:
        config["stepfunctions"] = {"execute_state_machine": True}
    with mock_aws(config=config), speedups.switched_on(), Engines() as engines:
        ddb = boto3.client("dynamodb", region_name=PRIMARY)
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "ThingName", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "ThingName", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        engines.global_tables.register(TABLE, [PRIMARY, SECONDARY])
        ca = make_ca()
        machines = {}
        for region in (PRIMARY, SECONDARY):
            arn = boto3.client("dynamodb", region_name=region).describe_table(TableName=TABLE)["Table"][
                "LatestStreamArn"
            ]
            machines[region] = build_region(region, ca, arn)
        yield engines, {"ca": ca, "machines": machines}


def executions(region: str, arn: str) -> list[dict[str, Any]]:
    return boto3.client("stepfunctions", region_name=region).list_executions(stateMachineArn=arn)["executions"]


def test_settle_with_nothing_to_do_is_quiescent_in_one_round(cloud: tuple[Engines, dict]) -> None:
    engines, _ = cloud
    report = engines.settle()
    assert report.quiescent and report.rounds == 1
    assert report.executions_started == 0


def test_a_first_connection_flows_to_the_other_region(cloud: tuple[Engines, dict]) -> None:
    engines, world = cloud
    device = make_device(world["ca"], "dev-1")
    with pytest.raises(ConnectionRefused):
        engines.iot.connect(PRIMARY, device.pem, "dev-1")
    report = engines.settle()
    assert report.quiescent and report.executions_started == 1
    assert len(executions(PRIMARY, world["machines"][PRIMARY]["jitr"])) == 1
    assert report.executions_still_running == 0
    # what the JITR machine writes in the region that saw the device first
    boto3.client("dynamodb", region_name=PRIMARY).put_item(
        TableName=TABLE, Item={"ThingName": {"S": "dev-1"}, "OriginRegion": {"S": PRIMARY}}
    )
    report = engines.settle()
    assert report.quiescent
    assert (report.records_replicated, report.events_delivered, report.deliveries) == (1, 1, 1)
    assert report.executions_started == 1
    (replication,) = executions(SECONDARY, world["machines"][SECONDARY]["replicate"])
    assert executions(PRIMARY, world["machines"][PRIMARY]["replicate"]) == []
    described = boto3.client("stepfunctions", region_name=SECONDARY).describe_execution(
        executionArn=replication["executionArn"]
    )
    assert json.loads(described["input"]) == {"ThingName": "dev-1"}
    assert engines.total.executions_started == 2


def test_max_rounds_bounds_a_settle_that_never_stops_moving(cloud: tuple[Engines, dict]) -> None:
    engines, _ = cloud
    writes: list[str] = []

    def ping_pong(region: str, function_arn: str, event: Any) -> None:
        """Each region answers the other's change with its own write: it never ends."""
        writes.append(region)
        boto3.client("dynamodb", region_name=region).put_item(
            TableName=TABLE,
            Item={"ThingName": {"S": "dev-1"}, "OriginRegion": {"S": region}, "N": {"N": str(len(writes))}},
        )

    for region in (PRIMARY, SECONDARY):
        boto3.client("events", region_name=region).put_targets(
            Rule="replicate",
            EventBusName="bus",
            Targets=[{"Id": "l", "Arn": f"arn:aws:lambda:{region}:{ACCOUNT}:function:f"}],
        )
    engines.eventbridge.lambda_invoker = ping_pong
    boto3.client("dynamodb", region_name=PRIMARY).put_item(
        TableName=TABLE, Item={"ThingName": {"S": "dev-1"}, "OriginRegion": {"S": PRIMARY}}
    )
    report = engines.settle(max_rounds=3)
    assert report.rounds == 3 and not report.quiescent
    assert writes == [SECONDARY, PRIMARY, SECONDARY]
    engines.eventbridge.lambda_invoker = lambda *args: None
    assert engines.settle().quiescent


def test_failures_are_counted_and_readable(cloud: tuple[Engines, dict]) -> None:
    engines, _ = cloud
    boto3.client("stepfunctions", region_name=SECONDARY).delete_state_machine(
        stateMachineArn=f"arn:aws:states:{SECONDARY}:{ACCOUNT}:stateMachine:replicate"
    )
    boto3.client("dynamodb", region_name=PRIMARY).put_item(
        TableName=TABLE, Item={"ThingName": {"S": "dev-1"}, "OriginRegion": {"S": PRIMARY}}
    )
    report = engines.settle()
    assert report.quiescent and report.failures == 1 and report.executions_started == 0
    (failure,) = engines.failures()
    assert "stateMachine:replicate" in failure
