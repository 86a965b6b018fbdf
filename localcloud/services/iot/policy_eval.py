"""AWS IoT Core policy evaluation for device connections, the subset device policies use.

A request (action + resource ARN) is allowed when some ``Allow`` statement of the
principal's policies matches it and no ``Deny`` statement does. Supported:

* ``Effect`` ``Allow``/``Deny``; ``Action`` and ``Resource`` as a string or list, with ``*`` and
  ``?`` wildcards (actions compare case-insensitively);
* policy variables ``${iot:Connection.Thing.ThingName}``, ``${iot:ClientId}``,
  ``${iot:Connection.Thing.IsAttached}``; a statement whose variable has no value for this
  connection (no thing attached under the client id) does not match;
* ``Condition`` operators ``Bool``, ``StringEquals``, ``StringNotEquals``, ``StringLike``
  over the same keys.

``NotAction``, ``NotResource``, other variables or condition operators raise
``IotPolicyError`` naming them: a policy the emulator misread would prove nothing.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

IOT_ACTIONS = ("iot:Connect", "iot:Publish", "iot:Subscribe", "iot:Receive")


class IotPolicyError(ValueError):
    """A policy uses a construct this emulator does not evaluate."""


@dataclass(frozen=True)
class RequestContext:
    """What policy variables and condition keys resolve to for one connection."""

    client_id: str
    thing_name: str | None  # set only when a thing named like the client id is attached

    def variables(self) -> dict[str, str | None]:
        return {
            "iot:ClientId": self.client_id,
            "iot:Connection.Thing.ThingName": self.thing_name,
            "iot:Connection.Thing.IsAttached": "true" if self.thing_name else "false",
        }


_VARIABLE = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class _Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: tuple[tuple[str, str, tuple[str, ...]], ...]


def _as_list(value: Any, what: str, policy_name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise IotPolicyError(f"policy {policy_name!r}: {what} must be a string or list of strings")


@lru_cache(maxsize=1024)
def parse_policy(policy_name: str, document: str) -> tuple[_Statement, ...]:
    """Parse (and cache) a policy document, refusing what is not evaluated."""
    try:
        parsed = json.loads(document) if isinstance(document, str) else document
    except ValueError as error:
        raise IotPolicyError(f"policy {policy_name!r} is not JSON: {error}") from error
    raw_statements = parsed.get("Statement", [])
    if isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    statements = []
    for raw in raw_statements:
        for unsupported in ("NotAction", "NotResource", "NotPrincipal"):
            if unsupported in raw:
                raise IotPolicyError(
                    f"policy {policy_name!r}: {unsupported} is not emulated; list Actions and "
                    "Resources explicitly"
                )
        effect = raw.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise IotPolicyError(f"policy {policy_name!r}: Effect must be Allow or Deny, got {effect!r}")
        resources = _as_list(raw.get("Resource"), "Resource", policy_name)
        for resource in resources:
            for variable in _VARIABLE.findall(resource):
                if variable not in ("iot:ClientId", "iot:Connection.Thing.ThingName",
                                    "iot:Connection.Thing.IsAttached"):  # fmt: skip
                    raise IotPolicyError(
                        f"policy {policy_name!r}: policy variable ${{{variable}}} is not emulated"
                    )
        conditions = []
        for operator, block in (raw.get("Condition") or {}).items():
            if operator not in ("Bool", "StringEquals", "StringNotEquals", "StringLike"):
                raise IotPolicyError(
                    f"policy {policy_name!r}: condition operator {operator!r} is not emulated; "
                    "use Bool, StringEquals, StringNotEquals or StringLike"
                )
            for key, values in block.items():
                if key not in ("iot:ClientId", "iot:Connection.Thing.ThingName",
                               "iot:Connection.Thing.IsAttached"):  # fmt: skip
                    raise IotPolicyError(
                        f"policy {policy_name!r}: condition key {key!r} is not emulated"
                    )
                conditions.append((operator, key, _as_list(
                    [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
                    if isinstance(values, list) else
                    (str(values).lower() if isinstance(values, bool) else str(values)),
                    "condition value", policy_name)))  # fmt: skip
        statements.append(
            _Statement(
                effect=effect,
                actions=tuple(a.lower() for a in _as_list(raw.get("Action"), "Action", policy_name)),
                resources=resources,
                condition=tuple(conditions),
            )
        )
    return tuple(statements)


@lru_cache(maxsize=4096)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern), re.DOTALL)


_STAR, _ANY_ONE = object(), object()


def _tokens(resource: str, variables: dict[str, str | None]) -> list[Any] | None:
    """The resource pattern as characters and wildcards, with variables' values inserted as
    literal characters; ``None`` when a variable has no value for this connection."""
    tokens: list[Any] = []
    position = 0
    for match in _VARIABLE.finditer(resource):
        tokens.extend(_wildcards(resource[position : match.start()]))
        value = variables.get(match.group(1))
        if value is None:
            return None
        tokens.extend(value)  # a variable's value is literal text, never a wildcard
        position = match.end()
    tokens.extend(_wildcards(resource[position:]))
    return tokens


def _wildcards(text: str) -> list[Any]:
    return [_STAR if c == "*" else _ANY_ONE if c == "?" else c for c in text]


def _match(tokens: list[Any], text: str) -> bool:
    """Glob match (``*`` any run, ``?`` one character) in linear time with one backtrack point."""
    t = p = 0
    star = -1
    mark = 0
    while t < len(text):
        if p < len(tokens) and (tokens[p] is _ANY_ONE or tokens[p] == text[t]):
            t += 1
            p += 1
        elif p < len(tokens) and tokens[p] is _STAR:
            star, mark = p, t
            p += 1
        elif star != -1:
            p = star + 1
            mark += 1
            t = mark
        else:
            return False
    while p < len(tokens) and tokens[p] is _STAR:
        p += 1
    return p == len(tokens)


def _condition_holds(condition: tuple[str, str, tuple[str, ...]], variables: dict[str, str | None]) -> bool:
    operator, key, values = condition
    actual = variables.get(key)
    if actual is None:
        return operator == "StringNotEquals"
    if operator == "Bool":
        return actual.lower() in {v.lower() for v in values}
    if operator == "StringEquals":
        return actual in values
    if operator == "StringNotEquals":
        return actual not in values
    return any(_glob(v).match(actual) for v in values)  # StringLike


def _statement_matches(statement: _Statement, action: str, resource: str, variables: dict[str, str | None]) -> bool:
    action = action.lower()
    if not any(_glob(a).match(action) for a in statement.actions):
        return False
    if not all(_condition_holds(c, variables) for c in statement.condition):
        return False
    for pattern in statement.resources:
        tokens = _tokens(pattern, variables)
        if tokens is not None and _match(tokens, resource):
            return True
    return False


def is_allowed(
    policies: list[tuple[str, str]], action: str, resource: str, context: RequestContext
) -> bool:
    """``policies`` are (name, document) pairs; explicit Deny wins, default is deny."""
    variables = context.variables()
    allowed = False
    for name, document in policies:
        for statement in parse_policy(name, document):
            if _statement_matches(statement, action, resource, variables):
                if statement.effect == "Deny":
                    return False
                allowed = True
    return allowed
