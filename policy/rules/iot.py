"""AWS IoT rules: TLS 1.3 on the custom domain, device policies scoped to the connecting thing,
topic rules that do not drop failures (or, through their SQL, every action) silently.

Device policies are the documents of ``aws:iot/policy:Policy`` and the ``AWS::IoT::Policy``
resources of a fleet provisioning template's body (the policy it attaches to every certificate
it provisions): both get the same rules.
"""

from __future__ import annotations

import json
import re
from typing import Any
from collections.abc import Mapping

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from . import types as t
from .common import (
    MISSING,
    UNKNOWN,
    Document,
    get,
    has_wildcard,
    is_wildcard_resource,
    iter_allow,
    listed,
    parse_document,
    plain,
    statement_label,
)
from .iam import action_matches

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
# IoT resource types that belong to one device: a device policy may name them only through the
# thing-name variable (whatever the action: iot:GetRetainedMessage on topic/* reads every device's
# retained messages, iot:UpdateJobExecution on thing/* updates every device's jobs).
THING_SCOPED_TYPES = ("client", "topic", "topicfilter", "thing")
TEMPLATE_POLICY_TYPE = "AWS::IoT::Policy"


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


def _template_documents(body: Any) -> list[tuple[str, Document]]:
    """The ``AWS::IoT::Policy`` documents of a provisioning template body (a JSON string)."""
    if body is MISSING or body is UNKNOWN:
        return []
    try:
        template = json.loads(body) if isinstance(body, str) else plain(body)
    except json.JSONDecodeError as exc:
        return [("provisioning template ", Document((), error=f"the template body is not valid JSON ({exc.msg}); "
                                                                 "give a JSON template so its policy can be reviewed"))]
    resources = template.get("Resources") if isinstance(template, dict) else None
    docs = []
    for logical_id, resource in (resources.items() if isinstance(resources, dict) else []):
        if not isinstance(resource, dict) or resource.get("Type") != TEMPLATE_POLICY_TYPE:
            continue
        properties = resource.get("Properties")
        document = properties.get("PolicyDocument", MISSING) if isinstance(properties, dict) else MISSING
        docs.append((f'provisioning template policy "{logical_id}" ', parse_document(document)))
    return docs


def _iot_documents(args: ResourceValidationArgs) -> list[tuple[str, Document]]:
    """(label prefix, document) for every device policy the resource declares."""
    if args.resource_type == t.IOT_POLICY:
        return [("", parse_document(get(args.props, "policy")))]
    if args.resource_type == t.IOT_PROVISIONING_TEMPLATE:
        return _template_documents(get(args.props, "templateBody"))
    return []


def _at(prefix: str, index: int, stmt: Mapping) -> str:
    """"Statement 0" or 'Provisioning template policy "p" statement 0'."""
    text = f"{prefix}{statement_label(index, stmt)}"
    return text[0].upper() + text[1:]


def _actions(stmt: Mapping) -> list[str]:
    return [a for a in listed(stmt.get("Action")) if isinstance(a, str)]


def _resources(stmt: Mapping) -> list[str]:
    return [r for r in listed(stmt.get("Resource")) if isinstance(r, str)]


