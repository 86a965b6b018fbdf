"""Just-in-time registration in one region: the CA (auto-registration on), the device policy, the
topic rule on certificate-registered events, the certificate revocation list, the certificate inspector and the
JITR machine."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from builders import iam
from builders.asl import jitr
from builders.iot_policy import device_policy
from builders.iot_rules import jitr_sql
from components.alarms import above_zero_alarm
from components.context import RegionContext
from components.function import Function, FunctionArgs
from components.pacing import JITR_HORIZON_SECONDS, Pacing
from components.revocation_list import RevocationList, RevocationListArgs
from components.state_machine import StateMachine, StateMachineArgs
from components.topic_rule import topic_rule
from contract import items


@dataclass(frozen=True)
class RegistrationArgs:
    # Its alarm topic is notified while registrations fail. While the region retires (config `retiring`, README
    # "Removing a region"): CA auto-registration off and the JITR rule disabled, so no new certificate gets the device
    # policy here.
    context: RegionContext
    ca_certificate_pem: str
    inventory_table_name: pulumi.Input[str]
    event_bus_name: str
    crl_file: Path | None = None  # <pkiDir>/crl.pem when `pki revoke` wrote one (components/revocation_list.py)
    # provisioning = jitp: the CA carries the JITP template and role (components/provisioning_role.py), and no JITR
    # rule listens to its registrations (both would act on the same auto-registration: docs/design.md).
    registration_config: aws.iot.CaCertificateRegistrationConfigArgs | None = None
    jitr: bool = True
    pacing: Pacing | None = None  # throttled calls wait for a slot (docs/design.md, "Onboarding storms")


#: AWS/States ExecutionsFailed of the JITR machine, summed over this many seconds, above 0 raises the alarm.
JITR_FAILURE_PERIOD_SECONDS = 300


class Registration(pulumi.ComponentResource):
    ca_certificate: aws.iot.CaCertificate
    device_policy: aws.iot.Policy
    state_machine: StateMachine
    lease_table: aws.dynamodb.Table
    topic_rule: aws.iot.TopicRule | None
    revocation_list: RevocationList
    failure_alarm: aws.cloudwatch.MetricAlarm

    def __init__(self, name: str, args: RegistrationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("iotmr:regional:Registration", name, None, opts)
        ctx = args.context
        n, region, account = ctx.names, ctx.region, ctx.account_id
        child = pulumi.ResourceOptions(parent=self)

        # SNI_ONLY: no verification certificate, and the same CA may be registered in many regions
        # and accounts. Auto-registration makes a device's first connection register its
        # certificate as PENDING_ACTIVATION and publish the event JITR listens to.
        self.ca_certificate = aws.iot.CaCertificate(
            f"{name}-ca",
            ca_certificate_pem=args.ca_certificate_pem,
            certificate_mode="SNI_ONLY",
            active=True,
            allow_auto_registration=not ctx.retiring,
            registration_config=args.registration_config,
            opts=child,
        )
        # No aws.iot.EventConfigurations: the JITR event ($aws/events/certificates/registered/<caId>) is published
        # whenever a certificate is auto-registered or presented PENDING_ACTIVATION (AWS IoT developer guide, JITR);
        # the event configurations govern the registry events, and setting them would overwrite the whole
        # account-and-region setting on every `pulumi up` (docs/design.md, "Events and inputs").
        self.device_policy = aws.iot.Policy(
            f"{name}-device-policy",
            name=n.device_policy,
            policy=json.dumps(device_policy(region, account)),
            opts=child,
        )

        self.revocation_list = RevocationList(f"{name}-crl", RevocationListArgs(
            context=ctx, ca_certificate_pem=args.ca_certificate_pem, crl_file=args.crl_file), opts=child)
        crl = self.revocation_list

        # One JITR execution per certificate at a time (functions/certificate_inspector/lease.py): regional, since a
        # registration event and its duplicates arrive in one region. TTL only tidies; expiry is in the condition.
        self.lease_table = aws.dynamodb.Table(
            f"{name}-registration-leases", name=n.registration_lease_table, hash_key=items.LEASE_KEY,
            attributes=[aws.dynamodb.TableAttributeArgs(name=items.LEASE_KEY, type="S")],
            billing_mode="PAY_PER_REQUEST",
            ttl=aws.dynamodb.TableTtlArgs(attribute_name=items.LEASE_EXPIRES, enabled=True),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            opts=child)
        leases = self.lease_table.name

        inspector = Function(
            f"{name}-inspector",
            FunctionArgs(
                function_name=n.inspector_function,
                handler="certificate_inspector.handler.handler",
                description="Reads a newly registered device certificate: thing name, issuer, inventory status",
                context=ctx,
                policy=lambda log_group_arn: pulumi.Output.all(args.inventory_table_name, leases).apply(
                    lambda t: iam.lambda_inspector_policy(region, account, t[0], log_group_arn, crl.object_arn,
                                                          lease_table_name=t[1])),
                environment={
                    "INVENTORY_TABLE": args.inventory_table_name,
                    "REGISTRATION_LEASE_TABLE": leases,
                    "EXPECTED_CA_CERTIFICATE_ID": self.ca_certificate.id,
                    **crl.environment,
                },
                # The inspector fails closed while its configured CRL cannot be read: upload it first.
                depends_on=[crl.object] if crl.object is not None else [],
            ),
            opts=child,
        )

        pacing = args.pacing
        pacer_arn = pacing.function.arn if pacing is not None else None
        definition = pulumi.Output.all(inspector.arn, args.inventory_table_name, leases, pacer_arn).apply(
            lambda v: jitr.definition(inspector_function_arn=v[0], inventory_table=v[1],
                                      device_policy_name=n.device_policy, event_bus_name=args.event_bus_name,
                                      source=n.event_source, lease_table=v[2],
                                      pacer=pacing.pacer(v[3], JITR_HORIZON_SECONDS) if pacing else None))
        self.state_machine = StateMachine(
            f"{name}-jitr",
            StateMachineArgs(
                machine_name=n.jitr_state_machine,
                definition=definition,
                resources=pulumi.Output.all(inspector.arn, args.inventory_table_name, leases, pacer_arn).apply(
                    lambda v: iam.StateMachineResources(region, account, n.device_policy,
                                                        inventory_table_name=v[1],
                                                        event_bus_name=args.event_bus_name,
                                                        function_arn=v[0], lease_table_name=v[2],
                                                        pacer_function_arn=v[3])),
                context=ctx,
                description="Activates a device certificate on first connection",
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.device_policy]),
        )

        self.topic_rule = None if not args.jitr else topic_rule(
            f"{name}-jitr-rule",
            rule_name=n.jitr_rule,
            context=ctx,
            description="Certificates of our CA auto-registered and pending activation start JITR",
            # Every event starts an execution; duplicates end at the inspector's lease (builders.iot_rules.jitr_sql).
            sql=self.ca_certificate.id.apply(jitr_sql),
            action_statement=self.state_machine.arn.apply(
                lambda arn: iam.statement(["states:StartExecution"], [arn], sid="StartJitr")),
            actions=lambda role_arn: {"step_functions": [aws.iot.TopicRuleStepFunctionArgs(
                state_machine_name=self.state_machine.machine.name,
                role_arn=role_arn,
                execution_name_prefix="jitr",
            )]},
            parent=self,
            enabled=not ctx.retiring,
        )
        # A failed registration is retried by the device's next connection (docs/design.md), so it needs no
        # dead-letter queue; but registrations that keep failing (a broken inspector, throttling, impostors) are
        # for someone to look at.
        self.failure_alarm = above_zero_alarm(
            f"{name}-jitr-failures",
            alarm_name=n.jitr_failure_alarm,
            description=(f"Just-in-time registrations failed in {region}: impostors, certificates refused, or "
                         "faults the devices' reconnections retry; see the JITR machine's failed executions."),
            namespace="AWS/States",
            metric_name="ExecutionsFailed",
            dimensions={"StateMachineArn": self.state_machine.arn},
            statistic="Sum",
            topic_arn=ctx.alarm_topic_arn,
            period_seconds=JITR_FAILURE_PERIOD_SECONDS,
            opts=pulumi.ResourceOptions(parent=self.state_machine),
        )
        self.register_outputs({
            "caCertificateId": self.ca_certificate.id,
            "devicePolicyName": self.device_policy.name,
            "jitrStateMachineArn": self.state_machine.arn,
            "inspectorFunctionArn": inspector.arn,
            "crlBucket": self.revocation_list.bucket.bucket,
        })
