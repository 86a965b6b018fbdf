"""Stack-level rules: properties that pulumi-aws v7 keeps in separate resources.

A bucket's encryption, public access block and policy are their own resources
(``BucketServerSideEncryptionConfiguration``, ``BucketPublicAccessBlock``, ``BucketPolicy``), and
a Lambda function's log group is a ``LogGroup``; a per-resource rule can not see them together,
so these rules join a bucket (function) to its companions across the stack:

1. through ``property_dependencies`` (the engine records that the companion's ``bucket`` input was
   computed from the bucket: works in preview, when the bucket's id is still unknown);
2. else by value: the companion's ``bucket`` equals the bucket's name (``bucket`` property), its
   ``id``/``arn`` if present, or its logical name (the offline mocks often use it as the id).

If a bucket has no companion but some companion of that kind has an unknown, unresolvable
``bucket``, the rule can not tell and stays silent: it will judge again on ``pulumi up``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterable, Mapping, Sequence

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from . import types as t
from .common import MISSING, UNKNOWN, get, is_wildcard_resource, items, iter_allow, listed, parse_document
from .iam import AWS_MANAGED_POLICY_ARN, SERVICE_ROLE_AWS_MANAGED_POLICIES, managed_policy_arns

CUSTOMER_MANAGED_POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:policy/(?:.*/)?(?P<name>[^/]+)$")
ADMIN_POLICY_NAMES = ("AdministratorAccess",)
# Attachment property that holds the policy ARN(s), per attaching resource type.
POLICY_ARN_PROPERTIES = {
    **{kind: "policyArn" for kind in t.IAM_ATTACHMENT_TYPES},
    **{kind: "policyArns" for kind in t.IAM_EXCLUSIVE_ATTACHMENT_TYPES},
    t.IAM_ROLE: "managedPolicyArns",
}

PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PUBLIC_CANNED_ACLS = ("public-read", "public-read-write", "authenticated-read")


@dataclass(frozen=True)
class Join:
    """Companions of one target, and whether some companion's target could not be resolved."""

    matches: tuple[PolicyResource, ...]
    undetermined: bool


def identifiers(resource: PolicyResource, name_prop: str) -> set[str]:
    """Values another resource may use to reference ``resource``."""
    ids = {resource.name}
    for key in (name_prop, "id", "arn"):
        value = get(resource.props, key)
        if isinstance(value, str) and value:
            ids.add(value)
    return ids


def join(target: PolicyResource, companions: Sequence[PolicyResource], prop: str, name_prop: str) -> Join:
    """Companions whose ``prop`` references ``target`` (see the module docstring)."""
    ids = identifiers(target, name_prop)
    matches, undetermined = [], False
    for companion in companions:
        deps = companion.property_dependencies.get(prop) or []
        if any(dep is target or getattr(dep, "urn", None) == target.urn for dep in deps):
            matches.append(companion)
            continue
        value = get(companion.props, prop)
        if value is UNKNOWN:
            if not deps:
                undetermined = True
            continue
        if isinstance(value, str) and value in ids:
            matches.append(companion)
    return Join(tuple(matches), undetermined)


def of_types(resources: Iterable[PolicyResource], types: Iterable[str]) -> list[PolicyResource]:
    wanted = set(types)
    return [r for r in resources if r.resource_type in wanted]


def _label(bucket: PolicyResource) -> str:
    name = get(bucket.props, "bucket")
    return f'Bucket "{name}"' if isinstance(name, str) and name else f'Bucket "{bucket.name}"'


# --------------------------------------------------------------------------------------------
# S3
# --------------------------------------------------------------------------------------------

def _inline_sse(bucket: PolicyResource) -> Any:
    """The deprecated inline encryption configuration, if any (Bucket / BucketV2 spellings)."""
    single = get(bucket.props, "serverSideEncryptionConfiguration")
    if single is not MISSING:
        return single
    many = items(get(bucket.props, "serverSideEncryptionConfigurations"))
    return many[0] if many else MISSING


def _sse_algorithm_set(rules: Any) -> Any:
    """True if some rule sets an algorithm, UNKNOWN if undecidable, else False."""
    for rule in items(rules):
        if rule is UNKNOWN:
            return UNKNOWN
        algorithm = get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
        if algorithm is UNKNOWN:
            return UNKNOWN
        if isinstance(algorithm, str) and algorithm:
            return True
    return False


