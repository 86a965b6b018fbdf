"""IAM rules: least privilege for every identity-based document and trust policy in the stack.

Documents inspected: ``aws:iam/role:Role`` (``assumeRolePolicy`` as the trust policy,
``inlinePolicies[].policy``), ``aws:iam/rolePolicy``, ``aws:iam/policy``, ``aws:iam/userPolicy``,
``aws:iam/groupPolicy`` (``policy``); attachments (``policyArn``) and ``Role.managedPolicyArns``
for AWS managed policies. Only ``Effect: Allow`` statements grant anything, so only they are
judged (a ``Deny`` with wildcards is a guard rail, not a grant).
"""

from __future__ import annotations

import fnmatch
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Mapping

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
    Document,
    condition_pins,
    get,
    has_wildcard,
    is_wildcard_resource,
    items,
    iter_allow,
    listed,
    parse_document,
    statement_label,
)

WILDCARD_ONLY_FILE = Path(__file__).resolve().parent.parent / "data" / "wildcard_only_actions.json"

# Service principals that send aws:SourceAccount / aws:SourceArn when they assume a role, so a
# trust policy can (and must) pin them to our account (confused-deputy protection). Not listed:
# ec2 (instance profiles send neither key) and lambda (execution roles are not documented to
# send them; a condition can lock Lambda out of its own role) -- builders/iam.py makes the same
# call in CONDITIONED_SERVICES. Overridable by pack config (servicesSupportingSourceConditions).
DEFAULT_SOURCE_CONDITION_SERVICES = ("events", "iot", "pipes", "states")

# AWS managed policies a role may still attach. Only policies whose every action supports no
# resource narrower than "*" belong here: AWSXrayWriteOnlyAccess grants the X-Ray trace upload
# and sampling actions, all wildcard-only (see policy/data/wildcard_only_actions.json).
DEFAULT_ALLOWED_AWS_MANAGED_POLICIES = ("AWSXrayWriteOnlyAccess",)

# AWS managed policies that AWS's own guides require on one service's role, with that service's principal: the
# provisioning role of AWS IoT's JITP and fleet provisioning "must" have AWSIoTThingsRegistration attached
# (https://docs.aws.amazon.com/iot/latest/developerguide/jit-provisioning.html, provision-wo-cert.html). Only a
# RolePolicyAttachment may attach one, and the stack rule iam-service-role-managed-policies (rules/stack.py) checks
# that its role is a role of the stack that nothing but that principal may assume; this rule leaves such an
# attachment to it and refuses the policy anywhere else (a role's managedPolicyArns, users, groups, exclusive sets).
SERVICE_ROLE_AWS_MANAGED_POLICIES = {"service-role/AWSIoTThingsRegistration": "iot.amazonaws.com"}

AWS_MANAGED_POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/(?P<path>.+)$")
ACCOUNT_ROOT = re.compile(r"^(arn:aws[a-z-]*:iam::(?P<acct>\d{12}):root|(?P<bare>\d{12}))$")


# --------------------------------------------------------------------------------------------
# Documents of a resource
# --------------------------------------------------------------------------------------------

def permission_documents(resource_type: str, props: Any) -> list[tuple[str, Document]]:
    """(label prefix, parsed document) for each identity-based permission document."""
    if resource_type in t.IAM_POLICY_DOCUMENT_TYPES:
        return [("", parse_document(get(props, "policy")))]
    if resource_type == t.IAM_ROLE:
        docs = []
        for inline in items(get(props, "inlinePolicies")):
            if inline is UNKNOWN:
                continue
            name = get(inline, "name")
            label = f'inline policy "{name}" ' if isinstance(name, str) else "inline policy "
            docs.append((label, parse_document(get(inline, "policy"))))
        return docs
    return []


def trust_document(resource_type: str, props: Any) -> Document | None:
    if resource_type != t.IAM_ROLE:
        return None
    return parse_document(get(props, "assumeRolePolicy"))


