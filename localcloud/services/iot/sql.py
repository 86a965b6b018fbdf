"""AWS IoT SQL (version 2016-03-23), the subset our topic rules use, parsed and evaluated.

moto stores a topic rule's SQL but never runs it. This module turns the SQL into a
``Query`` that can tell whether a topic matches its ``FROM`` filter and evaluate the
``SELECT`` list and ``WHERE`` clause against a message, the way IoT Core does:

* ``SELECT *``, ``SELECT *, expr AS name``, ``expr [AS name]``, field paths ``a.b``;
* string (``'...'``, ``''`` escapes a quote), number, ``true``/``false`` literals;
* functions ``topic(n)``, ``topic()``, ``timestamp()``, ``newuuid()``, ``traceid()``,
  ``clientid()``, ``concat(...)``, ``cast(x AS String|Int|Decimal|Bool)``;
* ``WHERE`` with ``=``, ``<>``/``!=``, ``<``, ``<=``, ``>``, ``>=``, ``AND``, ``OR``, ``NOT``,
  ``+ - * /`` and parentheses;
* ``Undefined`` semantics: a missing field is undefined, an undefined selected value is left
  out of the result, a ``WHERE`` that is not exactly true drops the message.

Anything outside that subset raises ``IotSqlError`` naming the construct: a rule that the
emulator silently misread would make the offline proof worthless.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SUPPORTED_SQL_VERSIONS = ("2016-03-23",)


class IotSqlError(ValueError):
    """The SQL is malformed or uses a construct this emulator does not implement."""


class _UndefinedType:
    """IoT SQL's Undefined: the value of a missing field or an inapplicable operation."""

    _instance: _UndefinedType | None = None

    def __new__(cls) -> _UndefinedType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Undefined"

    def __bool__(self) -> bool:
        return False


Undefined = _UndefinedType()


# ---------------------------------------------------------------------------------------
# Topic filters
# ---------------------------------------------------------------------------------------


def validate_topic_filter(topic_filter: str) -> None:
    """Raise ``IotSqlError`` unless ``topic_filter`` is a valid MQTT topic filter."""
    if not topic_filter:
        raise IotSqlError("empty topic filter in FROM; write e.g. FROM 'i/+/m'")
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise IotSqlError(
                f"topic filter {topic_filter!r}: '#' must be a whole level and the last one"
            )
        if "+" in level and level != "+":
            raise IotSqlError(f"topic filter {topic_filter!r}: '+' must be a whole level")


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT matching: ``+`` is one level, a final ``#`` is this level and everything below.

    As in MQTT, a wildcard in the first level does not match topics starting with ``$``
    (``#`` does not receive ``$aws/...`` events; ``$aws/events/#`` does).
    """
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    if topic.startswith("$") and filter_levels[0] in ("+", "#"):
        return False
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= len(topic_levels):
            return False
        if level != "+" and level != topic_levels[index]:
            return False
    return len(topic_levels) == len(filter_levels)


# ---------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<dquote>"[^"]*")
  | (?P<number>\d+\.\d*|\.\d+|\d+)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><>|!=|<=|>=|=|<|>|\+|-|\*|/|%|\(|\)|,|\.|\[|\]|\|\||`)
    """,
    re.VERBOSE,
)

_KEYWORDS = {"SELECT", "FROM", "WHERE", "AS", "AND", "OR", "NOT", "TRUE", "FALSE"}
_UNSUPPORTED_KEYWORDS = {
    "CASE", "WHEN", "THEN", "ELSE", "END", "IN", "LIKE", "IS", "BETWEEN", "DISTINCT",
    "GROUP", "ORDER", "BY", "LIMIT", "JOIN", "VALUE", "NULL", "EXISTS", "HAVING",
}  # fmt: skip


@dataclass(frozen=True)
class _Token:
    kind: str  # "string" | "number" | "ident" | "keyword" | "op" | "end"
    text: str
    position: int


