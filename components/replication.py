"""Replication of devices into this region, and decommissioning, driven by this region's own
replica stream of the inventory table (never another region's, and no cross-region call).

Nothing is lost: what the pipe or the two rule targets give up on, and every replicate/decommission
execution that ends without succeeding, lands in one encrypted SQS dead-letter queue per region,
watched by an alarm. The pipe sends there with its execution role; EventBridge sends for the two
bus rules and the default-bus failed-executions rule through the queue's resource policy, which
names exactly those three rules."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import TypedDict

import pulumi
import pulumi_aws as aws

from builders import arns, failures, iam, inventory
from builders.asl import decommission, replication
from components.context import RegionContext
from components.pacing import REPLICATION_HORIZON_SECONDS, Pacing
from components.roles import service_role
from components.state_machine import StateMachine, StateMachineArgs
from components.watched_queue import watched_queue


class _MachineNames(TypedDict):
    """The keyword arguments both state machine definitions take."""
    inventory_table: str
    device_policy_name: str
    event_bus_name: str
    source: str


@dataclass(frozen=True)
class ReplicationArgs:
    # Its alarm topic is notified when dead letters arrive, and when the queue is empty again. While the region retires
    # (config `retiring`) the pipe is STOPPED, so no replication attaches the device policy here any more (README,
    # "Removing a region").
    context: RegionContext
    event_bus: aws.cloudwatch.EventBus
    inventory_stream_arn: pulumi.Input[str]
    batch_size: int = 10
    pacing: Pacing | None = None  # replication's throttled calls wait for a slot (docs/design.md, "Onboarding storms")


class Replication(pulumi.ComponentResource):
    pipe: aws.pipes.Pipe
    replicate: StateMachine
    decommission: StateMachine
    dead_letter_queue: aws.sqs.Queue
    dead_letter_alarm: aws.cloudwatch.MetricAlarm

    def __init__(self, name: str, args: ReplicationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("iotmr:regional:Replication", name, None, opts)
        n, region, account = args.context.names, args.context.region, args.context.account_id
        bus_name = n.event_bus
        bus_arn = arns.event_bus(region, account, bus_name)

        # A dead letter is replication work not done in this region: someone must look at it.
        self.dead_letter_queue, self.dead_letter_alarm = watched_queue(
            f"{name}-dlq",
            queue_name=n.replication_dead_letter_queue,
            alarm_name=n.replication_dead_letter_alarm,
            alarm_description=(f"Replication or decommissioning work in {region} was given up on and waits in "
                               f"{n.replication_dead_letter_queue}; fix the cause, then redrive (docs/design.md)."),
            alarm_topic_arn=args.context.alarm_topic_arn,
            parent=self,
        )
        dlq_arn = self.dead_letter_queue.arn

        pipe_role = service_role(
            f"{name}-pipe",
            service="pipes",
            account_id=account,
            source_arn=arns.pipe(region, account, n.pipe),
            policy=pulumi.Output.all(args.inventory_stream_arn, dlq_arn).apply(
                lambda v: iam.pipe_policy(v[0], bus_arn, v[1])),
            parent=self,
            description="Lets the inventory pipe read its stream, put events on the device bus and "
                        "dead-letter what it gives up on",
        )
        # The filter drops, before any event is billed, every change that needs no work here:
        # writes whose origin is this region (JITR already did the work) and no-op changes.
        self.pipe = aws.pipes.Pipe(
            f"{name}-pipe",
            name=n.pipe,
            description="Inventory changes that need work in this region, onto the device bus",
            role_arn=pipe_role.arn,
            source=args.inventory_stream_arn,
            source_parameters=aws.pipes.PipeSourceParametersArgs(
                dynamodb_stream_parameters=aws.pipes.PipeSourceParametersDynamodbStreamParametersArgs(
                    starting_position="LATEST",
                    batch_size=args.batch_size,
                    maximum_retry_attempts=10,
                    dead_letter_config=aws.pipes.PipeSourceParametersDynamodbStreamParametersDeadLetterConfigArgs(
                        arn=dlq_arn),
                ),
                filter_criteria=aws.pipes.PipeSourceParametersFilterCriteriaArgs(
                    filters=[aws.pipes.PipeSourceParametersFilterCriteriaFilterArgs(pattern=json.dumps(p))
                             for p in inventory.pipe_filters(region)],
                ),
            ),
            target=args.event_bus.arn,
            desired_state="STOPPED" if args.context.retiring else "RUNNING",
            target_parameters=aws.pipes.PipeTargetParametersArgs(
                eventbridge_event_bus_parameters=aws.pipes.PipeTargetParametersEventbridgeEventBusParametersArgs(
                    source=n.event_source,
                    detail_type=inventory.DETAIL_TYPE,
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=pipe_role.ready()),
        )

        common = _MachineNames(inventory_table=n.inventory_table, device_policy_name=n.device_policy,
                               event_bus_name=bus_name, source=n.event_source)
        machine_resources = iam.StateMachineResources(region, account, n.device_policy,
                                                      inventory_table_name=n.inventory_table, event_bus_name=bus_name)
        pacing = args.pacing
        if pacing is None:
            replicate_definition: pulumi.Input[dict] = replication.definition(**common)
            replicate_resources: pulumi.Input[iam.StateMachineResources] = machine_resources
        else:
            replicate_definition = pacing.function.arn.apply(lambda arn: replication.definition(
                **common, pacer=pacing.pacer(arn, REPLICATION_HORIZON_SECONDS)))
            replicate_resources = pacing.function.arn.apply(lambda arn: dataclasses.replace(
                machine_resources, pacer_function_arn=arn))
        machines = {}
        for purpose, machine_name, definition, resources, description in (
            ("replicate", n.replication_state_machine, replicate_definition, replicate_resources,
             "Registers a device first seen in another region"),
            ("decommission", n.decommission_state_machine, decommission.definition(**common), machine_resources,
             "Revokes a decommissioned device and removes it from this region"),
        ):
            machines[purpose] = StateMachine(
                f"{name}-{purpose}",
                StateMachineArgs(
                    machine_name=machine_name,
                    definition=definition,
                    resources=resources,
                    context=args.context,
                    description=description,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.replicate, self.decommission = machines["replicate"], machines["decommission"]

        rules = {}
        for purpose, pattern in (
            ("replicate", inventory.replicate_rule_pattern(n.event_source)),
            ("decommission", inventory.decommission_rule_pattern(n.event_source)),
        ):
            rules[purpose] = aws.cloudwatch.EventRule(
                f"{name}-{purpose}-rule",
                name=n(purpose),
                event_bus_name=args.event_bus.name,
                event_pattern=json.dumps(pattern),
                opts=pulumi.ResourceOptions(parent=self),
            )
        # A replicate/decommission execution that fails after its retries is work not done here too:
        # Step Functions reports it on the default bus, and this rule puts that event in the queue.
        failed_rule_name = n.failed_executions_rule
        machine_arns = [arns.state_machine(region, account, m) for m in
                        (n.replication_state_machine, n.decommission_state_machine)]
        failed_rule = aws.cloudwatch.EventRule(
            f"{name}-failed-executions-rule",
            name=failed_rule_name,
            event_bus_name="default",
            description="Replicate/decommission executions that failed, timed out or were aborted, into the DLQ",
            event_pattern=json.dumps(failures.failed_execution_pattern(machine_arns)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        rule_arns = [arns.event_rule(region, account, bus_name, n(purpose)) for purpose in rules]
        rule_arns.append(arns.event_rule(region, account, "default", failed_rule_name))
        dlq_policy = aws.sqs.QueuePolicy(
            f"{name}-dlq-policy",
            queue_url=self.dead_letter_queue.url,
            policy=dlq_arn.apply(
                lambda arn: json.dumps(iam.dead_letter_queue_policy(arn, account, rule_arns), sort_keys=True)),
            opts=pulumi.ResourceOptions(parent=self.dead_letter_queue),
        )

        aws.cloudwatch.EventTarget(
            f"{name}-failed-executions-target",
            rule=failed_rule.name,
            event_bus_name="default",
            arn=dlq_arn,
            opts=pulumi.ResourceOptions(parent=failed_rule, depends_on=[dlq_policy]),
        )

        input_paths, input_template = inventory.item_input_transformer()
        for purpose, machine in (("replicate", self.replicate), ("decommission", self.decommission)):
            rule, rule_name = rules[purpose], n(purpose)
            target_role = service_role(
                f"{name}-{purpose}-target",
                service="events",
                account_id=account,
                source_arn=arns.event_rule(region, account, bus_name, rule_name),
                policy=machine.arn.apply(lambda arn: iam.start_execution_policy([arn])),
                parent=self,
                description=f"Lets the {rule_name} rule start its state machine",
            )
            aws.cloudwatch.EventTarget(
                f"{name}-{purpose}-target",
                rule=rule.name,
                event_bus_name=args.event_bus.name,
                arn=machine.arn,
                role_arn=target_role.arn,
                input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                    input_paths=input_paths, input_template=input_template),
                retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                    maximum_event_age_in_seconds=86400, maximum_retry_attempts=185),
                dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=dlq_arn),
                opts=pulumi.ResourceOptions(parent=rule, depends_on=[*target_role.ready(), dlq_policy]),
            )
        self.register_outputs({
            "pipeArn": self.pipe.arn,
            "replicationStateMachineArn": self.replicate.arn,
            "decommissionStateMachineArn": self.decommission.arn,
            "deadLetterQueueUrl": self.dead_letter_queue.url,
            "deadLetterQueueArn": dlq_arn,
        })
