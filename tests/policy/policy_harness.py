"""Drive pack policies through the real pulumi_policy argument types.

``run_resource`` builds a ``ResourceValidationArgs`` whose props are wrapped in the SDK's
``unknown_checking_proxy`` (as the analyzer does), ``run_stack`` builds ``PolicyResource``s and a
``StackValidationArgs``; both record what the policy passes to ``report_violation``.
"""

from __future__ import annotations

import json
from typing import Any
from collections.abc import Mapping, Sequence

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policy.pack import build_policies

POLICIES = {p.name: p for p in build_policies()}
ACCOUNT = "123456789012"
REGION = "eu-west-1"


def urn(resource_type: str, name: str) -> str:
    return f"urn:pulumi:eu-west-1::multi-region-iot::{resource_type}::{name}"


def options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


class Recorder:
    """A report_violation that records (message, urn) pairs."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    def __call__(self, message: str, urn: str | None = None) -> None:
        self.calls.append((message, urn))

    @property
    def messages(self) -> list[str]:
        return [m for m, _ in self.calls]


def run_resource(policy_name: str, resource_type: str, props: Mapping[str, Any],
                 config: Mapping[str, Any] | None = None, name: str = "subject") -> list[str]:
    """Messages one resource policy reports for one resource."""
    recorder = Recorder()
    args = ResourceValidationArgs(resource_type, unknown_checking_proxy(dict(props)), urn(resource_type, name),
                                  name, options(), None, config)
    POLICIES[policy_name].validate(args, recorder)
    return recorder.messages


def stack_resource(resource_type: str, name: str, props: Mapping[str, Any]) -> PolicyResource:
    return PolicyResource(resource_type, unknown_checking_proxy(dict(props)), urn(resource_type, name), name,
                          options(), None, None, [], {})


def run_stack(policy_name: str, resources: Sequence[PolicyResource],
              config: Mapping[str, Any] | None = None) -> list[tuple[str, str | None]]:
    """(message, urn) pairs one stack policy reports."""
    recorder = Recorder()
    POLICIES[policy_name].validate(StackValidationArgs(list(resources), config), recorder)
    return recorder.calls


def doc(*statements: Mapping[str, Any]) -> str:
    """An IAM/IoT document as the engine passes it: a JSON string."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource: Any = None, **extra: Any) -> dict:
    stmt: dict = {"Effect": "Allow", "Action": action}
    if resource is not None:
        stmt["Resource"] = resource
    stmt.update(extra)
    return stmt


def iot_arn(resource: str) -> str:
    return f"arn:aws:iot:{REGION}:{ACCOUNT}:{resource}"
