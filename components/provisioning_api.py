"""The provisioning API in one region: an HTTP API (API Gateway v2) on ``provision.<domain>`` in front of the
provisioning function, with its nonce table, access logs and throttling (docs/design.md, "The provisioning API").

Every region runs one, behind a latency-routed record like the device endpoint's, so provisioning survives the
loss of a region. The function provisions in its own region only and writes the inventory; replication carries the
device to every other region.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_aws as aws

from builders import iam
from components.config import ConfigError, ProvisioningApiSettings
from components.context import RegionContext
from components.function import Function, FunctionArgs
from contract import items

#: Stage throttling (requests per second, burst): provisioning is rare; a flood is refused before the function runs.
THROTTLE_RATE, THROTTLE_BURST = 10, 20
ROUTE = "POST /provision"
#: Access log fields: who, what, outcome; never the body (signatures, CSRs, keys) or headers.
ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "sourceIp": "$context.identity.sourceIp", "time": "$context.requestTime",
    "routeKey": "$context.routeKey", "status": "$context.status", "responseLength": "$context.responseLength",
    "integrationError": "$context.integrationErrorMessage", "userAgent": "$context.identity.userAgent",
})


def _target(configuration: Any) -> str:
    """The regional API Gateway host behind the custom domain (an output object, or a dict under some mocks)."""
    if isinstance(configuration, dict):  # None only under mocks that do not invent it
        return cast(str, configuration.get("target_domain_name") or configuration.get("targetDomainName"))
    return configuration.target_domain_name


def hostname(domain_name: str) -> str:
    return f"provision.{domain_name}"


@dataclass(frozen=True)
class ProvisioningApiArgs:
    # While the region retires (config `retiring`): no latency record, so no device reaches this region's API.
    context: RegionContext
    settings: ProvisioningApiSettings
    regions: Sequence[str]
    primary_region: str
    domain_name: str
    hosted_zone_id: str
    inventory_table_name: pulumi.Input[str]
    allow_list_table_name: pulumi.Input[str] | None
    device_policy_name: pulumi.Input[str]
    ca_certificate_id: pulumi.Input[str]
    trust_anchor_pem: str
    # None: this stack (the primary) writes the ACM validation record; else the primary's record FQDNs.
    validation_record_fqdns: pulumi.Input[Sequence[str]] | None = None


class ProvisioningApi(pulumi.ComponentResource):
    url: pulumi.Output[str]
    validation_record_fqdns: pulumi.Output[Sequence[str]]

    def __init__(self, name: str, args: ProvisioningApiArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("iotmr:regional:ProvisioningApi", name, None, opts)
        s, n, region, account = args.settings, args.context.names, args.context.region, args.context.account_id
        child = pulumi.ResourceOptions(parent=self)
        default_region = s.default_region or args.primary_region
        if default_region not in args.regions:
            raise ConfigError(f"provisioningDefaultRegion = {default_region!r} is not one of the regions "
                              f"{list(args.regions)}; `pulumi config set provisioningDefaultRegion {args.primary_region}`.")
        if args.allow_list_table_name is None:
            raise ConfigError("the primary stack exports no allowListTableName (deployed by an older version of this "
                              "program): run `pulumi up` on the primary first, then this stack.")
        host = hostname(args.domain_name)

        nonces = aws.dynamodb.Table(
            f"{name}-nonces", name=n.provisioning_nonce_table, hash_key=items.NONCE_KEY,
            attributes=[aws.dynamodb.TableAttributeArgs(name=items.NONCE_KEY, type="S")],
            billing_mode="PAY_PER_REQUEST",
            ttl=aws.dynamodb.TableTtlArgs(attribute_name=items.NONCE_EXPIRES, enabled=True),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            # Not protected: its items expire within 2 x the signature window and mean nothing without this
            # region's API, so `pulumi destroy` of the region's stack (README, "Removing a region") must delete it.
            # Only the primary's global tables hold data that cannot be rebuilt (docs/design.md).
            deletion_protection_enabled=False, opts=child)

        environment = {
            "INVENTORY_TABLE": args.inventory_table_name, "ALLOW_LIST_TABLE": args.allow_list_table_name,
            "NONCE_TABLE": nonces.name, "DEVICE_POLICY_NAME": args.device_policy_name,
            "CA_CERTIFICATE_ID": args.ca_certificate_id, "CA_SIGNING_KEY_ARN": s.signing_key_arn,
            "TRUST_ANCHOR_PEM": args.trust_anchor_pem, "DEVICE_ENDPOINT": args.domain_name,
            "REGIONS": ",".join(args.regions), "DEFAULT_REGION": default_region,
        }
        if s.geolocation_bucket:
            environment.update(GEOLOCATION_BUCKET=s.geolocation_bucket, GEOLOCATION_KEY=s.geolocation_key or "")

        def policy(log_group_arn: str) -> pulumi.Output[dict]:
            return pulumi.Output.all(args.inventory_table_name, args.allow_list_table_name, nonces.name,
                                     args.device_policy_name, args.ca_certificate_id).apply(
                lambda v: iam.provisioning_api_policy(iam.ProvisioningApiResources(
                    region, account, v[0], v[1], v[2], v[3], v[4], s.signing_key_arn, log_group_arn,
                    s.geolocation_object_arn)))

        function = Function(f"{name}-function", FunctionArgs(
            function_name=n.provisioning_function, handler="provisioning_api.handler.handler",
            description="Provisions an allow-listed device from a request signed with its own key",
            context=args.context, policy=policy, environment=environment, timeout=30), opts=child)

        api = aws.apigatewayv2.Api(f"{name}-api", name=n("provisioning"), protocol_type="HTTP",
                                   description="Device provisioning (signed requests from allow-listed devices)",
                                   disable_execute_api_endpoint=True, opts=child)
        integration = aws.apigatewayv2.Integration(
            f"{name}-integration", api_id=api.id, integration_type="AWS_PROXY", integration_uri=function.function.arn,
            integration_method="POST", payload_format_version="2.0", timeout_milliseconds=29000, opts=child)
        route = aws.apigatewayv2.Route(f"{name}-route", api_id=api.id, route_key=ROUTE,
                                       target=integration.id.apply(lambda i: f"integrations/{i}"), opts=child)
        access_logs = aws.cloudwatch.LogGroup(f"{name}-access-logs", name=f"/aws/apigateway/{n('provisioning')}",
                                              retention_in_days=args.context.log_retention_days, opts=child)
        stage = aws.apigatewayv2.Stage(
            f"{name}-stage", api_id=api.id, name="$default", auto_deploy=True,
            default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
                throttling_rate_limit=THROTTLE_RATE, throttling_burst_limit=THROTTLE_BURST),
            access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
                destination_arn=access_logs.arn, format=ACCESS_LOG_FORMAT),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[route]))
        aws.lambda_.Permission(
            f"{name}-invoke", action="lambda:InvokeFunction", function=function.function.name,
            principal="apigateway.amazonaws.com", source_account=account,  # the ARN names any stage: pin the account
            source_arn=api.execution_arn.apply(lambda a: f"{a}/*/{ROUTE.replace(' ', '')}"), opts=child)

        certificate = aws.acm.Certificate(f"{name}-certificate", domain_name=host, validation_method="DNS", opts=child)
        if args.validation_record_fqdns is None:
            option = certificate.domain_validation_options.apply(lambda o: o[0])
            record = aws.route53.Record(
                f"{name}-validation-record", zone_id=args.hosted_zone_id,
                name=option.apply(lambda o: o.resource_record_name), type=option.apply(lambda o: o.resource_record_type),
                # Typed optional, always set for a DNS-validated certificate.
                records=[cast("pulumi.Output[str]", option.apply(lambda o: o.resource_record_value))], ttl=300,
                opts=child)
            self.validation_record_fqdns = pulumi.Output.all(record.fqdn).apply(list)
        else:
            self.validation_record_fqdns = pulumi.Output.from_input(args.validation_record_fqdns)
        validated = aws.acm.CertificateValidation(f"{name}-validation", certificate_arn=certificate.arn,
                                                  validation_record_fqdns=self.validation_record_fqdns, opts=child)
        domain = aws.apigatewayv2.DomainName(
            f"{name}-domain", domain_name=host,
            domain_name_configuration=aws.apigatewayv2.DomainNameDomainNameConfigurationArgs(
                certificate_arn=validated.certificate_arn, endpoint_type="REGIONAL", security_policy="TLS_1_2"),
            opts=child)
        aws.apigatewayv2.ApiMapping(f"{name}-mapping", api_id=api.id, domain_name=domain.domain_name,
                                    stage=stage.id, opts=child)
        if not args.context.retiring:
            aws.route53.Record(
                f"{name}-record", zone_id=args.hosted_zone_id, name=host, type="CNAME", ttl=60, set_identifier=region,
                records=[domain.domain_name_configuration.apply(_target)],
                latency_routing_policies=[aws.route53.RecordLatencyRoutingPolicyArgs(region=region)], opts=child)
        self.url = pulumi.Output.from_input(f"https://{host}/provision")
        self.register_outputs({"provisioningApiUrl": self.url, "provisioningFunctionArn": function.arn,
                               "provisioningNonceTable": nonces.name})
