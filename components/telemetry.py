"""Telemetry storage: the hot path, so no state machine and no Lambda on it.

An IoT rule's DynamoDBv2 action writes each message straight into this region's replica of the
data table. That is one rule evaluation and one write per message; the seed's design (a rule
starting a Standard state machine with a Pass and a PutItem state) adds two billed state
transitions and an execution start to every message for the same result.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from builders import arns, iam
from builders.iot_rules import SQL_VERSION, telemetry_sql
from components.naming import Names
from components.roles import service_role


@dataclass(frozen=True)
class TelemetryArgs:
    names: Names
    region: str
    account_id: str
    data_table_name: pulumi.Input[str]
    log_retention_days: int


class Telemetry(pulumi.ComponentResource):
    topic_rule: aws.iot.TopicRule

    def __init__(self, name: str, args: TelemetryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("iotmr:regional:Telemetry", name, None, opts)
        n, region, account = args.names, args.region, args.account_id
        errors = aws.cloudwatch.LogGroup(
            f"{name}-rule-errors",
            name=f"/aws/iot/rules/{n.telemetry_rule}/errors",
            retention_in_days=args.log_retention_days,
            opts=pulumi.ResourceOptions(parent=self),
        )
        role = service_role(
            f"{name}-rule",
            service="iot",
            account_id=account,
            source_arn=arns.topic_rule(region, account, n.telemetry_rule),
            policy=pulumi.Output.all(args.data_table_name, errors.arn).apply(lambda v: iam.document([
                iam.statement(["dynamodb:PutItem"], [arns.dynamodb_table(region, account, v[0])], sid="StoreTelemetry"),
                iam.log_writer_statement(v[1]),
            ])),
            parent=self,
            description="Lets the telemetry rule write messages into this region's data table replica",
        )
        self.topic_rule = aws.iot.TopicRule(
            f"{name}-rule",
            name=n.telemetry_rule,
            description="Stores every device message with the region that received it",
            enabled=True,
            sql=telemetry_sql(region),
            sql_version=SQL_VERSION,
            dynamodbv2s=[aws.iot.TopicRuleDynamodbv2Args(
                role_arn=role.arn,
                put_item=aws.iot.TopicRuleDynamodbv2PutItemArgs(table_name=args.data_table_name),
            )],
            error_action=aws.iot.TopicRuleErrorActionArgs(cloudwatch_logs=aws.iot.TopicRuleErrorActionCloudwatchLogsArgs(
                log_group_name=errors.name, role_arn=role.arn)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=role.ready()),
        )
        self.register_outputs({"telemetryRuleName": self.topic_rule.name})