def validate_s3_encrypted(args: StackValidationArgs, report: ReportViolation) -> None:
    configs = of_types(args.resources, t.S3_SSE_CONFIGURATION_TYPES)
    for bucket in of_types(args.resources, t.S3_BUCKET_TYPES):
        inline = _inline_sse(bucket)
        if inline is UNKNOWN:
            continue
        if inline is not MISSING and _sse_algorithm_set(get(inline, "rules")) is not False:
            continue
        found = join(bucket, configs, "bucket", "bucket")
        verdicts = [_sse_algorithm_set(get(c.props, "rules")) for c in found.matches]
        if any(v is True or v is UNKNOWN for v in verdicts) or (not found.matches and found.undetermined):
            continue
        report(f"{_label(bucket)} has no default encryption configuration; add an "
               "aws.s3.BucketServerSideEncryptionConfiguration for it with "
               'apply_server_side_encryption_by_default sse_algorithm "aws:kms" (or "AES256").', bucket.urn)


def validate_s3_public_access(args: StackValidationArgs, report: ReportViolation) -> None:
    blocks = of_types(args.resources, [t.S3_PUBLIC_ACCESS_BLOCK])
    for bucket in of_types(args.resources, t.S3_BUCKET_TYPES):
        acl = get(bucket.props, "acl")
        if isinstance(acl, str) and acl in PUBLIC_CANNED_ACLS:
            report(f'{_label(bucket)} uses the public canned ACL "{acl}"; remove acl (buckets are private '
                   "by default).", bucket.urn)
        found = join(bucket, blocks, "bucket", "bucket")
        if not found.matches:
            if not found.undetermined:
                report(f"{_label(bucket)} has no public access block; add an aws.s3.BucketPublicAccessBlock "
                       "for it with all four flags (block_public_acls, block_public_policy, ignore_public_acls, "
                       "restrict_public_buckets) set to True.", bucket.urn)
            continue
        best: list[str] | None = None
        for block in found.matches:
            off = [flag for flag in PUBLIC_ACCESS_FLAGS
                   if get(block.props, flag) is not UNKNOWN and get(block.props, flag) is not True]
            if best is None or len(off) < len(best):
                best = off
        if best:
            report(f"{_label(bucket)}'s public access block leaves {', '.join(best)} unset or false; set all "
                   "four flags to True.", bucket.urn)


def _is_tls_deny(stmt: Mapping) -> bool:
    if stmt.get("Effect") != "Deny":
        return False
    principal = stmt.get("Principal")
    if not (principal == "*" or (isinstance(principal, Mapping) and "*" in listed(principal.get("AWS")))):
        return False
    if not any(a in ("s3:*", "*") for a in listed(stmt.get("Action"))):
        return False
    condition = stmt.get("Condition")
    if not isinstance(condition, Mapping):
        return False
    for operator, block in condition.items():
        if str(operator) not in ("Bool", "BoolIfExists") or not isinstance(block, Mapping):
            continue
        for key, value in block.items():
            if str(key).lower() == "aws:securetransport" and str(value).lower() == "false":
                return True
    return False


def _tls_only(document_value: Any) -> Any:
    doc = parse_document(document_value)
    if doc.unknown:
        return UNKNOWN
    return any(_is_tls_deny(s) for s in doc.statements)


def validate_s3_tls_only(args: StackValidationArgs, report: ReportViolation) -> None:
    policies_ = of_types(args.resources, [t.S3_BUCKET_POLICY])
    for bucket in of_types(args.resources, t.S3_BUCKET_TYPES):
        inline = get(bucket.props, "policy")
        if inline is UNKNOWN or (inline is not MISSING and _tls_only(inline) is not False):
            continue
        found = join(bucket, policies_, "bucket", "bucket")
        verdicts = [_tls_only(get(p.props, "policy")) for p in found.matches]
        if any(v is True or v is UNKNOWN for v in verdicts) or (not found.matches and found.undetermined):
            continue
        what = "has a bucket policy without" if found.matches else "has no bucket policy with"
        report(f"{_label(bucket)} {what} a statement denying plain-HTTP requests; add "
               '{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [<bucket ARN>, '
               '"<bucket ARN>/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}.', bucket.urn)


