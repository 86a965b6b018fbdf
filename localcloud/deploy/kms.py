"""KMS: keys."""

from __future__ import annotations

from typing import Any

import pulumi

from .common import client
from .registry import DeployContext, Result, creates


@creates("aws:kms/key:Key")
def key(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any], region: str) -> Result:
    created = client("kms", region).create_key(Description=inputs.get("description") or args.name)["KeyMetadata"]
    return created["KeyId"], {**inputs, "arn": created["Arn"], "keyId": created["KeyId"]}
