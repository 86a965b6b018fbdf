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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Iterator, Union

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


def get(props: Any, *path: Union[str, int]) -> Any:
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


def parse_document(value: Any) -> Document:
    """Parse a policy document given as a JSON string or a dict.

    Unknown documents (preview) give ``Document((), unknown=True)``; MISSING gives an empty
    document; malformed JSON gives ``error`` set (rules report it: an unparseable document can
    not be reviewed).
    """
    if value is MISSING or value is None:
        return Document(())
    if value is UNKNOWN or is_unknown_value(value):
        return Document((), unknown=True)
    if isinstance(value, str):
        if any(sentinel in value for sentinel in UNKNOWN_SENTINELS):
            return Document((), unknown=True)
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            return Document((), error=f"the policy document is not valid JSON ({exc.msg} at line "
                                      f"{exc.lineno} column {exc.colno})")
    value = plain(value)
    if not isinstance(value, dict):
        return Document((), error="the policy document is not a JSON object")
    raw = value.get("Statement", [])
    if raw is UNKNOWN:
        return Document((), unknown=True)
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
        return Document((), error="the policy document's Statement is not an object or a list of objects")
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