def _where(prefix: str, index: int, stmt: Mapping) -> str:
    text = f"{prefix}{statement_label(index, stmt)}"
    return text[0].upper() + text[1:]


def _actions(stmt: Mapping) -> list[str]:
    return [a for a in listed(stmt.get("Action")) if isinstance(a, str)]


def _resources(stmt: Mapping) -> list[str]:
    return [r for r in listed(stmt.get("Resource")) if isinstance(r, str)]


@lru_cache(maxsize=1)
def wildcard_only_actions() -> frozenset[str]:
    """Lower-cased ``service:Action`` names that support only ``Resource: "*"``."""
    data = json.loads(WILDCARD_ONLY_FILE.read_text(encoding="utf-8"))
    return frozenset(f"{svc}:{name}".lower() for svc, names in data["actions"].items() for name in names)


def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: case-insensitive, ``*`` and ``?`` wildcards."""
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def _config_list(args: ResourceValidationArgs, key: str, default: Iterable[str]) -> list[str]:
    value = (args.get_config() or {}).get(key)
    if value is None:
        return list(default)
    return [str(v) for v in value]


# --------------------------------------------------------------------------------------------
# Validations
# --------------------------------------------------------------------------------------------

def _all_documents(args: ResourceValidationArgs) -> list[tuple[str, Document]]:
    docs = permission_documents(args.resource_type, args.props)
    trust = trust_document(args.resource_type, args.props)
    if trust is not None:
        docs.append(("trust policy ", trust))
    return docs


def validate_no_wildcard_actions(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for prefix, doc in _all_documents(args):
        if doc.error:
            label = prefix.strip()
            label = label[:1].upper() + label[1:] if label else "The policy"
            report(f"{label}: {doc.error}.", None)
            continue
        for index, stmt in iter_allow(doc):
            where = _where(prefix, index, stmt)
            for action in _actions(stmt):
                if action == "*":
                    report(f'{where} allows every action of every service ("*"); '
                           "list the exact actions the role needs.", None)
                elif action.endswith(":*") and action.count("*") == 1:
                    service = action[:-2]
                    report(f'{where} allows every {service} action ("{action}"); '
                           f"list the exact {service} actions the role needs.", None)
                elif has_wildcard(action):
                    report(f'{where} allows the wildcard pattern "{action}", which also matches actions '
                           "AWS adds later; list the exact actions instead.", None)


def validate_no_not_action_not_resource(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for prefix, doc in _all_documents(args):
        for index, stmt in iter_allow(doc):
            where = _where(prefix, index, stmt)
            if "NotAction" in stmt:
                report(f"{where} uses NotAction with Effect Allow, which grants every action except the "
                       "listed ones; replace it with an Action list of the actions needed.", None)
            if "NotResource" in stmt:
                report(f"{where} uses NotResource with Effect Allow, which grants the actions on every "
                       "resource except the listed ones; replace it with a Resource list of the ARNs needed.",
                       None)


def validate_wildcard_resource(args: ResourceValidationArgs, report: ReportViolation) -> None:
    allowed = wildcard_only_actions()
    for prefix, doc in permission_documents(args.resource_type, args.props):
        for index, stmt in iter_allow(doc):
            wild = [r for r in _resources(stmt) if is_wildcard_resource(r)]
            if not wild:
                continue
            narrower = [a for a in _actions(stmt) if a.lower() not in allowed]
            if narrower:
                where = _where(prefix, index, stmt)
                report(f'{where} grants {", ".join(narrower)} on Resource "{wild[0]}", but '
                       f'{"this action supports" if len(narrower) == 1 else "these actions support"} '
                       "resource-level permissions (they are not in policy/data/wildcard_only_actions.json); "
                       'name the resource ARNs and keep "*" only for actions that support nothing narrower.',
                       None)


def validate_passrole(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for prefix, doc in permission_documents(args.resource_type, args.props):
        for index, stmt in iter_allow(doc):
            if not any(action_matches(a, "iam:PassRole") for a in _actions(stmt)):
                continue
            for resource in _resources(stmt):
                if has_wildcard(resource):
                    where = _where(prefix, index, stmt)
                    report(f'{where} allows iam:PassRole on "{resource}"; name the exact role ARNs the '
                           "service needs (arn:aws:iam::<account>:role/<name>).", None)


def _principals(stmt: Mapping) -> list[tuple[str, Any]]:
    """(kind, value) pairs of a statement's Principal; kind "*" for the bare wildcard."""
    principal = stmt.get("Principal")
    if principal is None:
        return []
    if principal == "*":
        return [("*", "*")]
    if isinstance(principal, Mapping):
        pairs = []
        for kind, values in principal.items():
            for value in listed(values):
                pairs.append((kind, value))
        return pairs
    return [("?", principal)]


