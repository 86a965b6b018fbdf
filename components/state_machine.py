"""A Standard state machine with its own least-privilege role and log group.

The role's permissions are derived from the definition itself (``sdk_actions``), so a task added
to a definition without a matching resource mapping fails the program instead of widening IAM.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from builders import arns, iam
from builders.asl.common import sdk_actions
from components.context import RegionContext
from components.naming import Names
from components.roles import service_role


@dataclass(frozen=True)
class StateMachineArgs:
    machine_name: str
    definition: pulumi.Input[dict]
    resources: pulumi.Input[iam.StateMachineResources]
    context: RegionContext  # its log group's retention and its execution log level
    description: str


class StateMachine(pulumi.ComponentResource):
    machine: aws.sfn.StateMachine
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: StateMachineArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("iotmr:regional:StateMachine", name, None, opts)
        resources = pulumi.Output.from_input(args.resources)
        definition = pulumi.Output.from_input(args.definition)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=Names.state_machine_log_group(args.machine_name),
            retention_in_days=args.context.log_retention_days,
            opts=pulumi.ResourceOptions(parent=self),
        )
        region_account = resources.apply(lambda r: (r.region, r.account_id))
        role = service_role(
            name,
            service="states",
            account_id=resources.apply(lambda r: r.account_id),
            source_arn=region_account.apply(lambda ra: arns.state_machine(ra[0], ra[1], args.machine_name)),
            policy=pulumi.Output.all(definition, resources).apply(
                lambda v: iam.state_machine_policy(sdk_actions(v[0]), v[1])),
            parent=self,
            description=f"Runs the {args.machine_name} state machine: {args.description}",
        )
        self.machine = aws.sfn.StateMachine(
            name,
            name=args.machine_name,
            type="STANDARD",
            role_arn=role.arn,
            definition=definition.apply(lambda d: json.dumps(d, indent=1)),
            logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                level=args.context.state_machine_log_level,
                include_execution_data=True,
                log_destination=log_group.arn.apply(lambda a: f"{a}:*"),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=role.ready()),
        )
        self.arn = self.machine.arn
        self.register_outputs({"arn": self.arn, "name": self.machine.name})
