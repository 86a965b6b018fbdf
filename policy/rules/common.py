"""Safe access to resource properties and IAM documents, shared by every rule.

Why this module exists: during ``pulumi preview`` a property may be absent (the program did not
set it), unknown (it depends on an output not yet computed; the policy SDK then raises
``UnknownValueError`` when the value is read through its proxy, and the offline mocks hand a
``pulumi.output.Unknown``), or present. A rule must treat those three cases differently:
absent is usually a violation, unknown can not be judged yet, present is checked. ``get``
returns ``MISSING``, ``UNKNOWN`` or the value, and never raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterator

from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

UNKNOWN_SENTINELS = frozenset({
    UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE, UNKNOWN_ARCHIVE_VALUE, UNKNOWN_OBJECT_VALUE,
})


class _Marker:
    """A named singleton (``MISSING`` / ``UNKNOWN``) that is falsy and prints its name."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name

    def __bool__(self) -> bool:
        return False


MISSING = _Marker("MISSING")
UNKNOWN = _Marker("UNKNOWN")


def is_unknown_value(value: Any) -> bool:
    """True for every representation of "not known during preview" we can meet."""
    if isinstance(value, str):
        return value in UNKNOWN_SENTINELS
    if value is UNKNOWN:
        return True
    # pulumi.output.Unknown is what MockResourceArgs.inputs carries for unknowns in a dry run.
    return type(value).__name__ == "Unknown" and type(value).__module__.startswith("pulumi")


def get(props: Any, *path: str | int) -> Any:
    """Read ``props[path[0]][path[1]]...``; return MISSING if any step is absent or None,
    UNKNOWN if any step is unknown, else the value. Never raises."""
    current = props
    for key in path:
        if current is MISSING or current is None:
            return MISSING
        if is_unknown_value(current):
            return UNKNOWN
        try:
            if isinstance(key, int):
                if not isinstance(current, Sequence) or isinstance(current, (str, bytes)):
                    return MISSING
                if key >= len(current):
                    return MISSING
                current = current[key]
            else:
                if not isinstance(current, Mapping) or key not in current:
                    return MISSING
                current = current[key]
        except UnknownValueError:
            return UNKNOWN
        except (KeyError, IndexError, TypeError):
            return MISSING
    if current is None:
        return MISSING
    if is_unknown_value(current):
        return UNKNOWN
    return current


def items(value: Any) -> list[Any]:
    """The elements of a list property (each read safely); [] for MISSING, a scalar as [scalar]."""
    if value is MISSING or value is None:
        return []
    if value is UNKNOWN or is_unknown_value(value):
        return [UNKNOWN]
    if isinstance(value, Mapping) or isinstance(value, (str, bytes)):
        return [value]
    if isinstance(value, Sequence):
        return [get(value, i) for i in range(len(value))]
    return [value]


def plain(value: Any) -> Any:
    """A deep copy of ``value`` as plain dicts/lists with unknowns replaced by UNKNOWN."""
    if is_unknown_value(value):
        return UNKNOWN
    if isinstance(value, Mapping):
        out = {}
        for key in list(value):
            out[key] = plain(get(value, key))
        return {k: v for k, v in out.items() if v is not MISSING}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [plain(get(value, i)) for i in range(len(value))]
    return value


def as_strings(value: Any) -> list[Any]:
    """An IAM "string or list of strings" field as a list (UNKNOWN entries kept)."""
    return [plain(v) for v in items(value)]


@dataclass(frozen=True)
class Document:
    """A parsed IAM/IoT policy document, or the reason it could not be parsed."""

    statements: tuple[dict, ...]
    unknown: bool = False
    error: str = ""


class DuplicateKeyError(ValueError):
    """A JSON object of a policy document names the same key twice."""


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    """``object_pairs_hook`` for ``json.loads``: refuse keys repeated in one object, also when they
    differ only in case (IAM condition keys are case-insensitive, so both copies apply)."""
    seen: dict[str, str] = {}
    for key, _ in pairs:
        folded = key.lower()
        if folded in seen:
            shown = f'"{key}"' if seen[folded] == key else f'"{seen[folded]}" (again as "{key}")'
            raise DuplicateKeyError(shown)
        seen[folded] = key
    return dict(pairs)


VALID_EFFECTS = ("Allow", "Deny")


def _effect_error(statements: Sequence[Mapping]) -> str:
    """Why a statement's Effect is invalid, or "": AWS accepts exactly "Allow" or "Deny" (the value
    is case-sensitive), so a document with "allow" is not one AWS would enforce as written."""
    for index, stmt in enumerate(statements):
        effect = stmt.get("Effect", MISSING)
        if effect is UNKNOWN:
            continue
        if effect is MISSING:
            return (f"{statement_label(index, stmt)} has no Effect; every statement needs "
                    '"Effect": "Allow" or "Deny"')
        if effect not in VALID_EFFECTS:
            return (f'{statement_label(index, stmt)} has Effect {json.dumps(effect)}; AWS accepts only "Allow" '
                    'or "Deny" (the value is case-sensitive)')
    return ""


