"""Records devices AWS IoT provisioned itself (JITP) in the inventory: a topic rule on our CA's
certificate-registered events starting the recorder machine (``builders/asl/provisioned.py``)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from builders import iam
from builders.asl import provisioned
from builders.iot_rules import jitr_sql, rule_name
from components.context import RegionContext
from components.naming import Names
from components.state_machine import StateMachine, StateMachineArgs
from components.topic_rule import topic_rule


def recorder_machine_name(names: Names) -> str:
    return names("jitp-recorder")


def recorder_rule_name(names: Names) -> str:
    return rule_name(names.application, "jitp")


@dataclass(frozen=True)
class ProvisionedRecorderArgs:
    context: RegionContext
    ca_certificate_id: pulumi.Input[str]
    inventory_table_name: pulumi.Input[str]
    event_bus_name: str


class ProvisionedRecorder(pulumi.ComponentResource):
    state_machine: StateMachine
    topic_rule: aws.iot.TopicRule

    def __init__(self, name: str, args: ProvisionedRecorderArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("iotmr:regional:ProvisionedRecorder", name, None, opts)
        n, region, account = args.context.names, args.context.region, args.context.account_id
        table = pulumi.Output.from_input(args.inventory_table_name)
        self.state_machine = StateMachine(
            f"{name}-machine",
            StateMachineArgs(
                machine_name=recorder_machine_name(n),
                definition=table.apply(lambda t: provisioned.definition(
                    inventory_table=t, event_bus_name=args.event_bus_name, source=n.event_source)),
                resources=table.apply(lambda t: iam.StateMachineResources(
                    region, account, n.device_policy, inventory_table_name=t, event_bus_name=args.event_bus_name)),
                context=args.context,
                description="Records a device JITP provisioned in the inventory, so every region gets it",
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.topic_rule = topic_rule(
            f"{name}-rule",
            rule_name=recorder_rule_name(n),
            context=args.context,
            description="Certificates of our CA registered by JITP start the recorder",
            sql=pulumi.Output.from_input(args.ca_certificate_id).apply(jitr_sql),
            action_statement=self.state_machine.arn.apply(
                lambda arn: iam.statement(["states:StartExecution"], [arn], sid="StartRecorder")),
            actions=lambda role_arn: {"step_functions": [aws.iot.TopicRuleStepFunctionArgs(
                state_machine_name=self.state_machine.machine.name,
                role_arn=role_arn,
                execution_name_prefix="jitp",
            )]},
            parent=self,
        )
        self.register_outputs({"provisionedRecorderStateMachineArn": self.state_machine.arn})
