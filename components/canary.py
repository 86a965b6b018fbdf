"""The region's canary and the health check that takes the region out of DNS when it fails.

Every minute a small Lambda connects to this region's own IoT data endpoint with the custom domain as SNI (so it
tests this region's domain configuration, server certificate and TLS policy, whatever DNS answers), subscribes to
and publishes on its own topic, receives its message back, and puts ``<application>/Canary`` ``Success`` 1 or 0
(dimension ``Region``; a failed run of any kind puts 0, never nothing). An alarm on it (3 failed minutes of 3; missing
data = breaching: a canary that stops running fails the region too) is the source of a Route 53 ``CLOUDWATCH_METRIC``
health check (insufficient data = unhealthy) that the region's latency or geolocation record carries
(``components/endpoint.py``), so Route 53 stops sending devices here. The function has reserved concurrency, so a
storm that uses up the region's Lambda concurrency cannot throttle it.

The canary's identity (docs/design.md, "Health-checked failover"):

* its certificate is ``python -m pki issue-device canary-<region>`` (``<pkiDir>/devices/``), registered ACTIVE by the
  program with RegisterCertificateWithoutCA: no JITR event, no inspector, no inventory item, so it is never
  replicated; the inspector refuses the ``canary-`` prefix for every other certificate;
* its private key is stored in Secrets Manager, encrypted with a customer-managed KMS key, written by
  ``components.canary_key.CanaryKeyVersion`` from the PKI folder (the state keeps the file's path and its public
  key's digest, never the key: pulumi-aws's write-only ``secret_string_wo`` is still written to the state's inputs,
  pulumi-terraform-bridge issue 3201), readable only by the canary's role and the deploying principal (identity
  policy plus a Deny for every other principal on the secret, put after the key is written);
* its IoT policy lets it connect as its own thing only and use ``canary/<its thing>`` only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from builders import canary
from components.canary_key import CanaryKeyVersion
from components.config import CANARY_RESERVED_CONCURRENCY, ConfigError
from components.context import RegionContext
from components.function import Function, FunctionArgs

SCHEDULE = "rate(1 minute)"
#: Three failed minutes in a row (3 of 3) put the alarm, hence the health check, in ALARM / unhealthy: one failed run
#: never takes a healthy region out of DNS. 3 of 3 rather than M of N because Route 53 records only EvaluationPeriods,
#: Threshold, ComparisonOperator, Period and Statistic of the alarm (botocore's route53 CloudWatchAlarmConfiguration)
#: and documents nothing about DatapointsToAlarm or TreatMissingData: with DatapointsToAlarm = EvaluationPeriods, a
#: health check that reads the alarm's state and one that evaluates the metric's datapoints itself agree (register row
#: route53.alarm-health-check-reading; docs/design.md, "Health-checked failover"). Every run puts a datapoint, failed
#: ones a 0 (functions/canary/handler.py), so missing data means the canary did not run at all.
DATAPOINTS_TO_ALARM = 3
EVALUATION_PERIODS = 3
PERIOD_SECONDS = 60
#: The function's timeout; the handler's own budget (functions/canary/handler.py) ends well inside it, so a hung call
#: still ends in a 0 datapoint rather than no datapoint.
TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class CanaryMaterial:
    """PEM texts of the canary's identity, read from the PKI folder."""

    certificate_pem: str  # the canary's own certificate
    chain_pem: str  # its certificate, then the intermediate (what it presents)
    key_file: Path  # its private key (read when the key is written into Secrets Manager, never by the program)
    trust_pem: str  # the root the domain's server certificate chains to


def find_canary_material(pki_dir: Path, region: str) -> CanaryMaterial | None:
    """The canary's certificate and key for ``region`` if ``python -m pki issue-device canary-<region>`` wrote them;
    None otherwise (the region then has no canary and its record no health check)."""
    from pki.layout import Layout

    layout = Layout(Path(pki_dir))
    thing = canary.thing_name(region)
    cert, key = layout.device_cert(thing), layout.device_key(thing)
    if not cert.is_file():
        return None
    if not key.is_file():
        raise ConfigError(f"pkiDir: {cert} exists but its key {key} does not; issue it again with "
                          f"`python -m pki issue-device {thing} --out {pki_dir} --force`")
    key_pem = key.read_text(encoding="ascii")
    if "ENCRYPTED" in key_pem:
        raise ConfigError(f"pkiDir: {key} is passphrase-protected; the canary needs an unencrypted key (it is "
                          "stored encrypted in Secrets Manager): issue it without a passphrase")
    certificate = cert.read_text(encoding="ascii")
    intermediate = layout.intermediate_cert.read_text(encoding="ascii")
    return CanaryMaterial(certificate_pem=certificate, chain_pem=certificate.rstrip("\n") + "\n" + intermediate,
                          key_file=key.resolve(), trust_pem=layout.root_cert.read_text(encoding="ascii"))


@dataclass(frozen=True)
class CanaryArgs:
    context: RegionContext
    domain_name: str
    endpoint_address: pulumi.Input[str]  # the region's iot:Data-ATS endpoint (TCP target; SNI is the domain)
    material: CanaryMaterial
    # Lambda concurrency kept for the canary alone (config canaryReservedConcurrency): an onboarding storm that uses
    # up the region's unreserved concurrency cannot throttle it and so cannot take a healthy region out of DNS.
    reserved_concurrency: int = CANARY_RESERVED_CONCURRENCY


