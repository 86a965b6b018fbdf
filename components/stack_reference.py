"""Read the primary stack's outputs before any resource of a secondary stack is registered.

Resolving the reference up front (rather than threading Outputs everywhere) lets a secondary
stack validate what it gets (its region must be in the primary's list, its stream must exist)
and fail with a clear message before it creates anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping

import pulumi
from pulumi.runtime.sync_await import _sync_await

from components.config import ConfigError


@dataclass(frozen=True)
class PrimaryOutputs:
    stack_name: str
    outputs: Mapping[str, Any]

    def stream_arn_for(self, region: str) -> str:
        """This region's own replica stream of the inventory table."""
        arns = self.outputs.get("inventoryStreamArns") or {}
        arn = arns.get(region)
        if not arn:
            raise ConfigError(
                f"the primary stack {self.stack_name} exports no inventory stream for {region} "
                f"(it has {sorted(arns)}): add {region} to its `regions` config and run `pulumi up` "
                "on the primary first, so that it creates this region's table replica.")
        return arn


    def validation_record_fqdns(self) -> list[str]:
        """The ACM validation record(s) the primary owns; this region's certificate validates through them."""
        fqdns = self.outputs.get("validationRecordFqdns")
        if not fqdns:
            raise ConfigError(
                f"the primary stack {self.stack_name} exports no validationRecordFqdns (it was deployed by an older "
                "version of this program, which had every stack write the ACM validation record): run `pulumi up` "
                "on the primary first, then this stack.")
        return list(fqdns)


def read_primary_outputs(stack_name: str) -> PrimaryOutputs:
    reference = pulumi.StackReference(stack_name)
    outputs = _sync_await(reference.outputs.future()) or {}
    return PrimaryOutputs(stack_name, outputs)
