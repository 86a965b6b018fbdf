"""Run the policy pack without the Pulumi CLI, over resources recorded under Pulumi mocks.

``evaluate(resources, config)`` runs every policy of ``policy.pack`` the way the policy SDK's
analyzer does during ``pulumi preview`` (resource policies per resource in registration order,
then stack policies over the whole list; props wrapped in the SDK's unknown-checking proxy;
policy config with schema defaults; per-policy enforcement levels), and returns the violations.
``format_report`` prints them as ``pulumi preview`` does under "Policies:".

A resource is a dict ``{"type", "name", "urn", "props", "parent"}``: ``props`` with engine
(camelCase) names exactly as ``MockResourceArgs.inputs`` holds them, ``parent`` the parent's
URN or None. Optional keys: ``id`` (the id the mocks returned; lets stack rules join companions
by id) and ``propertyDependencies`` (``{prop: [urn, ...]}``, as the engine records them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from .pack import DEFAULT_ENFORCEMENT_LEVEL, PACK_NAME, build_policies, pack_version
from .rules.common import is_unknown_value

ConfigValue = str | EnforcementLevel | Mapping[str, Any]
LEVELS = {level.value: level for level in EnforcementLevel}


@dataclass(frozen=True)
class Violation:
    """One reported violation, with what ``pulumi preview`` shows for it."""

    policy_pack: str
    policy_pack_version: str
    policy_name: str
    description: str
    enforcement_level: str  # "mandatory" | "advisory"
    urn: str
    resource_type: str
    resource_name: str
    message: str

    def format(self) -> str:
        """The violation as ``pulumi preview`` prints it (without the pack header)."""
        lines = [f"- [{self.enforcement_level}]  {self.policy_name}  ({self.resource_type}: {self.resource_name})",
                 f"  {self.description}"]
        lines += [f"  {line}" for line in self.message.splitlines()]
        return "\n".join(lines)


class PolicyConfigError(ValueError):
    """The policy config names an unknown policy, level or property."""


class ResourceShapeError(ValueError):
    """A resource dict lacks a required key."""


# --------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Settings:
    level: EnforcementLevel
    properties: dict


def _level(value: Any, where: str) -> EnforcementLevel:
    if isinstance(value, EnforcementLevel):
        return value
    if isinstance(value, str) and value in LEVELS:
        return LEVELS[value]
    raise PolicyConfigError(f"{where}: enforcement level {value!r} is not one of {sorted(LEVELS)}")


def _schema_defaults(policy: Policy) -> dict:
    schema = policy.config_schema
    if schema is None:
        return {}
    return {k: v["default"] for k, v in schema.properties.items() if "default" in v}


def _check_property(policy: Policy, key: str, value: Any) -> None:
    schema = policy.config_schema.properties if policy.config_schema else {}
    if key not in schema:
        known = ", ".join(sorted(schema)) or "none"
        raise PolicyConfigError(f"policy {policy.name!r} has no config property {key!r} (it takes: {known})")
    if schema[key].get("type") == "array" and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
        raise PolicyConfigError(f"{policy.name}.{key} must be a list of strings, got {value!r}")


def resolve_config(policies: Sequence[Policy], config: Mapping[str, ConfigValue] | None) -> dict[str, _Settings]:
    """Per-policy enforcement level and properties, as ``pulumi preview --policy-pack-config`` would
    give them: ``{"all": level, "<policy>": level | {"enforcementLevel": level, "<prop>": value}}``."""
    config = dict(config or {})
    by_name = {p.name: p for p in policies}
    unknown = sorted(set(config) - set(by_name) - {"all"})
    if unknown:
        raise PolicyConfigError(f"policy config names unknown policies {unknown}; the pack has: "
                                f"{', '.join(sorted(by_name))}")
    default_level = _level(config["all"], "all") if "all" in config else None
    settings = {}
    for policy in policies:
        level = default_level or policy.enforcement_level or DEFAULT_ENFORCEMENT_LEVEL
        properties = _schema_defaults(policy)
        entry = config.get(policy.name)
        if isinstance(entry, (str, EnforcementLevel)):
            level = _level(entry, policy.name)
        elif isinstance(entry, Mapping):
            for key, value in entry.items():
                if key == "enforcementLevel":
                    level = _level(value, policy.name)
                else:
                    _check_property(policy, key, value)
                    properties[key] = value
        elif entry is not None:
            raise PolicyConfigError(f"config for {policy.name!r} must be a level or an object, got {entry!r}")
        settings[policy.name] = _Settings(level, properties)
    return settings


# --------------------------------------------------------------------------------------------
# Resources
# --------------------------------------------------------------------------------------------

def _engine_value(value: Any) -> Any:
    """Mock inputs → what the analyzer receives: unknowns as the engine's sentinel string."""
    if is_unknown_value(value):
        return UNKNOWN_STRING_VALUE
    if isinstance(value, Mapping):
        return {str(k): _engine_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_engine_value(v) for v in value]
    return value


def _options(parent: str | None) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def _urn_type_and_name(urn: str, fallback_type: str, fallback_name: str) -> tuple[str, str]:
    parts = urn.split("::")
    if urn.startswith("urn:pulumi:") and len(parts) >= 4:
        return parts[2].split("$")[-1], "::".join(parts[3:])
    return fallback_type, fallback_name


@dataclass(frozen=True)
class _Resource:
    type: str
    name: str
    urn: str
    props: Any
    parent: str | None
    property_dependencies: dict


