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
from builders.iot_rules import telemetry_sql
from components.naming import Names
from components.topic_rule import topic_rule


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
        self.topic_rule = topic_rule(
            f"{name}-rule",
            rule_name=n.telemetry_rule,
            region=region,
            account_id=account,
            description="Stores every device message with the region that received it",
            sql=telemetry_sql(region),
            action_statement=pulumi.Output.from_input(args.data_table_name).apply(lambda table: iam.statement(
                ["dynamodb:PutItem"], [arns.dynamodb_table(region, account, table)], sid="StoreTelemetry")),
            actions=lambda role_arn: {"dynamodbv2s": [aws.iot.TopicRuleDynamodbv2Args(
                role_arn=role_arn,
                put_item=aws.iot.TopicRuleDynamodbv2PutItemArgs(table_name=args.data_table_name),
            )]},
            log_retention_days=args.log_retention_days,
            parent=self,
        )
        self.register_outputs({"telemetryRuleName": self.topic_rule.name})
