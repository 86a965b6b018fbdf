"""A service role with one inline policy: the shape every role of this program has."""

from __future__ import annotations

import json
from typing import NamedTuple

import pulumi
import pulumi_aws as aws

from builders import iam


class ServiceRole(NamedTuple):
    role: aws.iam.Role
    policy: aws.iam.RolePolicy

    @property
    def arn(self) -> pulumi.Output[str]:
        return self.role.arn

    def ready(self) -> list[pulumi.Resource]:
        """Depend on these so the role has its permissions before a service validates them."""
        return [self.role, self.policy]


def service_role(name: str, *, service: str, account_id: pulumi.Input[str], source_arn: pulumi.Input[str] | None,
                 policy: pulumi.Input[dict], parent: pulumi.Resource,
                 description: str) -> ServiceRole:
    """Create ``<name>-role`` trusted by one service (pinned to our account and, where the service
    sends it, the calling resource's ARN) with the inline policy ``policy``."""
    role = aws.iam.Role(
        f"{name}-role",
        description=description,
        assume_role_policy=pulumi.Output.all(account_id, source_arn).apply(
            lambda v: json.dumps(iam.service_trust_policy(service, v[0], v[1]))),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    role_policy = aws.iam.RolePolicy(
        f"{name}-policy",
        role=role.id,
        policy=pulumi.Output.from_input(policy).apply(lambda doc: json.dumps(doc, sort_keys=True)),
        opts=pulumi.ResourceOptions(parent=role),
    )
    return ServiceRole(role, role_policy)