class Canary(pulumi.ComponentResource):
    alarm: aws.cloudwatch.MetricAlarm
    health_check: aws.route53.HealthCheck
    function: Function

    def __init__(self, name: str, args: CanaryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("iotmr:regional:Canary", name, None, opts)
        n, region, account = args.context.names, args.context.region, args.context.account_id
        child = pulumi.ResourceOptions(parent=self)
        thing_name = canary.thing_name(region)
        namespace = canary.metric_namespace(n.application)

        key = aws.kms.Key(f"{name}-key", description=f"Encrypts the {region} canary's private key",
                          enable_key_rotation=True, deletion_window_in_days=7, opts=child)
        secret = aws.secretsmanager.Secret(f"{name}-secret", name=n(f"canary-key-{region}"), kms_key_id=key.arn,
                                           description="The canary's MQTT client private key (PEM)",
                                           recovery_window_in_days=7, opts=child)
        key_version = CanaryKeyVersion(f"{name}-secret-value", secret_arn=secret.arn, region=region,
                                       key_file=args.material.key_file, opts=child)
        # Who runs `pulumi up/refresh/destroy` (for an assumed role, the role: what aws:PrincipalArn carries).
        deployer = aws.iam.get_session_context_output(
            arn=aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self)).arn,
            opts=pulumi.InvokeOptions(parent=self)).issuer_arn

        certificate = aws.iot.Certificate(f"{name}-certificate", certificate_pem=args.material.certificate_pem,
                                          active=True, opts=child)
        thing = aws.iot.Thing(f"{name}-thing", name=thing_name, opts=child)
        aws.iot.ThingPrincipalAttachment(f"{name}-thing-certificate", thing=thing.name, principal=certificate.arn,
                                         opts=child)
        policy = aws.iot.Policy(f"{name}-policy", name=n("canary"),
                                policy=json.dumps(canary.iot_policy(region, account, thing_name)), opts=child)
        attachment = aws.iot.PolicyAttachment(f"{name}-policy-certificate", policy=policy.name,
                                              target=certificate.arn, opts=child)

        environment = {
            "ENDPOINT_HOST": args.endpoint_address, "ENDPOINT_PORT": "8883", "SERVER_NAME": args.domain_name,
            "CLIENT_ID": thing_name, "TOPIC": canary.topic(thing_name), "CERTIFICATE_PEM": args.material.chain_pem,
            "TRUST_PEM": args.material.trust_pem, "KEY_SECRET_ARN": secret.arn, "METRIC_NAMESPACE": namespace,
            "METRIC_REGION": region,
        }
        self.function = Function(f"{name}-function", FunctionArgs(
            function_name=n("canary"), handler="canary.handler.handler",
            description="Probes this region's custom-domain MQTT endpoint and puts the Success metric",
            context=args.context,
            policy=lambda log_group_arn: pulumi.Output.all(secret.arn, key.arn).apply(
                lambda v: canary.role_policy(region=region, secret_arn=v[0], kms_key_arn=v[1], namespace=namespace,
                                             log_group_arn=log_group_arn)),
            environment=environment, timeout=TIMEOUT_SECONDS, memory_size=128,
            reserved_concurrency=args.reserved_concurrency,
            depends_on=[attachment, key_version]), opts=child)
        aws.secretsmanager.SecretPolicy(
            f"{name}-secret-policy", secret_arn=secret.arn,
            policy=pulumi.Output.all(self.function.function.role, deployer).apply(
                lambda v: json.dumps(canary.secret_policy(v[0], v[1]))),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[key_version]))

        schedule = aws.cloudwatch.EventRule(f"{name}-schedule", name=n("canary"), schedule_expression=SCHEDULE,
                                            description="Runs the canary every minute", opts=child)
        aws.cloudwatch.EventTarget(f"{name}-target", rule=schedule.name, arn=self.function.arn, opts=child)
        aws.lambda_.Permission(f"{name}-invoke", action="lambda:InvokeFunction",
                               function=self.function.function.name, principal="events.amazonaws.com",
                               source_arn=schedule.arn, source_account=account, opts=child)

        actions = [args.context.alarm_topic_arn] if args.context.alarm_topic_arn else []
        self.alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-alarm", name=n("canary"),
            alarm_description=(f"The {region} canary could not publish and receive through {args.domain_name} (or did "
                               "not run): Route 53 stops answering this region (docs/design.md)."),
            namespace=namespace, metric_name=canary.METRIC_NAME, dimensions={canary.DIMENSION: region},
            statistic="Minimum", period=PERIOD_SECONDS, evaluation_periods=EVALUATION_PERIODS,
            datapoints_to_alarm=DATAPOINTS_TO_ALARM, threshold=1,
            comparison_operator="LessThanThreshold", treat_missing_data="breaching",
            alarm_actions=actions, ok_actions=actions, opts=child)
        self.health_check = aws.route53.HealthCheck(
            f"{name}-health-check", type="CLOUDWATCH_METRIC", cloudwatch_alarm_name=self.alarm.name,
            cloudwatch_alarm_region=region, insufficient_data_health_status="Unhealthy", tags={"Name": n(thing_name)}, opts=child)
        self.register_outputs({"healthCheckId": self.health_check.id, "alarmName": self.alarm.name,
                               "functionName": self.function.function.name, "thingName": thing.name})
