"""Fleet provisioning by claim in one region (docs/design.md, "Fleet provisioning by claim"): the claim certificate
registered without CA with its claim policy, the pre-provisioning hook (allow-listed serials, once; the inventory
write) and the provisioning template in every region; in the primary's region only, the account's certificate
provider (our CA's key in KMS signs every device CSR).

pulumi-aws has no resource for a certificate provider; ``pulumi_aws_native.iot.CertificateProvider``
(AWS::IoT::CertificateProvider through Cloud Control) fills the gap, with an explicit aws-native provider pinned to
this stack's region. "You can only create one certificate provider per AWS account. The signing behavior change
applies to the entire fleet that calls the CreateCertificateFromCsr MQTT API"
(https://docs.aws.amazon.com/iot/latest/developerguide/provisioning-cert-provider.html): so one stack, the primary,
owns it, after ``components.certificate_provider_guard`` has checked that no other exists in any IoT region of the
partition. Whether IoT in another region then calls it is not documented (docs/design.md, "Fleet provisioning by
claim"): a certificate not signed by our CA is refused by the hook either way.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from builders import arns, fleet
from components.certificate_provider_guard import CertificateProviderGuard
from components.config import ConfigError
from components.context import RegionContext
from components.function import Function, FunctionArgs
from components.naming import Names

#: AWS gives the pre-provisioning hook 5 seconds (pre-provisioning-hook.html).
HOOK_TIMEOUT_SECONDS = 5
HOOK_PAYLOAD_VERSION = "2020-04-01"  # the only payload version (ProvisioningHook.payloadVersion)
CERTIFICATE_PROVIDER_OPERATION = aws_native.iot.CertificateProviderOperation.CREATE_CERTIFICATE_FROM_CSR


@dataclass(frozen=True)
class FleetProvisioningArgs:
    # While the region retires (config `retiring`) the template is disabled, so RegisterThing attaches nothing.
    context: RegionContext
    device_policy_name: pulumi.Input[str]
    provisioning_role_arn: pulumi.Input[str]
    allow_list_table_name: pulumi.Input[str] | None
    inventory_table_name: pulumi.Input[str]
    ca_certificate_id: pulumi.Input[str]
    ca_certificate_pem: str  # the intermediate (registered in IoT, its key in KMS)
    signing_key_arn: str | None  # provisioningSigningKeyArn
    claim_certificate_file: Path  # <pkiDir>/claim/claim.crt (python -m pki issue-claim)
    # The account's one certificate provider: created by the stack that owns it (the primary), in its region, after
    # checking these regions for any other. Empty on every other stack.
    certificate_provider_regions: Sequence[str] = ()
    # The certificate provider's (primary's) region: the hook decides on that allow-list replica, where the provider
    # recorded the certificate it issued ("" = this region).
    allow_list_region: str = ""


def certificate_provider_name(names: Names) -> str:
    return names("certificate-provider")


def template_name(names: Names) -> str:
    name = names("fleet")
    if not fleet.TEMPLATE_NAME.fullmatch(name):
        raise ConfigError(f"the provisioning template name {name!r} is longer than AWS's 36 characters: use an "
                          "`application` of at most 30 characters with `provisioning` fleet.")
    return name


class FleetProvisioning(pulumi.ComponentResource):
    template: aws.iot.ProvisioningTemplate
    claim_certificate: aws.iot.Certificate
    hook: Function  # the pre-provisioning hook

    def __init__(self, name: str, args: FleetProvisioningArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("iotmr:regional:FleetProvisioning", name, None, opts)
        n, region, account = args.context.names, args.context.region, args.context.account_id
        child = pulumi.ResourceOptions(parent=self)
        owns_provider = bool(args.certificate_provider_regions)
        if owns_provider and not args.signing_key_arn:
            raise ConfigError("provisioning includes fleet, whose certificate provider signs with our CA's key in KMS: "
                              "`pulumi config set provisioningSigningKeyArn arn:aws:kms:<region>:<account>:key/mrk-...`.")
        if args.allow_list_table_name is None:
            raise ConfigError("the primary stack exports no allowListTableName: run `pulumi up` on the primary first.")
        if not args.claim_certificate_file.is_file():
            raise ConfigError(f"provisioning includes fleet but {args.claim_certificate_file} does not exist: run "
                              "`python -m pki issue-claim --out <pkiDir>` first.")
        template = template_name(n)

        # The claim: registered without CA (SNI_ONLY: the same certificate in every region), its policy attached.
        self.claim_certificate = aws.iot.Certificate(
            f"{name}-claim", certificate_pem=args.claim_certificate_file.read_text(), active=True, opts=child)
        claim_policy = aws.iot.Policy(f"{name}-claim-policy", name=n("fleet-claim"),
                                      policy=json.dumps(fleet.claim_policy(region, account, template)), opts=child)
        aws.iot.PolicyAttachment(f"{name}-claim-attachment", policy=claim_policy.name,
                                 target=self.claim_certificate.arn, opts=child)

        self.provider_function: Function | None = None  # set by _certificate_provider in the provider's region
        self.certificate_provider = self._certificate_provider(name, args) if owns_provider else None

        hook = Function(f"{name}-hook", FunctionArgs(
            function_name=n("fleet-pre-provisioning-hook"), handler="fleet_provisioning.hook.handler",
            description="Admits the certificate the provider issued for a serial, once; writes its inventory item",
            policy=lambda log_group_arn: pulumi.Output.all(args.allow_list_table_name, args.inventory_table_name).apply(
                lambda t: fleet.hook_policy(region, account, t[0], t[1], log_group_arn,
                                            allow_list_region=args.allow_list_region or region)),
            environment={"ALLOW_LIST_TABLE": args.allow_list_table_name,
                         "ALLOW_LIST_REGION": args.allow_list_region or region,
                         "INVENTORY_TABLE": args.inventory_table_name,
                         "CA_CERTIFICATE_ID": args.ca_certificate_id, "CA_CERTIFICATE_PEM": args.ca_certificate_pem},
            timeout=HOOK_TIMEOUT_SECONDS, context=args.context), opts=child)
        # The account only: the pre-provisioning hook page asks for "source-arn or source-account" and documents no
        # source ARN that IoT presents when it calls the hook (docs/design.md, "Fleet provisioning by claim").
        hook_permission = aws.lambda_.Permission(
            f"{name}-hook-invoke", action="lambda:InvokeFunction", function=hook.function.name,
            principal="iot.amazonaws.com", source_account=account, opts=child)

        self.template = aws.iot.ProvisioningTemplate(
            f"{name}-template", name=template, type="FLEET_PROVISIONING", enabled=not args.context.retiring,
            description="Fleet provisioning by claim: thing = SerialNumber, device policy, ACTIVE",
            template_body=pulumi.Output.from_input(args.device_policy_name).apply(
                lambda p: json.dumps(fleet.fleet_template(p), sort_keys=True)),
            provisioning_role_arn=args.provisioning_role_arn,
            pre_provisioning_hook=aws.iot.ProvisioningTemplatePreProvisioningHookArgs(
                target_arn=hook.arn, payload_version=HOOK_PAYLOAD_VERSION),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[hook_permission] + (
                [self.certificate_provider] if self.certificate_provider is not None else [])))
        self.hook = hook
        self.register_outputs({"fleetTemplateName": self.template.name,
                               "claimCertificateId": self.claim_certificate.id,
                               "preProvisioningHookArn": hook.arn})

    def _certificate_provider(self, name: str, args: FleetProvisioningArgs) -> aws_native.iot.CertificateProvider:
        """The account's certificate provider and the signer it invokes, once no other provider exists."""
        child = pulumi.ResourceOptions(parent=self)
        ctx = args.context
        provider_name = certificate_provider_name(ctx.names)
        signing_key_arn, allow_list_table = args.signing_key_arn, args.allow_list_table_name
        assert signing_key_arn and allow_list_table is not None, "__init__ refuses a provider without them"
        provider_function = Function(f"{name}-certificate-provider", FunctionArgs(
            function_name=ctx.names("fleet-certificate-provider"),
            handler="fleet_provisioning.certificate_provider.handler",
            description="Signs fleet provisioning CSRs proven by an enrolled key, with our CA's key in KMS",
            policy=lambda log_group_arn: pulumi.Output.from_input(allow_list_table).apply(
                lambda table: fleet.certificate_provider_policy(
                    signing_key_arn, log_group_arn, arns.dynamodb_table(ctx.region, ctx.account_id, table))),
            environment={"CA_SIGNING_KEY_ARN": signing_key_arn, "CA_CERTIFICATE_PEM": args.ca_certificate_pem,
                         "ALLOW_LIST_TABLE": allow_list_table},
            context=ctx), opts=child)
        self.provider_function = provider_function
        provider_permission = aws.lambda_.Permission(
            f"{name}-certificate-provider-invoke", action="lambda:InvokeFunction",
            function=provider_function.function.name, principal="iot.amazonaws.com", source_account=ctx.account_id,
            opts=child)
        guard = CertificateProviderGuard(f"{name}-provider-guard", regions=args.certificate_provider_regions,
                                         owner_region=ctx.region, provider_name=provider_name, opts=child)
        native = aws_native.Provider(f"{name}-aws-native", region=ctx.region, opts=child)
        return aws_native.iot.CertificateProvider(
            f"{name}-provider", certificate_provider_name=provider_name,
            lambda_function_arn=provider_function.arn,
            account_default_for_operations=[CERTIFICATE_PROVIDER_OPERATION],
            opts=pulumi.ResourceOptions(parent=self, provider=native, depends_on=[provider_permission, guard]))
