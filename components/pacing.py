"""The pacer of one region: its queue table and Lambda (docs/design.md, "Onboarding storms").

A call AWS throttles takes the next free slot on its API's queue and waits for it in a Wait state
(builders/asl/pacing.py); the JITR and replication machines of the region share one queue per API, as they share the
account's quota."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from builders import iam
from builders.asl.pacing import Pacer
from components.context import RegionContext
from components.function import Function, FunctionArgs

#: How far ahead a JITR execution accepts a slot: shorter than its registration lease (20 minutes,
#: functions/certificate_inspector/lease.py), so a waiting holder is never overtaken by a duplicate. Beyond it the
#: certificate stays PENDING_ACTIVATION and the device's next connection tries again.
JITR_HORIZON_SECONDS = 15 * 60
#: Replication has no device to retry it: it waits as long as a backlog can last (a new region's backfill of a
#: large fleet at 10 RegisterCertificate/s: about 28 hours per million devices) rather than dead-letter the work.
REPLICATION_HORIZON_SECONDS = 48 * 3600


@dataclass(frozen=True)
class PacingArgs:
    context: RegionContext
    rates: Mapping[str, float]  # "iot:AttachPolicy" -> calls per second the account's quota admits here


class Pacing(pulumi.ComponentResource):
    table: aws.dynamodb.Table
    function: Function

    def __init__(self, name: str, args: PacingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("iotmr:regional:Pacing", name, None, opts)
        n, region, account = args.context.names, args.context.region, args.context.account_id
        child = pulumi.ResourceOptions(parent=self)
        self.rates = dict(args.rates)
        # One item per API (its next free slot). Regional: quotas are per account and region.
        self.table = aws.dynamodb.Table(
            f"{name}-queues", name=n.pacing_table, hash_key="Api",
            attributes=[aws.dynamodb.TableAttributeArgs(name="Api", type="S")],
            billing_mode="PAY_PER_REQUEST",
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            opts=child)
        table_name = self.table.name
        self.function = Function(
            f"{name}-pacer",
            FunctionArgs(
                function_name=n.pacer_function,
                handler="pacer.handler.handler",
                description="Gives a throttled AWS call the next free slot of its API's queue in this region",
                context=args.context,
                policy=lambda log_group_arn: table_name.apply(
                    lambda table: iam.lambda_pacer_policy(region, account, table, log_group_arn)),
                environment={"PACING_TABLE": table_name},
                timeout=5,
                memory_size=128,
            ),
            opts=child,
        )
        self.register_outputs({"pacingTable": table_name, "pacerFunctionArn": self.function.arn})

    def pacer(self, function_arn: str, horizon_seconds: int) -> Pacer:
        """What a state machine builder needs, once the function's ARN is known (inside an ``apply``)."""
        return Pacer(function_arn=function_arn, rates=self.rates, horizon_seconds=horizon_seconds)
