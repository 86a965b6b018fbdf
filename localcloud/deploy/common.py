"""Helpers the creators share: a boto3 client in the resource's region, Pulumi's auto-names, engine inputs turned
into API members."""

from __future__ import annotations

import hashlib
from typing import Any

import boto3
import pulumi


def client(service: str, region: str) -> Any:
    """A boto3 client in ``region``; inside the local cloud's ``mock_aws`` it reaches moto."""
    return boto3.client(service, region_name=region)


def hexdigest(*parts: str, n: int = 7) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


def autoname(logical: str, *, limit: int = 64) -> str:
    """Pulumi's auto-naming shape: ``<logical name>-<7 hex>`` (deterministic here)."""
    name = f"{logical}-{hexdigest(logical)}"
    return name[-limit:] if len(name) > limit else name


def physical_name(args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any], *, limit: int = 64) -> str:
    """The ``name`` input, else Pulumi's auto-name for the resource."""
    return inputs.get("name") or autoname(args.name, limit=limit)


def pascal(value: Any) -> Any:
    """camelCase keys (engine names) to the PascalCase members of JSON-protocol APIs."""
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: pascal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [pascal(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def ints(value: Any) -> Any:
    """Pulumi numbers arrive as floats; AWS integer members want ints."""
    if isinstance(value, dict):
        return {k: ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [ints(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