def _tokenize(sql: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(sql):
        match = _TOKEN_RE.match(sql, position)
        if match is None:
            raise IotSqlError(
                f"unexpected character {sql[position]!r} at position {position} in {sql!r}"
            )
        kind = match.lastgroup or ""
        text = match.group()
        if kind == "dquote":
            raise IotSqlError(
                f"double-quoted text {text} at position {position}: string literals take "
                "single quotes in IoT SQL 2016-03-23 (write 'text')"
            )
        if kind == "op" and text in ("[", "]", "||", "`", "%"):
            raise IotSqlError(f"unsupported operator {text!r} at position {position} in {sql!r}")
        if kind == "ident":
            upper = text.upper()
            if upper in _UNSUPPORTED_KEYWORDS:
                raise IotSqlError(
                    f"unsupported IoT SQL construct {upper!r} at position {position}; "
                    "this emulator implements SELECT/FROM/WHERE with comparisons, "
                    "AND/OR/NOT and the functions listed in localcloud.services.iot.sql"
                )
            if upper in _KEYWORDS:
                kind, text = "keyword", upper
        if kind != "ws":
            tokens.append(_Token(kind, text, position))
        position = match.end()
    tokens.append(_Token("end", "", len(sql)))
    return tokens


# ---------------------------------------------------------------------------------------
# Expressions
# ---------------------------------------------------------------------------------------


@dataclass
class EvalContext:
    """What an expression can see besides the payload: the message's envelope."""

    topic: str
    payload: Any
    client_id: str | None = None
    timestamp_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    trace_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    new_uuid: Callable[[], str] = field(default=lambda: str(uuid.uuid4()))


class Expr:
    """A node of the expression tree."""

    def evaluate(self, ctx: EvalContext) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def default_name(self) -> str:
        return "_"


@dataclass
class Literal(Expr):
    value: Any

    def evaluate(self, ctx: EvalContext) -> Any:
        return self.value

    def default_name(self) -> str:
        return json.dumps(self.value)


@dataclass
class FieldPath(Expr):
    parts: tuple[str, ...]

    def evaluate(self, ctx: EvalContext) -> Any:
        node = ctx.payload
        for part in self.parts:
            if isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return Undefined
        return node

    def default_name(self) -> str:
        return self.parts[-1]


@dataclass
class Not(Expr):
    operand: Expr

    def evaluate(self, ctx: EvalContext) -> Any:
        value = self.operand.evaluate(ctx)
        return (not value) if isinstance(value, bool) else Undefined


@dataclass
class Logical(Expr):
    op: str  # "AND" | "OR"
    left: Expr
    right: Expr

    def evaluate(self, ctx: EvalContext) -> Any:
        left = self.left.evaluate(ctx)
        right = self.right.evaluate(ctx)
        values = [v if isinstance(v, bool) else Undefined for v in (left, right)]
        if self.op == "AND":
            if False in values:
                return False
            return True if values == [True, True] else Undefined
        if True in values:
            return True
        return False if values == [False, False] else Undefined


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class Compare(Expr):
    op: str
    left: Expr
    right: Expr

    def evaluate(self, ctx: EvalContext) -> Any:
        left = self.left.evaluate(ctx)
        right = self.right.evaluate(ctx)
        if left is Undefined or right is Undefined:
            return Undefined
        if self.op in ("=", "<>", "!="):
            if _is_number(left) and _is_number(right):
                equal = float(left) == float(right)
            elif type(left) is type(right):
                equal = left == right
            else:
                return Undefined
            return equal if self.op == "=" else not equal
        if _is_number(left) and _is_number(right):
            a, b = float(left), float(right)
        elif isinstance(left, str) and isinstance(right, str):
            a, b = left, right  # type: ignore[assignment]
        else:
            return Undefined
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[self.op]


@dataclass
class Arithmetic(Expr):
    op: str
    left: Expr
    right: Expr

    def evaluate(self, ctx: EvalContext) -> Any:
        left = self.left.evaluate(ctx)
        right = self.right.evaluate(ctx)
        if not (_is_number(left) and _is_number(right)):
            return Undefined
        if self.op == "+":
            return left + right
        if self.op == "-":
            return left - right
        if self.op == "*":
            return left * right
        if right == 0:
            return Undefined
        result = left / right
        return int(result) if isinstance(left, int) and isinstance(right, int) else result


@dataclass
class Negate(Expr):
    operand: Expr

    def evaluate(self, ctx: EvalContext) -> Any:
        value = self.operand.evaluate(ctx)
        return -value if _is_number(value) else Undefined


def _to_string(value: Any) -> Any:
    if value is Undefined:
        return Undefined
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, dict, list)) or value is None:
        return json.dumps(value, separators=(",", ":"))
    return Undefined


