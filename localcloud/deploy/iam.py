"""IAM: roles, inline policies, managed-policy attachments (AWS managed policies loaded from moto's copy on demand)
and instance profiles."""

from __future__ import annotations

import functools
import json
from typing import Any

import pulumi

from .common import autoname, client, physical_name
from .registry import DeployContext, Result, creates


@functools.lru_cache(maxsize=1)
def _aws_managed_policies() -> dict[str, Any]:
    from localcloud.compat.moto.iam import aws_managed_policies_data

    return json.loads(aws_managed_policies_data)


def load_aws_managed_policy(account_id: str, arn: str) -> None:
    """moto knows AWS managed policies only with MOTO_IAM_LOAD_MANAGED_POLICIES (all of them, slowly): load the one
    an attachment names from moto's own copy of AWS's documents, so attaching it works as in AWS."""
    from localcloud.compat.moto.iam import AWSManagedPolicy, iam_backends

    backend = iam_backends[account_id]["aws"]
    name = arn.rsplit("/", 1)[-1]
    if not arn.startswith("arn:aws:iam::aws:policy/") or arn in backend.managed_policies \
            or name not in _aws_managed_policies():
        return
    policy = AWSManagedPolicy.from_data(name, account_id, backend.region_name, _aws_managed_policies()[name])
    backend.managed_policies[policy.arn] = policy


@creates("aws:iam/role:Role")
def role(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any], region: str) -> Result:
    name = physical_name(args, inputs)
    request = {"RoleName": name, "AssumeRolePolicyDocument": inputs["assumeRolePolicy"],
               "Path": inputs.get("path") or "/"}
    if inputs.get("description"):
        request["Description"] = inputs["description"]
    created = client("iam", region).create_role(**request)["Role"]
    return name, {**inputs, "name": name, "arn": created["Arn"], "uniqueId": created["RoleId"]}


@creates("aws:iam/rolePolicy:RolePolicy")
def role_policy(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                region: str) -> Result:
    name = physical_name(args, inputs, limit=128)
    client("iam", region).put_role_policy(RoleName=inputs["role"], PolicyName=name, PolicyDocument=inputs["policy"])
    return f"{inputs['role']}:{name}", {**inputs, "name": name}


@creates("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
def role_policy_attachment(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                           region: str) -> Result:
    load_aws_managed_policy(ctx.account_id, inputs["policyArn"])
    client("iam", region).attach_role_policy(RoleName=inputs["role"], PolicyArn=inputs["policyArn"])
    return f"{inputs['role']}-{autoname(args.name)}", dict(inputs)


@creates("aws:iam/instanceProfile:InstanceProfile")
def instance_profile(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                     region: str) -> Result:
    name = physical_name(args, inputs, limit=128)
    iam = client("iam", region)
    profile = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    if inputs.get("role"):
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=inputs["role"])
    return name, {**inputs, "name": name, "arn": profile["Arn"]}
