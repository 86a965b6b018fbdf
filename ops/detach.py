"""``detach-all REGION --yes``: detach the device policy from every certificate before ``pulumi destroy``.

Device certificates are created by the state machines, outside Pulumi, and AWS IoT refuses to delete
a policy that is still attached, so ``pulumi destroy`` stops on the device policy. This lists every
target of ``Names.device_policy`` (ListTargetsForPolicy, all pages, collected before any change) and
detaches it from each, paced by the token bucket. Without ``confirm`` it only lists the targets.
A target already detached (``ResourceNotFoundException``) counts as detached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ops.clients import DEFAULT_APPLICATION, Scope, SessionOrFactory, error_code, scope as resolve_scope
from ops.errors import OpsError
from ops.ratelimit import DEFAULT_RATE, TokenBucket


@dataclass
class DetachReport:
    region: str
    policy: str
    dry_run: bool
    targets: list[str] = field(default_factory=list)
    detached: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        return {"command": "detach-all", "region": self.region, "policy": self.policy, "dryRun": self.dry_run,
                "targets": self.targets, "detached": self.detached, "failed": self.failed}


def policy_targets(where: Scope) -> list[str]:
    """Every principal the device policy is attached to (all pages)."""
    policy = where.names.device_policy
    targets: list[str] = []
    try:
        for page in where.client("iot").get_paginator("list_targets_for_policy").paginate(policyName=policy):
            targets.extend(page.get("targets", []))
    except Exception as error:
        if error_code(error) == "ResourceNotFoundException":
            raise OpsError(f"the device policy {policy!r} does not exist in {where.region} (already destroyed, "
                           f"or is --application {where.names.application!r} wrong?)") from None
        raise
    return sorted(set(targets))


def detach_all(source: SessionOrFactory, region: str, *, application: str = DEFAULT_APPLICATION, confirm: bool = False,
               rate: float = DEFAULT_RATE, bucket: TokenBucket | None = None) -> DetachReport:
    """Detach the device policy from every target in ``region`` (only list them unless ``confirm``)."""
    where = resolve_scope(source, region, application)
    report = DetachReport(region, where.names.device_policy, dry_run=not confirm, targets=policy_targets(where))
    if not confirm:
        return report
    iot = where.client("iot")
    bucket = bucket or TokenBucket(rate)
    for target in report.targets:
        bucket.acquire()
        try:
            iot.detach_policy(policyName=report.policy, target=target)
        except Exception as error:  # noqa: BLE001 - reported per target
            if error_code(error) != "ResourceNotFoundException":
                report.failed.append({"target": target, "error": f"{error_code(error) or type(error).__name__}: {error}"})
                continue
        report.detached.append(target)
    return report
