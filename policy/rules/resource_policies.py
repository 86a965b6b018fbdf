"""Resource-based policies: who, outside the roles of this stack, may use its queues, topics, keys,
buckets, tables and functions.

Documents inspected: the ``policy`` of SQS queues and queue policies, SNS topics and topic
policies, KMS keys, key policies and replica keys, S3 buckets and bucket policies, DynamoDB
resource policies (``types.RESOURCE_POLICY_PROPERTIES``), and Lambda permissions (one statement
each, as properties). Only Allow statements grant anything. A principal is acceptable when it is

- an AWS service, pinned by an ``aws:SourceArn``/``aws:SourceAccount`` condition naming one
  account or resource (confused-deputy protection; Lambda: ``source_arn``/``source_account``);
- an account (root, bare id, IAM/STS ARN) listed in the rule's ``trustedAccounts`` config;
- ``"*"`` only with a condition pinning the caller (``aws:PrincipalAccount``,
  ``aws:PrincipalArn``, ``aws:PrincipalOrgID``, ``aws:SourceAccount``, ``aws:SourceArn``,
  ``aws:SourceOrgID``; Lambda: ``principal_org_id``).
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable, Iterable, Mapping

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from . import types as t
from .common import (
    SOURCE_PIN_CHECKS,
    UNKNOWN,
    condition_pins,
    get,
    iter_allow,
    listed,
    parse_document,
    pins_account,
    pins_arn,
    pins_literal,
    statement_label,
)
from .iam import account_of_principal

PRINCIPAL_PIN_CHECKS: Mapping[str, Callable[[Any], bool]] = {
    **SOURCE_PIN_CHECKS,
    "aws:principalaccount": pins_account,
    "aws:principalarn": pins_arn,
    "aws:principalorgid": pins_literal,
    "aws:sourceorgid": pins_literal,
}
SERVICE_FIX = ('add "Condition": {"ArnEquals": {"aws:SourceArn": "<the resource that sends>"}} or '
               '{"StringEquals": {"aws:SourceAccount": "<account id>"}} naming one resource or account')


def _trusted(args: ResourceValidationArgs) -> set[str]:
    return {str(a) for a in (args.get_config() or {}).get("trustedAccounts") or []}


def _principal_pairs(stmt: Mapping) -> list[tuple[str, Any]]:
    """(kind, value) of a statement's Principal; kind "*" for the bare wildcard."""
    principal = stmt.get("Principal")
    if principal == "*":
        return [("*", "*")]
    if isinstance(principal, Mapping):
        return [(str(kind), value) for kind, values in principal.items() for value in listed(values)]
    return [] if principal is None else [("?", principal)]


def _judge_principal(kind: str, value: Any, stmt: Mapping, trusted: set[str]) -> str:
    """Why the principal may not be granted this statement, or "" if it may."""
    if value is UNKNOWN:
        return ""
    if value == "*":
        if condition_pins(stmt, PRINCIPAL_PIN_CHECKS):
            return ""
        return ('grants every principal ("*") with no condition naming the caller\'s account, organization or '
                "source; name the service or account, or add aws:SourceArn / aws:PrincipalAccount conditions")
    if kind == "Service" and isinstance(value, str):
        if condition_pins(stmt, SOURCE_PIN_CHECKS):
            return ""
        return (f"lets {value} act without an aws:SourceArn or aws:SourceAccount condition that names one resource "
                f"or account, so the service acting for another account could use it; {SERVICE_FIX}")
    if kind == "AWS" and isinstance(value, str) and account_of_principal(value) in trusted:
        return ""
    return (f'grants the {kind} principal "{value}", whose account is not in this rule\'s trustedAccounts '
            f"({', '.join(sorted(trusted)) or 'none configured'}); grant a service principal pinned to its source, "
            "or list the account after a review")


def _document_of(args: ResourceValidationArgs) -> Any:
    prop = t.RESOURCE_POLICY_PROPERTIES.get(args.resource_type)
    return get(args.props, prop) if prop else None


def _validate_document(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Judge the Allow statements of a resource-based policy document."""
    value = _document_of(args)
    if value is None:
        return
    doc = parse_document(value)
    if doc.error:
        report(f"The resource policy: {doc.error}.", None)
        return
    trusted = _trusted(args)
    for index, stmt in iter_allow(doc):
        where = statement_label(index, stmt)
        where = where[0].upper() + where[1:]
        if "NotPrincipal" in stmt:
            report(f"{where} uses NotPrincipal with Effect Allow, which grants everyone except the listed "
                   "principals; name the principals in Principal instead.", None)
        for kind, principal in _principal_pairs(stmt):
            reason = _judge_principal(kind, principal, stmt, trusted)
            if reason:
                report(f"{where} {reason}.", None)


def _permission_statement(props: Any) -> dict:
    """A Lambda permission's properties as the statement Lambda adds to the function's policy."""
    condition: dict = {}
    source_arn, source_account, org = (get(props, k) for k in ("sourceArn", "sourceAccount", "principalOrgId"))
    if isinstance(source_arn, str) or source_arn is UNKNOWN:
        condition.setdefault("ArnLike", {})["aws:SourceArn"] = source_arn
    if isinstance(source_account, str) or source_account is UNKNOWN:
        condition.setdefault("StringEquals", {})["aws:SourceAccount"] = source_account
    if isinstance(org, str) or org is UNKNOWN:
        condition.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = org
    principal = get(props, "principal")
    if principal == "*":
        shaped: Any = "*"
    elif isinstance(principal, str) and principal.endswith(".amazonaws.com"):
        shaped = {"Service": principal}
    else:
        shaped = {"AWS": principal}
    return {"Effect": "Allow", "Principal": shaped, "Condition": condition}


def _validate_lambda_permission(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Judge a Lambda permission like the statement it adds to the function's resource policy."""
    if args.resource_type != t.LAMBDA_PERMISSION or get(args.props, "principal") is UNKNOWN:
        return
    stmt = _permission_statement(args.props)
    for kind, principal in _principal_pairs(stmt):
        reason = _judge_principal(kind, principal, stmt, _trusted(args))
        if reason:
            reason = reason.replace("an aws:SourceArn or aws:SourceAccount condition", "a source_arn or source_account")
            reason = reason.replace(SERVICE_FIX, "set source_arn to the resource that invokes the function")
            report(f"The permission {reason}.", None)


def validate_resource_policy(args: ResourceValidationArgs, report: ReportViolation) -> None:
    _validate_document(args, report)
    _validate_lambda_permission(args, report)


def _list_schema(description: str, default: Iterable[str]) -> dict:
    return {"type": "array", "items": {"type": "string"}, "default": list(default), "description": description}


def policies() -> list[ResourceValidationPolicy]:
    return [
        ResourceValidationPolicy(
            name="resource-policy-principals",
            description="Resource policies and Lambda permissions grant only pinned service principals, trusted "
                        "accounts, or \"*\" with a condition naming the caller.",
            validate=validate_resource_policy,
            enforcement_level=EnforcementLevel.MANDATORY,
            config_schema=PolicyConfigSchema(properties={
                "trustedAccounts": _list_schema(
                    "Account ids a resource policy may grant directly (root, IAM or STS principals).", ()),
            }),
        ),
    ]
