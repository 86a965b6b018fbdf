"""Pulumi's own resources: Python dynamic resources run their own provider; explicit providers need nothing."""

from __future__ import annotations

import base64
from typing import Any

import pulumi

from .registry import DYNAMIC_TYPE, DeployContext, Result, UnsupportedResource, creates, creates_any


@creates(f"{DYNAMIC_TYPE}/canary:KeyVersion")  # components/canary_key.py
@creates_any(DYNAMIC_TYPE)  # any other dynamic resource (a test's program, a new component) runs the same way
def dynamic(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any], region: str) -> Result:
    """Run the resource's own provider, as the dynamic provider process would: its ``check``, then ``create``;
    its AWS calls reach moto like the program's."""
    import dill

    provider = dill.loads(base64.b64decode(inputs["__provider"]))  # noqa: S301 - the program's own, pickled by Pulumi
    props = {k: v for k, v in inputs.items() if k != "__provider"}
    checked = provider.check({}, props)
    if checked.failures:
        raise UnsupportedResource(f"{args.typ} {args.name!r}: " + "; ".join(
            f"{f.property}: {f.reason}" for f in checked.failures))
    created = provider.create(checked.inputs)
    return created.id, {**props, **(created.outs or {})}


@creates("pulumi:providers:aws-native")  # fleet provisioning's certificate provider is an aws-native resource
def provider(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
             region: str) -> Result:
    return args.name, dict(inputs)