def _cast(value: Any, type_name: str) -> Any:
    if value is Undefined:
        return Undefined
    if type_name == "String":
        return _to_string(value)
    if type_name == "Bool":
        if isinstance(value, bool):
            return value
        if _is_number(value):
            return value != 0
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return Undefined
    if type_name in ("Int", "Decimal"):
        if isinstance(value, bool):
            return int(value)
        number: float | int
        if _is_number(value):
            number = value
        elif isinstance(value, str):
            try:
                number = float(value) if type_name == "Decimal" or "." in value else int(value)
            except ValueError:
                return Undefined
        else:
            return Undefined
        return int(number) if type_name == "Int" else float(number)
    raise IotSqlError(f"cast to {type_name!r} is not supported; use String, Int, Decimal or Bool")


_CAST_TYPES = {"string": "String", "int": "Int", "decimal": "Decimal", "bool": "Bool"}


@dataclass
class Cast(Expr):
    operand: Expr
    type_name: str

    def evaluate(self, ctx: EvalContext) -> Any:
        return _cast(self.operand.evaluate(ctx), self.type_name)

    def default_name(self) -> str:
        return "cast"


@dataclass
class Call(Expr):
    name: str
    args: list[Expr]

    def default_name(self) -> str:
        return self.name

    def evaluate(self, ctx: EvalContext) -> Any:
        if self.name == "topic":
            if not self.args:
                return ctx.topic
            index = self.args[0].evaluate(ctx)
            levels = ctx.topic.split("/")
            if not _is_number(index) or int(index) != index or not 1 <= index <= len(levels):
                return Undefined
            return levels[int(index) - 1]
        if self.name == "timestamp":
            return ctx.timestamp_ms
        if self.name == "newuuid":
            return ctx.new_uuid()
        if self.name == "traceid":
            return ctx.trace_id
        if self.name == "clientid":
            return ctx.client_id if ctx.client_id is not None else "n/a"
        if self.name == "concat":
            values = [arg.evaluate(ctx) for arg in self.args]
            if any(v is Undefined for v in values):
                return Undefined
            if all(isinstance(v, list) for v in values):
                return [x for v in values for x in v]
            parts = [_to_string(v) for v in values]
            if any(p is Undefined for p in parts):
                return Undefined
            return "".join(parts)
        raise AssertionError(f"unchecked function {self.name}")  # parser validates names


_FUNCTION_ARITY: dict[str, tuple[int, int]] = {
    "topic": (0, 1),
    "timestamp": (0, 0),
    "newuuid": (0, 0),
    "traceid": (0, 0),
    "clientid": (0, 0),
    "concat": (2, 1_000),
}


# ---------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------


@dataclass
class SelectItem:
    """``*`` (``expr is None``) or an expression with its output name."""

    expr: Expr | None
    name: str | None


