"""The role AWS IoT assumes to run our provisioning templates (JITP's, in the CA registration; fleet's)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from builders import iam
from builders.provisioning import THINGS_REGISTRATION_POLICY_ARN, jitp_template
from components.context import RegionContext


@dataclass(frozen=True)
class ProvisioningRoleArgs:
    context: RegionContext


class ProvisioningRole(pulumi.ComponentResource):
    """``iot.amazonaws.com`` may assume it in our account only, and it carries the AWS managed policy
    ``AWSIoTThingsRegistration``, which AWS's JITP and fleet provisioning guides say the provisioning role "must" have
    (docs/design.md, "Provisioning modes"). The policy pack allows that one managed policy on a role only
    ``iot.amazonaws.com`` may assume (rule iam-service-role-managed-policies) and nowhere else."""

    arn: pulumi.Output[str]

    def __init__(self, name: str, args: ProvisioningRoleArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("iotmr:regional:ProvisioningRole", name, None, opts)
        self.names = args.context.names
        self.role = aws.iam.Role(
            f"{name}-role", description="AWS IoT runs our provisioning templates (JITP, fleet provisioning) with it",
            assume_role_policy=json.dumps(iam.service_trust_policy("iot", args.context.account_id)),
            opts=pulumi.ResourceOptions(parent=self))
        self.attachment = aws.iam.RolePolicyAttachment(
            f"{name}-things-registration", role=self.role.name, policy_arn=THINGS_REGISTRATION_POLICY_ARN,
            opts=pulumi.ResourceOptions(parent=self.role))
        # The role ARN is handed out only once the policy is attached: AWS IoT checks nothing at registration time.
        self.arn = pulumi.Output.all(self.role.arn, self.attachment.id).apply(lambda v: v[0])
        self.register_outputs({"provisioningRoleArn": self.arn})

    def jitp_registration_config(self) -> aws.iot.CaCertificateRegistrationConfigArgs:
        """The CA registration's JITP template and this role (``RegisterCACertificate``'s registrationConfig)."""
        return aws.iot.CaCertificateRegistrationConfigArgs(
            template_body=json.dumps(jitp_template(self.names.device_policy), sort_keys=True),
            role_arn=self.arn,
        )
