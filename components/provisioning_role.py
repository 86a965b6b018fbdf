"""The role AWS IoT assumes to run our provisioning templates (JITP's, in the CA registration; fleet's)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from builders.provisioning import jitp_template, provisioning_role_policy
from components.naming import Names
from components.roles import service_role


@dataclass(frozen=True)
class ProvisioningRoleArgs:
    names: Names
    region: str
    account_id: str


class ProvisioningRole(pulumi.ComponentResource):
    """``iot.amazonaws.com`` may assume it in our account only; its inline policy is ours
    (``builders.provisioning.provisioning_role_policy``), never the broad AWS managed one."""

    arn: pulumi.Output[str]

    def __init__(self, name: str, args: ProvisioningRoleArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("iotmr:regional:ProvisioningRole", name, None, opts)
        self.names = args.names
        self.service_role = service_role(
            name, service="iot", account_id=args.account_id, source_arn=None,
            policy=provisioning_role_policy(args.region, args.account_id, args.names.device_policy),
            parent=self, description="AWS IoT runs our provisioning templates (JITP, fleet provisioning) with it")
        self.arn = self.service_role.arn
        self.register_outputs({"provisioningRoleArn": self.arn})

    def jitp_registration_config(self) -> aws.iot.CaCertificateRegistrationConfigArgs:
        """The CA registration's JITP template and this role (``RegisterCACertificate``'s registrationConfig)."""
        return aws.iot.CaCertificateRegistrationConfigArgs(
            template_body=json.dumps(jitp_template(self.names.device_policy), sort_keys=True),
            role_arn=self.arn,
        )