class _Parser:
    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.tokens = _tokenize(sql)
        self.index = 0

    # token helpers -------------------------------------------------------------------
    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def accept(self, kind: str, text: str | None = None) -> _Token | None:
        token = self.current
        if token.kind == kind and (text is None or token.text == text):
            self.index += 1
            return token
        return None

    def expect(self, kind: str, text: str | None = None, what: str = "") -> _Token:
        token = self.accept(kind, text)
        if token is None:
            found = self.current.text or "end of statement"
            wanted = what or (text or kind)
            raise IotSqlError(
                f"expected {wanted} at position {self.current.position}, found {found!r} "
                f"in {self.sql!r}"
            )
        return token

    # grammar -------------------------------------------------------------------------
    def parse(self) -> tuple[list[SelectItem], str, Expr | None]:
        self.expect("keyword", "SELECT")
        items = [self.select_item()]
        while self.accept("op", ","):
            items.append(self.select_item())
        self.expect("keyword", "FROM")
        topic_token = self.expect("string", what="a quoted topic filter after FROM")
        topic_filter = topic_token.text[1:-1].replace("''", "'")
        validate_topic_filter(topic_filter)
        where = None
        if self.accept("keyword", "WHERE"):
            where = self.expression()
        if self.current.kind != "end":
            raise IotSqlError(
                f"unexpected {self.current.text!r} at position {self.current.position} in "
                f"{self.sql!r}"
            )
        return items, topic_filter, where

    def select_item(self) -> SelectItem:
        if self.accept("op", "*"):
            return SelectItem(None, None)
        expr = self.expression()
        name = None
        if self.accept("keyword", "AS"):
            name = self.expect("ident", what="an alias after AS").text
        return SelectItem(expr, name or expr.default_name())

    def expression(self) -> Expr:
        return self.or_expr()

    def or_expr(self) -> Expr:
        left = self.and_expr()
        while self.accept("keyword", "OR"):
            left = Logical("OR", left, self.and_expr())
        return left

    def and_expr(self) -> Expr:
        left = self.not_expr()
        while self.accept("keyword", "AND"):
            left = Logical("AND", left, self.not_expr())
        return left

    def not_expr(self) -> Expr:
        if self.accept("keyword", "NOT"):
            return Not(self.not_expr())
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.additive()
        token = self.current
        if token.kind == "op" and token.text in ("=", "<>", "!=", "<", "<=", ">", ">="):
            self.advance()
            return Compare(token.text, left, self.additive())
        return left

    def additive(self) -> Expr:
        left = self.multiplicative()
        while self.current.kind == "op" and self.current.text in ("+", "-"):
            op = self.advance().text
            left = Arithmetic(op, left, self.multiplicative())
        return left

    def multiplicative(self) -> Expr:
        left = self.unary()
        while self.current.kind == "op" and self.current.text in ("*", "/"):
            op = self.advance().text
            left = Arithmetic(op, left, self.unary())
        return left

    def unary(self) -> Expr:
        if self.accept("op", "-"):
            return Negate(self.unary())
        return self.primary()

    def primary(self) -> Expr:
        token = self.current
        if token.kind == "string":
            self.advance()
            return Literal(token.text[1:-1].replace("''", "'"))
        if token.kind == "number":
            self.advance()
            return Literal(float(token.text) if "." in token.text else int(token.text))
        if token.kind == "keyword" and token.text in ("TRUE", "FALSE"):
            self.advance()
            return Literal(token.text == "TRUE")
        if self.accept("op", "("):
            inner = self.expression()
            self.expect("op", ")")
            return inner
        if token.kind == "ident":
            self.advance()
            if self.accept("op", "("):
                return self.call(token)
            parts = [token.text]
            while self.accept("op", "."):
                parts.append(self.expect("ident", what="a field name after '.'").text)
            return FieldPath(tuple(parts))
        found = token.text or "end of statement"
        raise IotSqlError(
            f"expected a value at position {token.position}, found {found!r} in {self.sql!r}"
        )

    def call(self, name_token: _Token) -> Expr:
        name = name_token.text.lower()
        if name == "cast":
            operand = self.expression()
            self.expect("keyword", "AS", what="AS inside cast(...)")
            type_token = self.expect("ident", what="a type name inside cast(... AS <type>)")
            type_name = _CAST_TYPES.get(type_token.text.lower())
            if type_name is None:
                raise IotSqlError(
                    f"cast to {type_token.text!r} is not supported; use String, Int, "
                    "Decimal or Bool"
                )
            self.expect("op", ")")
            return Cast(operand, type_name)
        if name not in _FUNCTION_ARITY:
            raise IotSqlError(
                f"unsupported IoT SQL function {name_token.text}() at position "
                f"{name_token.position}; supported: cast, {', '.join(sorted(_FUNCTION_ARITY))}"
            )
        args: list[Expr] = []
        if not self.accept("op", ")"):
            args.append(self.expression())
            while self.accept("op", ","):
                args.append(self.expression())
            self.expect("op", ")")
        low, high = _FUNCTION_ARITY[name]
        if not low <= len(args) <= high:
            raise IotSqlError(
                f"{name}() takes {low if low == high else f'{low} to {high}'} arguments, "
                f"got {len(args)} at position {name_token.position}"
            )
        return Call(name, args)