def _normalise(index: int, raw: Mapping[str, Any]) -> _Resource:
    if not isinstance(raw, Mapping):
        raise ResourceShapeError(f"resource #{index} is a {type(raw).__name__}, expected a dict with "
                                 "type, name, urn, props, parent")
    missing = [k for k in ("type", "name") if not raw.get(k)]
    if missing:
        raise ResourceShapeError(f"resource #{index} lacks {missing}: every resource needs a type token and a "
                                 "logical name")
    props = raw.get("props")
    props = {} if props is None else props
    if not isinstance(props, Mapping):
        raise ResourceShapeError(f"resource #{index} ({raw['name']}): props must be a dict of engine-named "
                                 f"inputs, got {type(props).__name__}")
    urn = raw.get("urn") or f"urn:pulumi:offline::multi-region-iot::{raw['type']}::{raw['name']}"
    plain_props = _engine_value(props)
    if raw.get("id") is not None and "id" not in plain_props:
        plain_props["id"] = raw["id"]
    deps = {str(k): [str(u) for u in v] for k, v in (raw.get("propertyDependencies") or {}).items()}
    return _Resource(raw["type"], raw["name"], urn, plain_props, raw.get("parent"), deps)


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------

def evaluate(resources: Sequence[Mapping[str, Any]], config: Mapping[str, ConfigValue] | None = None,
             policies: Sequence[Policy] | None = None) -> list[Violation]:
    """Run every policy of the pack over ``resources``; return the violations in report order.

    ``config`` follows the policy-pack config file format (see ``resolve_config``); a disabled
    policy is skipped. ``policies`` defaults to the pack's (tests may pass a subset).
    """
    policies = list(policies) if policies is not None else build_policies()
    settings = resolve_config(policies, config)
    version = pack_version()
    normalised = [_normalise(i, r) for i, r in enumerate(resources)]
    by_urn = {r.urn: r for r in normalised}
    violations: list[Violation] = []

    def reporter(policy: Policy, level: EnforcementLevel, default: _Resource | None):
        shown_level = EnforcementLevel.MANDATORY if level == EnforcementLevel.REMEDIATE else level

        def report(message: str, urn: str | None = None) -> None:
            target = by_urn.get(urn) if urn else default
            target_urn = urn or (default.urn if default else "")
            if target is not None:
                rtype, rname = _urn_type_and_name(target.urn, target.type, target.name)
            elif target_urn:
                rtype, rname = _urn_type_and_name(target_urn, "pulumi:pulumi:Stack", target_urn)
            else:
                rtype, rname = "pulumi:pulumi:Stack", "multi-region-iot"
            violations.append(Violation(PACK_NAME, version, policy.name, policy.description, shown_level.value,
                                        target_urn, rtype, rname, message or ""))
        return report

    def run(policy: ResourceValidationPolicy | StackValidationPolicy, args: Any, report: Any,
            target: _Resource | None) -> None:
        try:
            policy.validate(args, report)
        except UnknownValueError as exc:
            violations.append(Violation(
                PACK_NAME, version, policy.name, policy.description, EnforcementLevel.ADVISORY.value,
                target.urn if target else "", target.type if target else "pulumi:pulumi:Stack",
                target.name if target else "multi-region-iot",
                f"can't run policy '{policy.name}' from policy pack '{PACK_NAME}@v{version}' during preview: "
                f"{exc.message}"))
        except Exception as exc:  # a rule bug must name the rule and the resource
            where = f"resource {target.urn}" if target else "the stack"
            raise RuntimeError(f"policy {policy.name!r} crashed on {where}: {exc!r}") from exc

    resource_policies = [p for p in policies if isinstance(p, ResourceValidationPolicy)]
    stack_policies = [p for p in policies if isinstance(p, StackValidationPolicy)]

    for resource in normalised:
        for policy in resource_policies:
            setting = settings[policy.name]
            if setting.level == EnforcementLevel.DISABLED:
                continue
            args = ResourceValidationArgs(resource.type, unknown_checking_proxy(resource.props), resource.urn,
                                          resource.name, _options(resource.parent), None,
                                          dict(setting.properties))
            run(policy, args, reporter(policy, setting.level, resource), resource)

    if stack_policies:
        stack_resources = {r.urn: PolicyResource(r.type, unknown_checking_proxy(r.props), r.urn, r.name,
                                                 _options(r.parent), None, None, [], {})
                           for r in normalised}
        for r in normalised:
            pr = stack_resources[r.urn]
            pr.parent = stack_resources.get(r.parent) if r.parent else None
            pr.property_dependencies = {k: [stack_resources[u] for u in v if u in stack_resources]
                                        for k, v in r.property_dependencies.items()}
            pr.dependencies = [d for deps in pr.property_dependencies.values() for d in deps]
        ordered = [stack_resources[r.urn] for r in normalised]
        for policy in stack_policies:
            setting = settings[policy.name]
            if setting.level == EnforcementLevel.DISABLED:
                continue
            args = StackValidationArgs(ordered, dict(setting.properties))
            run(policy, args, reporter(policy, setting.level, None), None)

    return violations


def has_mandatory(violations: Sequence[Violation]) -> bool:
    """True if ``pulumi preview`` would fail on these violations."""
    return any(v.enforcement_level == EnforcementLevel.MANDATORY.value for v in violations)


def format_report(violations: Sequence[Violation], pack_path: str = "policy") -> str:
    """The "Policies:" section of ``pulumi preview`` for this pack."""
    version = violations[0].policy_pack_version if violations else pack_version()
    mark = "❌" if has_mandatory(violations) else ("⚠️" if violations else "✅")
    lines = ["Policies:", f"    {mark} {PACK_NAME}@v{version} (local: {pack_path})"]
    for violation in violations:
        lines += [f"        {line}" for line in violation.format().splitlines()]
    return "\n".join(lines)