# --------------------------------------------------------------------------------------------
# Lambda
# --------------------------------------------------------------------------------------------

def validate_lambda_log_group(args: StackValidationArgs, report: ReportViolation) -> None:
    groups = of_types(args.resources, [t.LOG_GROUP])
    for function in of_types(args.resources, [t.LAMBDA_FUNCTION]):
        configured = get(function.props, "loggingConfig", "logGroup")
        if configured is UNKNOWN:
            continue
        if isinstance(configured, str) and configured:
            wanted = {configured}
        else:
            wanted = {f"/aws/lambda/{i}" for i in identifiers(function, "name")}
        matched, undetermined = False, False
        for group in groups:
            deps = group.property_dependencies.get("name") or []
            if any(dep is function or getattr(dep, "urn", None) == function.urn for dep in deps):
                matched = True
                break
            name = get(group.props, "name")
            if name is UNKNOWN:
                undetermined = True
            elif isinstance(name, str) and name in wanted:
                matched = True
                break
        if matched or undetermined:
            continue
        fn_name = get(function.props, "name")
        shown = fn_name if isinstance(fn_name, str) else function.name
        expected = configured if isinstance(configured, str) and configured else f"/aws/lambda/{shown}"
        report(f'Function "{shown}" has no log group "{expected}" in this stack, so Lambda creates one that '
               "never expires; create that log group with retention_in_days in the program (or point "
               "logging_config.log_group at one).", function.urn)


# --------------------------------------------------------------------------------------------
# IAM: managed policies the pack can read; IoT role aliases
# --------------------------------------------------------------------------------------------

def _depends_on_type(resource: PolicyResource, prop: str, types: Iterable[str]) -> bool:
    """The engine recorded that ``prop`` was computed from a resource of one of ``types``."""
    wanted = set(types)
    return any(getattr(dep, "resource_type", None) in wanted for dep in resource.property_dependencies.get(prop) or [])


def _stack_policy_arns(resources: Sequence[PolicyResource]) -> tuple[set[str], set[str]]:
    """(ARNs, names) by which the stack's own ``aws:iam/policy:Policy`` resources are referenced."""
    arns, names = set(), set()
    for policy in of_types(resources, [t.IAM_POLICY]):
        arns |= {i for i in identifiers(policy, "arn") if i.startswith("arn:")}
        names |= {i for i in identifiers(policy, "name") if not i.startswith("arn:")}
    return arns, names


