"""AWS IoT rules: TLS 1.3 on the custom domain, device policies scoped to the connecting thing,
topic rules that do not drop failures silently."""

from __future__ import annotations

from typing import Mapping

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from . import types as t
from .common import MISSING, UNKNOWN, get, iter_allow, listed, parse_document, statement_label
from .iam import action_matches, has_wildcard, is_wildcard_resource

# TLS 1.3 only. IoTSecurityPolicy_TLS13_1_2_2022_10 (the service default) also accepts TLS 1.2.
DEFAULT_ALLOWED_SECURITY_POLICIES = ("IoTSecurityPolicy_TLS13_1_3_2022_10",)

THING_NAME_VARIABLE = "${iot:Connection.Thing.ThingName}"
# Actions a device performs on the broker (and on its shadow): each must be confined to the
# connecting thing's own client id / topics.
DEVICE_ACTIONS = (
    "iot:Connect", "iot:Publish", "iot:RetainPublish", "iot:Subscribe", "iot:Receive",
    "iot:GetThingShadow", "iot:UpdateThingShadow", "iot:DeleteThingShadow",
)
ATTACHED_CONDITION_KEY = "iot:connection.thing.isattached"


def _where(index: int, stmt: Mapping) -> str:
    text = statement_label(index, stmt)
    return text[0].upper() + text[1:]