def _has_source_condition(stmt: Mapping) -> bool:
    """An aws:SourceAccount / aws:SourceArn condition that names one account or resource."""
    return condition_pins(stmt, SOURCE_PIN_CHECKS)


def account_of_principal(value: str) -> str | None:
    """The account id of an AWS principal (bare id, account root or IAM/STS ARN), else None."""
    match = ACCOUNT_ROOT.match(value)
    if match:
        return match.group("acct") or match.group("bare")
    arn = re.match(r"^arn:aws[a-z-]*:(iam|sts)::(\d{12}):", value)
    return arn.group(2) if arn else None


def validate_trust(args: ResourceValidationArgs, report: ReportViolation) -> None:
    doc = trust_document(args.resource_type, args.props)
    if doc is None or doc.unknown or doc.error:  # an unparseable document is reported by iam-no-wildcard-actions
        return
    services = {s.lower() for s in _config_list(args, "servicesSupportingSourceConditions",
                                                 DEFAULT_SOURCE_CONDITION_SERVICES)}
    trusted = set(_config_list(args, "trustedAccounts", ()))
    for index, stmt in iter_allow(doc):
        where = _where("trust policy ", index, stmt)
        if "NotPrincipal" in stmt:
            report(f"{where} uses NotPrincipal with Effect Allow, which trusts everyone except the listed "
                   "principals; name the service principal in Principal instead.", None)
        for kind, value in _principals(stmt):
            if value is UNKNOWN:
                continue
            if value == "*":
                report(f'{where} trusts every principal ("*"); trust only the AWS service that assumes this '
                       'role, e.g. {"Service": "states.amazonaws.com"}.', None)
            elif kind == "AWS" and isinstance(value, str) and ACCOUNT_ROOT.match(value):
                if account_of_principal(value) not in trusted:
                    report(f'{where} trusts the account "{value}", which is not in this rule\'s trustedAccounts '
                           f"({', '.join(sorted(trusted)) or 'none configured'}); a Condition does not make another "
                           "account's root safe to trust (that account decides who meets it): trust a service "
                           "principal, or list the account in trustedAccounts after a review.", None)
                elif not stmt.get("Condition"):
                    report(f'{where} trusts the whole account "{value}" without a Condition; trust a service '
                           "principal instead, or add conditions that name who in that account may assume "
                           "the role.", None)
            elif kind == "Service" and isinstance(value, str):
                service = value.lower().split(".", 1)[0]
                if service in services and not _has_source_condition(stmt):
                    report(f"{where} lets {value} assume the role without an aws:SourceAccount or "
                           "aws:SourceArn condition that names one account or resource (a pattern such as \"*\" "
                           'or arn:aws:iot:*:*:* pins nothing); add "Condition": {"StringEquals": {"aws:SourceAccount": '
                           '"<account id>"}} (and aws:SourceArn where known) against the confused-deputy '
                           "problem.", None)
            else:
                report(f'{where} trusts the {kind} principal "{value}"; roles in this program may only be '
                       "assumed by AWS service principals (or an account root with conditions).", None)