# ---------------------------------------------------------------------------------------
# Query
# ---------------------------------------------------------------------------------------


@dataclass
class Query:
    """A parsed topic-rule statement."""

    sql: str
    select: list[SelectItem]
    topic_filter: str
    where: Expr | None

    def matches_topic(self, topic: str) -> bool:
        """True when a message on ``topic`` reaches this rule's FROM filter."""
        return topic_matches(self.topic_filter, topic)

    def evaluate(
        self,
        payload: Any,
        topic: str,
        *,
        client_id: str | None = None,
        timestamp_ms: int | None = None,
        trace_id: str | None = None,
        new_uuid: Callable[[], str] | None = None,
    ) -> dict[str, Any] | None:
        """The SELECT result for one message, or ``None`` when the topic or WHERE rejects it.

        ``payload`` is the decoded JSON document (a non-JSON payload: pass the raw bytes; its
        fields are then all undefined, as in IoT Core).
        """
        if not self.matches_topic(topic):
            return None
        ctx = EvalContext(topic=topic, payload=payload, client_id=client_id)
        if timestamp_ms is not None:
            ctx.timestamp_ms = timestamp_ms
        if trace_id is not None:
            ctx.trace_id = trace_id
        if new_uuid is not None:
            ctx.new_uuid = new_uuid
        if self.where is not None and self.where.evaluate(ctx) is not True:
            return None
        result: dict[str, Any] = {}
        for item in self.select:
            if item.expr is None:
                if isinstance(payload, dict):
                    result.update(payload)
                continue
            value = item.expr.evaluate(ctx)
            if value is not Undefined:
                result[item.name or item.expr.default_name()] = value
        return result


def parse(sql: str, sql_version: str = "2016-03-23") -> Query:
    """Parse one IoT rule statement; raise ``IotSqlError`` naming what is wrong or unsupported."""
    if sql_version not in SUPPORTED_SQL_VERSIONS:
        raise IotSqlError(
            f"awsIotSqlVersion {sql_version!r} is not supported; use "
            f"{' or '.join(SUPPORTED_SQL_VERSIONS)}"
        )
    if not isinstance(sql, str) or not sql.strip():
        raise IotSqlError("empty SQL statement; write SELECT <fields> FROM '<topic filter>'")
    items, topic_filter, where = _Parser(sql).parse()
    return Query(sql=sql, select=items, topic_filter=topic_filter, where=where)


def decode_payload(payload: bytes | str | dict[str, Any] | list[Any]) -> Any:
    """JSON-decode an MQTT payload if it is JSON; otherwise return it unchanged (fields undefined)."""
    if isinstance(payload, (dict, list)):
        return payload
    try:
        return json.loads(payload)
    except (ValueError, TypeError):
        return payload
