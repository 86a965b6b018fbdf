"""Telemetry storage: the hot path, so no state machine and no Lambda on it.

An IoT rule's DynamoDBv2 action writes each message straight into this region's replica of the
data table. That is one rule evaluation and one write per message; the seed's design (a rule
starting a Standard state machine with a Pass and a PutItem state) adds two billed state
transitions and an execution start to every message for the same result.

Nothing is lost: a message DynamoDB refuses (an item over 400 KB, a number it cannot store such as NaN
or 1e400, nesting deeper than 32 levels, throttling) makes the rule's error action send AWS's error
message, with the original payload base64-encoded, to this region's encrypted telemetry error queue
(14 days), and an alarm goes off while the queue holds a message.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from builders import arns, iam
from builders.iot_rules import telemetry_sql
from components.context import RegionContext
from components.topic_rule import topic_rule
from components.watched_queue import watched_queue


@dataclass(frozen=True)
class TelemetryArgs:
    context: RegionContext  # its alarm topic is notified when failed messages arrive, and when the queue is empty again
    data_table_name: pulumi.Input[str]


class Telemetry(pulumi.ComponentResource):
    topic_rule: aws.iot.TopicRule
    error_queue: aws.sqs.Queue
    error_alarm: aws.cloudwatch.MetricAlarm

    def __init__(self, name: str, args: TelemetryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("iotmr:regional:Telemetry", name, None, opts)
        n, region, account = args.context.names, args.context.region, args.context.account_id
        self.error_queue, self.error_alarm = watched_queue(
            f"{name}-errors",
            queue_name=n.telemetry_error_queue,
            alarm_name=n.telemetry_error_alarm,
            alarm_description=(f"Device messages {region} could not store wait in {n.telemetry_error_queue} (AWS IoT's "
                               "error-action message, original payload in base64OriginalPayload); see docs/design.md."),
            alarm_topic_arn=args.context.alarm_topic_arn,
            parent=self,
        )
        self.topic_rule = topic_rule(
            f"{name}-rule",
            rule_name=n.telemetry_rule,
            context=args.context,
            description="Stores every device message with the region that received it",
            sql=telemetry_sql(region),
            action_statement=pulumi.Output.from_input(args.data_table_name).apply(lambda table: iam.statement(
                ["dynamodb:PutItem"], [arns.dynamodb_table(region, account, table)], sid="StoreTelemetry")),
            actions=lambda role_arn: {"dynamodbv2s": [aws.iot.TopicRuleDynamodbv2Args(
                role_arn=role_arn,
                put_item=aws.iot.TopicRuleDynamodbv2PutItemArgs(table_name=args.data_table_name),
            )]},
            parent=self,
            error_queue=self.error_queue,
        )
        self.register_outputs({
            "telemetryRuleName": self.topic_rule.name,
            "errorQueueUrl": self.error_queue.url,
            "errorQueueArn": self.error_queue.arn,
        })
