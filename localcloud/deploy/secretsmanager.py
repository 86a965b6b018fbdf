"""Secrets Manager: secrets, their string versions and resource policies."""

from __future__ import annotations

from typing import Any

import pulumi

from .common import client, physical_name
from .registry import DeployContext, Result, UnsupportedResource, creates


@creates("aws:secretsmanager/secret:Secret")
def secret(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
           region: str) -> Result:
    name = physical_name(args, inputs, limit=256)
    request = {"Name": name, **({"KmsKeyId": inputs["kmsKeyId"]} if inputs.get("kmsKeyId") else {}),
               **({"Description": inputs["description"]} if inputs.get("description") else {})}
    arn = client("secretsmanager", region).create_secret(**request)["ARN"]
    return arn, {**inputs, "name": name, "arn": arn}


@creates("aws:secretsmanager/secretVersion:SecretVersion")
def secret_version(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                   region: str) -> Result:
    value = inputs.get("secretStringWo") or inputs.get("secretString")
    if value is None:
        raise UnsupportedResource(f"secret version {args.name!r}: only string secrets are emulated")
    version = client("secretsmanager", region).put_secret_value(SecretId=inputs["secretId"],
                                                                SecretString=value)["VersionId"]
    kept = {k: v for k, v in inputs.items() if k not in ("secretStringWo", "secretString")}  # write-only
    return f"{inputs['secretId']}|{version}", {**kept, "versionId": version, "arn": inputs["secretId"]}


@creates("aws:secretsmanager/secretPolicy:SecretPolicy")
def secret_policy(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                  region: str) -> Result:
    client("secretsmanager", region).put_resource_policy(SecretId=inputs["secretArn"], ResourcePolicy=inputs["policy"])
    return inputs["secretArn"], {**inputs}