def validate_managed_policies_in_stack(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every customer managed policy attached is one the stack defines (so its document was reviewed)."""
    allowed = {str(a) for a in (args.get_config() or {}).get("allowedExternalPolicies") or []}
    arns, names = _stack_policy_arns(args.resources)
    for resource in args.resources:
        prop = POLICY_ARN_PROPERTIES.get(resource.resource_type)
        if prop is None or _depends_on_type(resource, prop, [t.IAM_POLICY]):
            continue
        for arn in managed_policy_arns(resource.resource_type, resource.props):
            match = CUSTOMER_MANAGED_POLICY_ARN.match(arn)
            if not match or arn in arns or match.group("name") in names or arn in allowed:
                continue
            report(f'{resource.name} attaches the customer managed policy "{arn}", which this stack does not '
                   "define, so the pack can not review its document; define it in the program (aws.iam.Policy) "
                   "or, after a review, list the ARN in allowedExternalPolicies.", resource.urn)


def _trusted_principals(role: PolicyResource) -> Any:
    """Every principal the role's trust policy allows to assume it, as ("Service"|"AWS"|..., value) pairs; UNKNOWN
    while the document is unknown (preview), None when the pack cannot read it as AWS would."""
    document = parse_document(get(role.props, "assumeRolePolicy"))
    if document.unknown:
        return UNKNOWN
    if document.error:
        return None
    principals = set()
    for _, stmt in iter_allow(document):
        if "NotPrincipal" in stmt:
            return None
        principal = stmt.get("Principal")
        if not isinstance(principal, Mapping):
            principals.add(("*", str(principal)))
            continue
        principals |= {(str(kind), str(v)) for kind, values in principal.items() for v in listed(values)}
    return principals


#: Where AWS IoT is handed its provisioning role, per resource type: (top-level property, path to the role ARN).
PROVISIONING_ROLE_REFERENCES = {
    t.IOT_PROVISIONING_TEMPLATE: ("provisioningRoleArn", ()),
    t.IOT_CA_CERTIFICATE: ("registrationConfig", ("roleArn",)),
}


def _provisioning_role_use(role: PolicyResource, resources: Sequence[PolicyResource]) -> Any:
    """True if a provisioning template (``provisioningRoleArn``) or a CA certificate's JITP registration
    (``registrationConfig.roleArn``) of the stack hands AWS IoT ``role``; UNKNOWN if some reference cannot be resolved
    yet (preview); else False. By property dependency, ARN, or the ARN's last segment = the role's name."""
    undetermined = False
    for kind, (prop, path) in PROVISIONING_ROLE_REFERENCES.items():
        for resource in of_types(resources, [kind]):
            deps = resource.property_dependencies.get(prop) or []
            if any(dep is role or getattr(dep, "urn", None) == role.urn for dep in deps):
                return True
            value = get(resource.props, prop, *path)
            if value is UNKNOWN:
                undetermined = undetermined or not deps
            elif isinstance(value, str) and value and (
                    value in identifiers(role, "arn") or value.rsplit("/", 1)[-1] in identifiers(role, "name")):
                return True
    return UNKNOWN if undetermined else False


def validate_service_role_managed_policies(args: StackValidationArgs, report: ReportViolation) -> None:
    """An AWS managed policy of SERVICE_ROLE_AWS_MANAGED_POLICIES is attached only to a role of the stack that its
    one service principal, and nothing else, may assume, and that the stack hands AWS IoT as a provisioning role (a
    provisioning template's ``provisioningRoleArn`` or a CA certificate's ``registrationConfig.roleArn``), never a
    topic rule's or any other iot-trusted role (rules/iam.py says why the exception exists)."""
    roles = of_types(args.resources, [t.IAM_ROLE])
    for attachment in of_types(args.resources, [t.IAM_ROLE_POLICY_ATTACHMENT]):
        match = AWS_MANAGED_POLICY_ARN.match(str(get(attachment.props, "policyArn")))
        service = SERVICE_ROLE_AWS_MANAGED_POLICIES.get(match.group("path")) if match else None
        if match is None or service is None:
            continue
        targets = [role for role in roles
                   if any(m is attachment for m in join(role, [attachment], "role", "name").matches)]
        if not targets:
            if get(attachment.props, "role") is UNKNOWN and not attachment.property_dependencies.get("role"):
                continue  # judged again when the role is known
            report(f'{attachment.name} attaches "{match.group(0)}" to a role this stack does not define, so the pack '
                   f"cannot check who may assume it; the exception for it holds only for a role of the stack that "
                   f"{service} alone may assume.", attachment.urn)
            continue
        for role in targets:
            principals = _trusted_principals(role)
            if principals is not UNKNOWN and principals != {("Service", service)}:
                shown = (", ".join(f"{kind} {value}" for kind, value in sorted(principals or []))
                         or "an unreadable trust policy")
                report(f'{attachment.name} attaches "{match.group(0)}" to role "{role.name}", which {shown} may '
                       f"assume; AWS requires that policy on a role for {service} only, and the pack allows it there "
                       "alone: attach it to a role that trusts nothing but that service principal.", attachment.urn)
            elif _provisioning_role_use(role, args.resources) is False:
                report(f'{attachment.name} attaches "{match.group(0)}" to role "{role.name}", which no provisioning '
                       "template (provisioningRoleArn) or CA certificate (registrationConfig.roleArn) of this stack "
                       "hands AWS IoT; AWS requires that policy on the provisioning role only, and the pack allows it "
                       "there alone: give a topic rule's (or any other) role its own least-privilege policy.",
                       attachment.urn)


def _statement_is_admin(stmt: Mapping) -> bool:
    actions = [a for a in listed(stmt.get("Action")) if isinstance(a, str)]
    resources = [r for r in listed(stmt.get("Resource")) if isinstance(r, str)]
    return any(a in ("*", "*:*") for a in actions) and any(is_wildcard_resource(r) for r in resources)


def _admin_documents(role: PolicyResource, resources: Sequence[PolicyResource]) -> list[Any]:
    """The permission documents the stack gives ``role``: inline, RolePolicy, attached stack Policy."""
    docs = [get(inline, "policy") for inline in items(get(role.props, "inlinePolicies")) if inline is not UNKNOWN]
    docs += [get(r.props, "policy") for r in join(role, of_types(resources, [t.IAM_ROLE_POLICY]), "role", "name").matches]
    return docs


def _attached_arns(role: PolicyResource, resources: Sequence[PolicyResource]) -> list[str]:
    arns = managed_policy_arns(t.IAM_ROLE, role.props)
    for kind, prop in ((t.IAM_ROLE_POLICY_ATTACHMENT, "role"), (t.IAM_ROLE_POLICY_ATTACHMENTS_EXCLUSIVE, "roleName")):
        for attachment in join(role, of_types(resources, [kind]), prop, "name").matches:
            arns += managed_policy_arns(kind, attachment.props)
    return arns


def admin_reason(role: PolicyResource, resources: Sequence[PolicyResource]) -> str:
    """Why the stack makes ``role`` an administrator, or ""."""
    for arn in _attached_arns(role, resources):
        match = AWS_MANAGED_POLICY_ARN.match(arn)
        if match and match.group("path").rsplit("/", 1)[-1] in ADMIN_POLICY_NAMES:
            return f'it attaches "{arn}"'
    for value in _admin_documents(role, resources):
        if any(_statement_is_admin(stmt) for _, stmt in iter_allow(parse_document(value))):
            return 'a policy of it allows "*" on every resource'
    return ""


def validate_role_alias_not_admin(args: StackValidationArgs, report: ReportViolation) -> None:
    """A role alias hands its role's credentials to every device allowed to assume it: the role must be one of the
    stack (so the pack reads what it allows) and not an administrator, or a role named in config ``trustedRoles``
    (reviewed by hand), as foreign account roots are named in ``trustedAccounts``."""
    roles = of_types(args.resources, [t.IAM_ROLE])
    trusted = {str(r) for r in (args.get_config() or {}).get("trustedRoles") or []}
    for alias in of_types(args.resources, [t.IOT_ROLE_ALIAS]):
        arn = get(alias.props, "roleArn")
        name = get(alias.props, "alias")
        shown = name if isinstance(name, str) else alias.name
        deps = alias.property_dependencies.get("roleArn") or []
        ours = [role for role in roles
                if any(dep is role or getattr(dep, "urn", None) == role.urn for dep in deps)
                or (isinstance(arn, str) and (arn in identifiers(role, "arn")
                                             or arn.rsplit("/", 1)[-1] in identifiers(role, "name")))]
        if not ours:
            if isinstance(arn, str) and arn not in trusted:  # an unknown ARN is judged again on `pulumi up`
                report(f'Role alias "{shown}" hands devices the temporary credentials of role "{arn}", which this '
                       "stack does not define, so the pack cannot check that it is not an administrator; define "
                       "the role in the program (aws.iam.Role) with only the actions the devices need, or, after a "
                       "review, list its ARN in this rule's trustedRoles.", alias.urn)
            continue
        for role in ours:
            reason = admin_reason(role, args.resources)
            if reason:
                report(f'Role alias "{shown}" hands devices the temporary credentials of role "{role.name}", '
                       f"which is an administrator ({reason}); point the alias at a role with only the actions "
                       "the devices need.", alias.urn)


# --------------------------------------------------------------------------------------------
# CloudWatch alarms
# --------------------------------------------------------------------------------------------

def _notifies(alarm: PolicyResource) -> Any:
    """True if the alarm has an alarm action, UNKNOWN while its actions are unknown (preview), else False."""
    actions = items(get(alarm.props, "alarmActions"))
    if any(a is UNKNOWN for a in actions):
        return UNKNOWN
    return any(isinstance(a, str) and a for a in actions)


def validate_alarm_actions(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every alarm notifies someone once the stack notifies anyone.

    A policy pack is not handed the stack's configuration (``StackValidationArgs`` carries the resources, the pack's
    own config and the stack's tags), so it cannot read ``alarmTopicArn``; the program gives every alarm the same
    actions from that one setting, so an alarm with actions in the stack means the topic is set, and an alarm without
    is one that was forgotten. Config ``requireAlarmActions`` makes every alarm need an action in every stack."""
    alarms = of_types(args.resources, t.ALARM_TYPES)
    verdicts = {alarm.urn: _notifies(alarm) for alarm in alarms}
    required = bool((args.get_config() or {}).get("requireAlarmActions"))
    notifying = [alarm for alarm in alarms if verdicts[alarm.urn] is True]
    if not notifying and not required:
        return
    example = get(notifying[0].props, "alarmActions", 0) if notifying else "<SNS topic ARN>"
    for alarm in alarms:
        if verdicts[alarm.urn] is False:
            name = get(alarm.props, "name" if alarm.resource_type == t.METRIC_ALARM else "alarmName")
            shown = name if isinstance(name, str) and name else alarm.name
            why = (f"{len(notifying)} other alarm(s) of this stack notify {example}" if notifying
                   else "config requireAlarmActions is set")
            report(f'Alarm "{shown}" has no alarm action, so it goes off without telling anyone, while {why}; set '
                   "alarm_actions (and ok_actions) to the same topic.", alarm.urn)


def policies() -> list[StackValidationPolicy]:
    mandatory = EnforcementLevel.MANDATORY
    return [
        StackValidationPolicy(
            name="s3-bucket-encrypted",
            description="S3 buckets have a default server-side encryption configuration.",
            validate=validate_s3_encrypted,
            enforcement_level=mandatory,
        ),
        StackValidationPolicy(
            name="s3-bucket-public-access-blocked",
            description="S3 buckets block every kind of public access.",
            validate=validate_s3_public_access,
            enforcement_level=mandatory,
        ),
        StackValidationPolicy(
            name="s3-bucket-tls-only",
            description="S3 bucket policies deny requests that do not use TLS.",
            validate=validate_s3_tls_only,
            enforcement_level=mandatory,
        ),
        StackValidationPolicy(
            name="iam-managed-policies-in-stack",
            description="Customer managed policies attached in the stack are defined in the stack, so the pack "
                        "reviews their documents.",
            validate=validate_managed_policies_in_stack,
            enforcement_level=mandatory,
            config_schema=PolicyConfigSchema(properties={
                "allowedExternalPolicies": {
                    "type": "array", "items": {"type": "string"}, "default": [],
                    "description": "Customer managed policy ARNs defined outside the stack that may be attached "
                                   "(reviewed by hand).",
                },
            }),
        ),
        StackValidationPolicy(
            name="iam-service-role-managed-policies",
            description="The AWS managed policies AWS requires on one service's role (AWSIoTThingsRegistration) are "
                        "attached only to a role of the stack that nothing but that service may assume and that a "
                        "provisioning template or CA certificate registration of the stack hands AWS IoT.",
            validate=validate_service_role_managed_policies,
            enforcement_level=mandatory,
        ),
        StackValidationPolicy(
            name="iot-role-alias-not-admin",
            description="IoT role aliases point at a role of the stack without administrator access, or at a role "
                        "listed in trustedRoles.",
            validate=validate_role_alias_not_admin,
            enforcement_level=mandatory,
            config_schema=PolicyConfigSchema(properties={
                "trustedRoles": {
                    "type": "array", "items": {"type": "string"}, "default": [],
                    "description": "ARNs of IAM roles defined outside the stack that role aliases may point at "
                                   "(reviewed by hand: devices get their credentials).",
                },
            }),
        ),
        StackValidationPolicy(
            name="cloudwatch-alarm-actions",
            description="Every CloudWatch alarm has an alarm action when any alarm of the stack notifies a topic "
                        "(or always, with requireAlarmActions).",
            validate=validate_alarm_actions,
            enforcement_level=mandatory,
            config_schema=PolicyConfigSchema(properties={
                "requireAlarmActions": {
                    "type": "boolean", "default": False,
                    "description": "Every alarm must have an alarm action, even in a stack where none has one.",
                },
            }),
        ),
        StackValidationPolicy(
            name="lambda-log-group-retention",
            description="Every Lambda function writes to a log group the stack creates (with retention).",
            validate=validate_lambda_log_group,
            enforcement_level=mandatory,
        ),
    ]