def managed_policy_arns(resource_type: str, props: Any) -> list[str]:
    """Known managed policy ARNs a resource attaches: ``policyArn`` of the attachments,
    ``policyArns`` of the exclusive attachments, ``managedPolicyArns`` of a role."""
    if resource_type in t.IAM_ATTACHMENT_TYPES:
        values = [get(props, "policyArn")]
    elif resource_type in t.IAM_EXCLUSIVE_ATTACHMENT_TYPES:
        values = items(get(props, "policyArns"))
    elif resource_type == t.IAM_ROLE:
        values = items(get(props, "managedPolicyArns"))
    else:
        values = []
    return [v for v in values if isinstance(v, str)]


def _managed_policy_arns(args: ResourceValidationArgs) -> list[str]:
    return managed_policy_arns(args.resource_type, args.props)


def validate_no_aws_managed_policies(args: ResourceValidationArgs, report: ReportViolation) -> None:
    allowed = set(_config_list(args, "allowedAwsManagedPolicies", DEFAULT_ALLOWED_AWS_MANAGED_POLICIES))
    for arn in _managed_policy_arns(args):
        match = AWS_MANAGED_POLICY_ARN.match(arn)
        if not match:
            continue
        path = match.group("path")
        if path in allowed or path.rsplit("/", 1)[-1] in allowed:
            continue
        if path in SERVICE_ROLE_AWS_MANAGED_POLICIES and args.resource_type == t.IAM_ROLE_POLICY_ATTACHMENT:
            continue  # judged with its role by the stack rule iam-service-role-managed-policies
        report(f'Attaches the AWS managed policy "{arn}"; write a customer managed or inline policy with the '
               "exact actions and resources instead (AWS managed policies are broad and change without "
               "review).", None)


# --------------------------------------------------------------------------------------------
# Policies
# --------------------------------------------------------------------------------------------

def _list_schema(description: str, default: Iterable[str]) -> dict:
    return {"type": "array", "items": {"type": "string"}, "default": list(default), "description": description}


def policies() -> list[ResourceValidationPolicy]:
    mandatory = EnforcementLevel.MANDATORY
    return [
        ResourceValidationPolicy(
            name="iam-no-wildcard-actions",
            description="IAM Allow statements name exact actions: no \"*\", \"service:*\" or other wildcard patterns.",
            validate=validate_no_wildcard_actions,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="iam-no-not-action-not-resource",
            description="IAM Allow statements do not use NotAction or NotResource.",
            validate=validate_no_not_action_not_resource,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="iam-wildcard-resource-only-when-required",
            description="IAM statements use Resource \"*\" only for actions that support no narrower resource.",
            validate=validate_wildcard_resource,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="iam-passrole-named-roles",
            description="iam:PassRole is granted only on named role ARNs.",
            validate=validate_passrole,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="iam-trust-service-principals",
            description="Role trust policies trust AWS service principals only, pinned with aws:SourceAccount "
                        "or aws:SourceArn where the service supports it.",
            validate=validate_trust,
            enforcement_level=mandatory,
            config_schema=PolicyConfigSchema(properties={
                "trustedAccounts": _list_schema(
                    "Account ids whose root a trust policy may name (with a Condition); any other account's root "
                    "is refused.", ()),
                "servicesSupportingSourceConditions": _list_schema(
                    "Service principal prefixes (iot for iot.amazonaws.com) whose trust statements must carry "
                    "aws:SourceAccount or aws:SourceArn.", DEFAULT_SOURCE_CONDITION_SERVICES),
            }),
        ),
        ResourceValidationPolicy(
            name="iam-no-aws-managed-policies",
            description="Roles do not attach AWS managed policies, except a short reviewed allow-list.",
            validate=validate_no_aws_managed_policies,
            enforcement_level=mandatory,
            config_schema=PolicyConfigSchema(properties={
                "allowedAwsManagedPolicies": _list_schema(
                    "AWS managed policy names (or paths) that may be attached.",
                    DEFAULT_ALLOWED_AWS_MANAGED_POLICIES),
            }),
        ),
    ]