def validate_domain_tls(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != t.IOT_DOMAIN_CONFIGURATION:
        return
    configured = (args.get_config() or {}).get("allowedSecurityPolicies")
    allowed = [str(p) for p in (configured if configured is not None else DEFAULT_ALLOWED_SECURITY_POLICIES)]
    policy = get(args.props, "tlsConfig", "securityPolicy")
    if policy is UNKNOWN:
        return
    if policy is MISSING or policy == "":
        report("The domain configuration sets no tls_config.security_policy, so AWS IoT applies its default, "
               f"which accepts TLS 1.2; set tls_config={{\"security_policy\": \"{allowed[0]}\"}}.", None)
        return
    if policy in allowed:
        return
    hint = ""
    if any(str(policy).lower() == a.lower() for a in allowed):
        hint = " (names are case-sensitive: note the capital T in IoT)"
    report(f'The domain configuration uses security policy "{policy}", which is not in the allowed list '
           f'({", ".join(allowed)}){hint}; set tls_config.security_policy to "{allowed[0]}".', None)


def _iot_document(args: ResourceValidationArgs):
    if args.resource_type != t.IOT_POLICY:
        return None
    return parse_document(get(args.props, "policy"))


def _actions(stmt: Mapping) -> list[str]:
    return [a for a in listed(stmt.get("Action")) if isinstance(a, str)]


def _resources(stmt: Mapping) -> list[str]:
    return [r for r in listed(stmt.get("Resource")) if isinstance(r, str)]


def validate_iot_no_wildcard_actions(args: ResourceValidationArgs, report: ReportViolation) -> None:
    doc = _iot_document(args)
    if doc is None:
        return
    if doc.error:
        report(f"The IoT policy: {doc.error}; give a JSON policy document so it can be reviewed.", None)
        return
    for index, stmt in iter_allow(doc):
        for action in _actions(stmt):
            if has_wildcard(action):
                report(f'{_where(index, stmt)} allows "{action}"; list the exact device actions '
                       "(iot:Connect, iot:Publish, iot:Subscribe, iot:Receive).", None)
        if "NotAction" in stmt:
            report(f"{_where(index, stmt)} uses NotAction with Effect Allow; list the exact device actions "
                   "in Action instead.", None)


def validate_iot_no_wildcard_resources(args: ResourceValidationArgs, report: ReportViolation) -> None:
    doc = _iot_document(args)
    if doc is None:
        return
    for index, stmt in iter_allow(doc):
        wild = [r for r in _resources(stmt) if is_wildcard_resource(r)]
        if wild:
            report(f'{_where(index, stmt)} allows {", ".join(_actions(stmt)) or "its actions"} on Resource '
                   f'"{wild[0]}"; scope it to ARNs that contain {THING_NAME_VARIABLE}, e.g. '
                   f"arn:aws:iot:<region>:<account>:client/{THING_NAME_VARIABLE}.", None)
        if "NotResource" in stmt:
            report(f"{_where(index, stmt)} uses NotResource with Effect Allow; list the device's own "
                   "resources in Resource instead.", None)


def _is_device_action(action: str) -> bool:
    return any(action_matches(action, device) for device in DEVICE_ACTIONS)


def _has_attached_condition(stmt: Mapping) -> bool:
    condition = stmt.get("Condition")
    if not isinstance(condition, Mapping):
        return False
    for operator, block in condition.items():
        if str(operator).lower() != "bool" or not isinstance(block, Mapping):
            continue
        for key, value in block.items():
            if str(key).lower() == ATTACHED_CONDITION_KEY and str(value).lower() == "true":
                return True
    return False


def validate_iot_device_scoped(args: ResourceValidationArgs, report: ReportViolation) -> None:
    doc = _iot_document(args)
    if doc is None:
        return
    for index, stmt in iter_allow(doc):
        actions = [a for a in _actions(stmt) if _is_device_action(a)]
        if not actions:
            continue
        for resource in _resources(stmt):
            # A bare "*" is reported by iot-policy-no-wildcard-resources.
            if is_wildcard_resource(resource) or THING_NAME_VARIABLE in resource:
                continue
            report(f'{_where(index, stmt)} allows {", ".join(actions)} on "{resource}", which every device '
                   f"may use; include {THING_NAME_VARIABLE} in the resource "
                   f"(e.g. topic/i/{THING_NAME_VARIABLE}/*).", None)
        if any(action_matches(a, "iot:Connect") for a in actions) and not _has_attached_condition(stmt):
            report(f"{_where(index, stmt)} allows iot:Connect without the condition "
                   '{"Bool": {"iot:Connection.Thing.IsAttached": "true"}}; add it so only a certificate '
                   "attached to the thing can connect as that thing.", None)


def validate_topic_rule_error_action(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != t.IOT_TOPIC_RULE:
        return
    if get(args.props, "errorAction") is MISSING:
        report("The topic rule has no error_action, so a failed action (e.g. starting the JITR state machine) "
               "is dropped without a trace; add error_action, e.g. cloudwatch_logs to a log group with "
               "retention.", None)


def policies() -> list[ResourceValidationPolicy]:
    mandatory = EnforcementLevel.MANDATORY
    return [
        ResourceValidationPolicy(
            name="iot-domain-tls13",
            description="IoT domain configurations use a TLS 1.3 security policy.",
            validate=validate_domain_tls,
            enforcement_level=mandatory,
            config_schema=PolicyConfigSchema(properties={
                "allowedSecurityPolicies": {
                    "type": "array", "items": {"type": "string"},
                    "default": list(DEFAULT_ALLOWED_SECURITY_POLICIES),
                    "description": "IoT TLS security policy names a domain configuration may use.",
                },
            }),
        ),
        ResourceValidationPolicy(
            name="iot-policy-no-wildcard-actions",
            description="IoT policies name exact actions: no \"iot:*\", \"*\" or wildcard patterns.",
            validate=validate_iot_no_wildcard_actions,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="iot-policy-no-wildcard-resources",
            description="IoT policies never allow Resource \"*\".",
            validate=validate_iot_no_wildcard_resources,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="iot-policy-device-scoped",
            description="IoT device actions are scoped by ${iot:Connection.Thing.ThingName}, and connecting "
                        "requires the certificate to be attached to the thing.",
            validate=validate_iot_device_scoped,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="iot-topic-rule-error-action",
            description="IoT topic rules have an error action.",
            validate=validate_topic_rule_error_action,
            enforcement_level=mandatory,
        ),
    ]