def validate_iot_no_wildcard_actions(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for prefix, doc in _iot_documents(args):
        if doc.error:
            label = prefix.strip() or "the IoT policy"
            report(f"{label[0].upper() + label[1:]}: {doc.error}.", None)
            continue
        for index, stmt in iter_allow(doc):
            for action in _actions(stmt):
                if has_wildcard(action):
                    report(f'{_at(prefix, index, stmt)} allows "{action}"; list the exact device actions '
                           "(iot:Connect, iot:Publish, iot:Subscribe, iot:Receive).", None)
            if "NotAction" in stmt:
                report(f"{_at(prefix, index, stmt)} uses NotAction with Effect Allow; list the exact device "
                       "actions in Action instead.", None)


def validate_iot_no_wildcard_resources(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for prefix, doc in _iot_documents(args):
        for index, stmt in iter_allow(doc):
            where = _at(prefix, index, stmt)
            wild = [r for r in _resources(stmt) if is_wildcard_resource(r)]
            if wild:
                report(f'{where} allows {", ".join(_actions(stmt)) or "its actions"} on Resource '
                       f'"{wild[0]}"; scope it to ARNs of this account and region that contain '
                       f"{THING_NAME_VARIABLE}, e.g. arn:aws:iot:<region>:<account>:client/{THING_NAME_VARIABLE}.",
                       None)
            if "NotResource" in stmt:
                report(f"{where} uses NotResource with Effect Allow; list the device's own resources in Resource "
                       "instead.", None)


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


def _resource_type(resource: str) -> str:
    """``topic`` for ``arn:aws:iot:r:a:topic/x``; "" when the resource is not such an ARN."""
    parts = resource.split(":", 5)
    return parts[5].split("/", 1)[0] if len(parts) == 6 else ""


def variable_well_placed(resource: str) -> bool:
    """The thing-name variable is a whole path segment after a wildcard-free prefix
    (``topic/i/${...}/*``, ``client/${...}``); ``topic/*${...}*`` or ``topic/i/${...}-*`` would
    also match other things' resources (thing "a" reaching "ab"'s)."""
    before, _, after = resource.partition(THING_NAME_VARIABLE)
    return before.endswith("/") and not has_wildcard(before) and (after == "" or after.startswith("/"))


def _check_resource(where: str, actions: list[str], resource: str, needs_variable: bool,
                    report: ReportViolation) -> None:
    """Report one resource of a device statement that is not confined to the connecting thing."""
    shown = ", ".join(actions) or "its actions"
    if THING_NAME_VARIABLE in resource:
        if not variable_well_placed(resource):
            report(f'{where} allows {shown} on "{resource}", where {THING_NAME_VARIABLE} is not a whole path '
                   "segment after a fixed prefix, so the wildcards around it also match other things' resources; "
                   f"write it as .../{THING_NAME_VARIABLE}/... with no wildcard before it.", None)
    elif needs_variable or _resource_type(resource) in THING_SCOPED_TYPES:
        report(f'{where} allows {shown} on "{resource}", which every device may use; include '
               f"{THING_NAME_VARIABLE} in the resource (e.g. topic/i/{THING_NAME_VARIABLE}/*).", None)


# A fleet provisioning claim policy (docs/design.md, "Fleet provisioning by claim"): no thing exists while the claim
# certificate connects, so it cannot be scoped by the thing-name variable; instead it must be exactly this shape:
# connect with client ids of its own (client/claim-*: claim- is reserved, so never a device's or a canary's client id,
# which ${iot:ClientId} or client/* would allow every claim holder to take over), publish the two requests of one
# named template, subscribe to / receive their accepted and rejected replies (JSON). builders.fleet.claim_policy
# writes it.
CLAIM_TOPIC_PREFIXES = ("$aws/certificates/", "$aws/provisioning-templates/")
_TEMPLATE = r"[0-9A-Za-z_-]{1,36}"
_REQUEST = rf"(\$aws/certificates/create-from-csr/json|\$aws/provisioning-templates/{_TEMPLATE}/provision/json)"
CLAIM_SHAPES = {
    "iot:connect": re.compile(r"client/claim-\*"),
    "iot:publish": re.compile(rf"topic/{_REQUEST}"),
    "iot:subscribe": re.compile(rf"topicfilter/{_REQUEST}/(accepted|rejected)"),
    "iot:receive": re.compile(rf"topic/{_REQUEST}/(accepted|rejected)"),
}


def is_claim_policy(doc: Document) -> bool:
    """A policy naming the fleet provisioning MQTT API (what only a claim certificate needs)."""
    return any(prefix in resource for _, stmt in iter_allow(doc) for resource in _resources(stmt)
               for prefix in CLAIM_TOPIC_PREFIXES)


def _check_claim_policy(prefix: str, doc: Document, report: ReportViolation) -> None:
    """Every action/resource pair of a claim policy has the exact claim shape; anything else is reported."""
    for index, stmt in iter_allow(doc):
        where = _at(prefix, index, stmt)
        for action in _actions(stmt):
            shape = CLAIM_SHAPES.get(action.lower())
            for resource in _resources(stmt):
                if is_wildcard_resource(resource):
                    continue  # reported by iot-policy-no-wildcard-resources
                path = resource.split(":", 5)[5] if len(resource.split(":", 5)) == 6 else resource
                # the one wildcard allowed: the random part of the claim's own client ids (client/claim-*)
                wildcard = has_wildcard(path) and action.lower() != "iot:connect"
                if shape is None or wildcard or not shape.fullmatch(path):
                    report(f'{where} allows {action} on "{resource}" in a fleet provisioning claim policy, which may '
                           "only connect as client/claim-*, publish $aws/certificates/create-from-csr/json and "
                           "$aws/provisioning-templates/<our template>/provision/json, and subscribe to / receive "
                           "their /accepted and /rejected replies, each named exactly (builders.fleet.claim_policy).",
                           None)


def validate_iot_device_scoped(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for prefix, doc in _iot_documents(args):
        if not doc.error and is_claim_policy(doc):
            _check_claim_policy(prefix, doc, report)
            continue
        for index, stmt in iter_allow(doc):
            actions = _actions(stmt)
            device_actions = [a for a in actions if _is_device_action(a)]
            where = _at(prefix, index, stmt)
            for resource in _resources(stmt):
                # Wildcard resources are reported by iot-policy-no-wildcard-resources.
                if not is_wildcard_resource(resource):
                    _check_resource(where, actions, resource, bool(device_actions), report)
            if any(action_matches(a, "iot:Connect") for a in device_actions) and not _has_attached_condition(stmt):
                report(f"{where} allows iot:Connect without the condition "
                       '{"Bool": {"iot:Connection.Thing.IsAttached": "true"}}; add it so only a certificate '
                       "attached to the thing can connect as that thing.", None)


def _sets_an_action(error_action: Any) -> bool:
    """True if the error action configures some action (``{}`` or all-null members do not)."""
    value = plain(error_action)
    return isinstance(value, dict) and any(v not in (None, MISSING, {}, []) for v in value.values())


def validate_topic_rule_error_action(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != t.IOT_TOPIC_RULE:
        return
    error_action = get(args.props, "errorAction")
    if error_action is UNKNOWN:
        return
    if error_action is MISSING:
        report("The topic rule has no error_action, so a failed action (e.g. starting the JITR state machine) "
               "is dropped without a trace; add error_action, e.g. cloudwatch_logs to a log group with "
               "retention.", None)
    elif not _sets_an_action(error_action):
        report("The topic rule's error_action configures no action, so a failed action is dropped without a "
               "trace as if there were none; set one action in it, e.g. cloudwatch_logs to a log group with "
               "retention.", None)


# String literals of IoT SQL, single- or double-quoted (the developer guide uses both: iot-sql-json.html), whose
# text is not SQL: a function name inside one is not a call.
_SQL_STRING = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"\\]|\\.)*\"")
_GET_DYNAMODB = re.compile(r"\bget_dynamodb\s*\(", re.IGNORECASE)


def validate_topic_rule_sql_lookups(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A rule's SQL calls no ``get_dynamodb()``, in SET, SELECT or WHERE.

    What AWS does for a key with no item is not documented. A re:Post answer (QUtmrQNjM4SkiP8mWy31_8Ew) reports a
    FunctionExecution error that makes the rule match nothing and run no action; error actions cover failed
    actions only (rule-error-handling.html), so the message is dropped without a trace. A lookup of an item that
    may not exist yet (the JITR rule's former lease filter: every new certificate) then loses messages silently,
    wherever the call is. Two calls, or SQL version 2015-10-08, are refused by AWS's own rules as well."""
    if args.resource_type != t.IOT_TOPIC_RULE:
        return
    sql = get(args.props, "sql")
    if not isinstance(sql, str):
        return
    calls = len(_GET_DYNAMODB.findall(_SQL_STRING.sub("''", sql)))
    if calls:
        report(f"The topic rule's SQL calls get_dynamodb() ({calls} call{'s' if calls > 1 else ''}): for a key with "
               "no item AWS is reported to fail the function (FunctionExecution), so the rule matches nothing and "
               "runs no action, not even its error action (re:Post QUtmrQNjM4SkiP8mWy31_8Ew). Match on the message "
               "alone and read DynamoDB in the action (a Lambda function or a Step Functions workflow).", None)


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
            description="IoT policies never allow a wildcard resource (\"*\", another account's or every region's).",
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
            description="IoT topic rules have an error action that sets an action.",
            validate=validate_topic_rule_error_action,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="iot-topic-rule-sql-lookups",
            description="IoT topic rule SQL calls no get_dynamodb() (a missing item drops the message silently).",
            validate=validate_topic_rule_sql_lookups,
            enforcement_level=mandatory,
        ),
    ]
