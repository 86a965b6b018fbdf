"""``detach-all REGION --yes``: detach the device policy from every certificate before ``pulumi destroy``.

Device certificates are created by the state machines, outside Pulumi, and AWS IoT refuses to delete
a policy that is still attached, so ``pulumi destroy`` stops on the device policy. This lists every
target of ``Names.device_policy`` (ListTargetsForPolicy, all pages, collected before any change) and
detaches it from each, paced by the token bucket. Without ``confirm`` it only lists the targets.
A target already detached (``ResourceNotFoundException``) counts as detached.

``--wait-executions`` (the region removal, README "Removing a region"): first wait until no execution of the
application's state machines in the region is RUNNING (ListStateMachines, ListExecutions ``statusFilter`` RUNNING,
every ``poll`` seconds, at most ``timeout``), because an execution still running (a JITR or a replication) attaches
the device policy again after the detach and ``pulumi destroy`` then stops on the policy. Run it after the stack is
``retiring`` (nothing starts new executions), or it may wait for ever.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
    waited_for: list[str] = field(default_factory=list)  # executions RUNNING when the wait began (--wait-executions)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        return {"command": "detach-all", "region": self.region, "policy": self.policy, "dryRun": self.dry_run,
                "targets": self.targets, "detached": self.detached, "failed": self.failed,
                "waitedForExecutions": self.waited_for}


def running_executions(where: Scope) -> list[str]:
    """The RUNNING executions of every state machine of the application in the region (all pages)."""
    sfn = where.client("stepfunctions")
    prefix = where.names("")
    running: list[str] = []
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page.get("stateMachines", []):
            if not machine["name"].startswith(prefix):
                continue
            for listed in sfn.get_paginator("list_executions").paginate(
                    stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"):
                running.extend(e["executionArn"] for e in listed.get("executions", []))
    return sorted(running)


def wait_for_executions(where: Scope, *, timeout: float, poll: float, sleep: Callable[[float], None] | None = None,
                        clock: Callable[[], float] | None = None) -> list[str]:
    """Wait until nothing of the application runs in the region; returns what ran at first. OpsError on timeout."""
    sleep, clock = sleep or time.sleep, clock or time.monotonic
    first = running = running_executions(where)
    deadline = clock() + timeout
    while running:
        if clock() >= deadline:
            raise OpsError(f"{len(running)} execution(s) still RUNNING in {where.region} after {timeout:.0f} s "
                           f"(e.g. {running[0]}); is the stack retiring (`pulumi config set retiring true`, "
                           "`pulumi up`)? Wait, or stop them (`aws stepfunctions stop-execution`), then run again.")
        sleep(poll)
        running = running_executions(where)
    return first


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
               rate: float = DEFAULT_RATE, bucket: TokenBucket | None = None, wait_executions: bool = False,
               timeout: float = 900.0, poll: float = 10.0, sleep: Callable[[float], None] | None = None,
               clock: Callable[[], float] | None = None) -> DetachReport:
    """Detach the device policy from every target in ``region`` (only list them unless ``confirm``); with
    ``wait_executions``, once nothing of the application runs there any more."""
    where = resolve_scope(source, region, application)
    waited = wait_for_executions(where, timeout=timeout, poll=poll, sleep=sleep, clock=clock) \
        if wait_executions and confirm else []
    report = DetachReport(region, where.names.device_policy, dry_run=not confirm, targets=policy_targets(where),
                          waited_for=waited)
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