def parse_document(value: Any) -> Document:
    """Parse a policy document given as a JSON string or a dict.

    Unknown documents (preview) give ``Document((), unknown=True)``; MISSING gives an empty
    document; a document the pack can not review as AWS would read it gives ``error`` set, with
    the fix (rules report it): malformed JSON, a key repeated in one object (parsers disagree on
    which copy wins, so the reviewed document may not be the enforced one), a statement whose
    Effect is not exactly "Allow" or "Deny".
    """
    if value is MISSING or value is None:
        return Document(())
    if value is UNKNOWN or is_unknown_value(value):
        return Document((), unknown=True)
    if isinstance(value, str):
        if any(sentinel in value for sentinel in UNKNOWN_SENTINELS):
            return Document((), unknown=True)
        try:
            value = json.loads(value, object_pairs_hook=_refuse_duplicate_keys)
        except json.JSONDecodeError as exc:
            return Document((), error=f"the policy document is not valid JSON ({exc.msg} at line "
                                      f"{exc.lineno} column {exc.colno}); give a JSON policy document so it "
                                      "can be reviewed")
        except DuplicateKeyError as exc:
            return Document((), error=f"the policy document repeats the key {exc} in one object; JSON parsers "
                                      "disagree on which copy wins, so the document reviewed may not be the one "
                                      "AWS enforces: keep one copy of each key")
    value = plain(value)
    if not isinstance(value, dict):
        return Document((), error="the policy document is not a JSON object; give a JSON policy document so it "
                                  "can be reviewed")
    raw = value.get("Statement", [])
    if raw is UNKNOWN:
        return Document((), unknown=True)
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
        return Document((), error="the policy document's Statement is not an object or a list of objects; give "
                                  "a JSON policy document so it can be reviewed")
    effect_error = _effect_error(raw)
    if effect_error:
        return Document((), error=effect_error)
    return Document(tuple(raw))


def statement_label(index: int, stmt: Mapping) -> str:
    """How messages name a statement: by Sid when it has one, else by position."""
    sid = stmt.get("Sid")
    if isinstance(sid, str) and sid:
        return f'statement {index} ("{sid}")'
    return f"statement {index}"


def is_allow(stmt: Mapping) -> bool:
    return stmt.get("Effect") == "Allow"


def listed(value: Any) -> list[Any]:
    """Statement "Action"/"Resource"/... as a list."""
    if value is None or value is MISSING:
        return []
    if isinstance(value, list):
        return value
    return [value]


def iter_allow(doc: Document) -> Iterator[tuple[int, dict]]:
    for index, stmt in enumerate(doc.statements):
        if is_allow(stmt):
            yield index, stmt



# --------------------------------------------------------------------------------------------
# Wildcard resources and conditions that pin a caller
# --------------------------------------------------------------------------------------------

ACCOUNT_ID = re.compile(r"\d{12}")


def has_wildcard(text: str) -> bool:
    """True if ``text`` is an IAM pattern (``*`` or ``?``)."""
    return "*" in text or "?" in text


def _only_wildcards(text: str) -> bool:
    """A pattern made of wildcards and separators only (``*``, ``**``, ``*/*``, ``*:*``)."""
    return has_wildcard(text) and all(c in "*?/:" for c in text)


def is_wildcard_resource(resource: str) -> bool:
    """True for a resource pattern that names no resource of ours in particular.

    That is ``*`` and ``**``; a non-ARN pattern; an ARN whose partition or service is a pattern;
    an ARN whose resource part is wildcards only (``arn:aws:iot:eu-west-1:1:*``,
    ``arn:aws:s3:::*/*``, ``arn:aws:iot:*:*:**``); an ARN whose account is a pattern (every
    account's resources: ``arn:aws:dynamodb:*:*:table/*``); and an ARN whose region is a pattern
    while its resource part is one too (every region's resources of that kind). Not wildcard:
    ``arn:aws:iot:eu-west-1:<account>:thing/*`` (our account and region: things created at run
    time) and ``arn:aws:dynamodb:*:<account>:table/inventory`` (one named global table).
    """
    if _only_wildcards(resource):
        return True
    parts = resource.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return has_wildcard(resource)
    _, partition, service, region, account, rest = parts
    if has_wildcard(partition) or has_wildcard(service) or has_wildcard(account) or _only_wildcards(rest):
        return True
    return has_wildcard(region) and has_wildcard(rest)


def pins_account(value: Any) -> bool:
    """A condition value naming exactly one account (12 digits, no pattern); unknown counts."""
    return value is UNKNOWN or (isinstance(value, str) and ACCOUNT_ID.fullmatch(value) is not None)


def pins_arn(value: Any) -> bool:
    """A condition value naming resources of one account (or one S3 bucket): an ARN that is not a
    wildcard resource. Unknown counts (an ARN computed from a stack resource)."""
    if value is UNKNOWN:
        return True
    return isinstance(value, str) and value.startswith("arn:") and not is_wildcard_resource(value)


def pins_literal(value: Any) -> bool:
    """A condition value without wildcards (an organization id); unknown counts."""
    return value is UNKNOWN or (isinstance(value, str) and bool(value) and not has_wildcard(value))


# Operators whose every value must match: a condition with them restricts the caller. Negated
# operators ("StringNotEquals") and "...IfExists" (true when the key is absent) pin nothing.
PINNING_OPERATORS = frozenset({"stringequals", "stringlike", "arnequals", "arnlike"})


def condition_pins(stmt: Mapping, checks: Mapping[str, Any]) -> bool:
    """True if the statement's Condition has a key of ``checks`` (lower-case key -> value test)
    under a pinning operator with every value passing the test: ``StringLike aws:SourceAccount
    "*"`` or ``ArnLike aws:SourceArn arn:aws:iot:*:*:*`` pin nothing."""
    condition = stmt.get("Condition")
    if not isinstance(condition, Mapping):
        return False
    for operator, block in condition.items():
        if str(operator).lower() not in PINNING_OPERATORS or not isinstance(block, Mapping):
            continue
        for key, value in block.items():
            test = checks.get(str(key).lower())
            values = listed(value)
            if test is not None and values and all(test(v) for v in values):
                return True
    return False


SOURCE_PIN_CHECKS = {"aws:sourceaccount": pins_account, "aws:sourcearn": pins_arn}
