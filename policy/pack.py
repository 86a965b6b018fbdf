"""The list of policies in the pack, and the pack's name and version.

Importing this module has no side effect: constructing ``pulumi_policy.PolicyPack`` starts a gRPC
server and blocks, so only ``policy/__main__.py`` does that.
"""

from __future__ import annotations

import re
from pathlib import Path

from pulumi_policy import EnforcementLevel, Policy

from .rules import data, iam, iot, resource_policies, stack, workflows

PACK_NAME = "multi-region-iot-policies"
PACK_DIR = Path(__file__).resolve().parent
DEFAULT_ENFORCEMENT_LEVEL = EnforcementLevel.MANDATORY


def pack_version() -> str:
    """The ``version:`` of PulumiPolicy.yaml (what the CLI reports), "0.0.1" if it has none."""
    text = (PACK_DIR / "PulumiPolicy.yaml").read_text(encoding="utf-8")
    match = re.search(r"^version:\s*['\"]?([^'\"\s]+)", text, re.MULTILINE)
    return match.group(1) if match else "0.0.1"


def build_policies() -> list[Policy]:
    """Every policy of the pack, in the order the docs list them. Names are unique."""
    policies: list[Policy] = [
        *iot.policies(),
        *iam.policies(),
        *resource_policies.policies(),
        *data.policies(),
        *workflows.policies(),
        *stack.policies(),
    ]
    names = [p.name for p in policies]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate policy names in the pack: {duplicates}; rename one of each")
    return policies
