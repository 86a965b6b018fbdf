"""AWS IoT SQL (version 2016-03-23), the subset our topic rules use, parsed and evaluated.

moto stores a topic rule's SQL but never runs it. This module turns the SQL into a
``Query`` that can tell whether a topic matches its ``FROM`` filter and evaluate the
``SELECT`` list and ``WHERE`` clause against a message, the way IoT Core does:

* ``SELECT *``, ``SELECT *, expr AS name``, ``expr [AS name]``, field paths ``a.b``;
* field access on a function's result or a parenthesised expression:
  ``get_dynamodb(...).ExpiresAt``, ``(expr).a.b`` (a field of anything but an object is
  undefined);
* string (``'...'``, ``''`` escapes a quote), number, ``true``/``false`` literals;
* functions ``topic(n)``, ``topic()``, ``timestamp()``, ``newuuid()``, ``traceid()``,
  ``clientid()``, ``concat(...)``, ``cast(x AS String|Int|Decimal|Bool)``, ``isUndefined(x)``
  and ``get_dynamodb(table, pkName, pkValue[, skName, skValue], roleArn)`` (the lookup itself
  is the caller's: ``Query.evaluate(..., get_dynamodb=...)``; at most one call per statement,
  as in AWS, see ``Query.evaluate``);
* the simple ``CASE v WHEN t THEN r [WHEN ...] [ELSE e] END`` (not the searched
  ``CASE WHEN condition``);
* ``WHERE`` with ``=``, ``<>``/``!=``, ``<``, ``<=``, ``>``, ``>=``, ``AND``, ``OR``, ``NOT``,
  ``+ - * /`` and parentheses;
* ``Undefined`` semantics: a missing field is undefined, an undefined selected value is left
  out of the result, a ``WHERE`` that is not exactly true drops the message.

The semantics follow the AWS IoT developer guide (archived edition, awsdocs/aws-iot-docs
commit 0a6e6df: developerguide/iot-sql-functions.md, iot-sql-case.md, iot-sql-operators.md);
the classes below quote it where they rely on it.

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
from decimal import Decimal
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

_KEYWORDS = {
    "SELECT", "FROM", "WHERE", "AS", "AND", "OR", "NOT", "TRUE", "FALSE",
    "CASE", "WHEN", "THEN", "ELSE", "END",
}  # fmt: skip
_UNSUPPORTED_KEYWORDS = {
    "IN", "LIKE", "IS", "BETWEEN", "DISTINCT",
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
                    "AND/OR/NOT, CASE and the functions listed in localcloud.services.iot.sql"
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


DynamoDbLookup = Callable[[str, dict[str, Any], str], dict[str, Any] | None]
"""What ``get_dynamodb()`` calls: ``(table name, {key attribute name: plain value}, role ARN)``
-> the item as plain JSON, or ``None`` when the table has no such item. The SQL module only
evaluates the arguments; reading DynamoDB is the caller's (``IotCore`` reads moto's backend)."""


@dataclass
class EvalContext:
    """What an expression can see besides the payload: the message's envelope, and the
    DynamoDB lookup ``get_dynamodb()`` uses (``None``: not configured, calling it is an error)."""

    topic: str
    payload: Any
    client_id: str | None = None
    timestamp_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    trace_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    new_uuid: Callable[[], str] = field(default=lambda: str(uuid.uuid4()))
    get_dynamodb: DynamoDbLookup | None = None


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


def _field(node: Any, parts: tuple[str, ...]) -> Any:
    """``node.parts[0].parts[1]...``: Undefined as soon as a step is not an object with that key
    (a field of Undefined, a number, a string, null or an array is undefined)."""
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return Undefined
    return node


@dataclass
class FieldPath(Expr):
    parts: tuple[str, ...]

    def evaluate(self, ctx: EvalContext) -> Any:
        return _field(ctx.payload, self.parts)

    def default_name(self) -> str:
        return self.parts[-1]


@dataclass
class FieldAccess(Expr):
    """A field of a computed value: ``get_dynamodb(...).ExpiresAt``, ``(expr).a.b``.

    AWS's own example reads a field of a function's result this way:
    ``get_dynamodb("InServiceDevices", "deviceId", id, "arn:...").location AS location``
    (iot-sql-functions.md). When the value is not an object the field is Undefined.
    """

    base: Expr
    parts: tuple[str, ...]

    def evaluate(self, ctx: EvalContext) -> Any:
        return _field(self.base.evaluate(ctx), self.parts)

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


def _equals(left: Any, right: Any) -> Any:
    """The ``=`` operator: True/False, or Undefined when an operand is Undefined or the types
    differ ("Any value | Undefined | Undefined", iot-sql-operators.md; "Int is converted to
    Decimal before being compared"). ``CASE`` matches its WHEN values with this too."""
    if left is Undefined or right is Undefined:
        return Undefined
    if _is_number(left) and _is_number(right):
        return float(left) == float(right)
    if type(left) is type(right):
        return bool(left == right)
    return Undefined


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
            equal = _equals(left, right)
            if equal is Undefined:
                return Undefined
            return equal if self.op == "=" else not equal
        if _is_number(left) and _is_number(right):
            a, b = float(left), float(right)
        elif isinstance(left, str) and isinstance(right, str):
            a, b = left, right
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
class Case(Expr):
    """The simple ``CASE v WHEN t1 THEN r1 ... [ELSE re] END`` (iot-sql-case.md):

    "The expression *v* is evaluated and matched for equality against the *t[i]* value of each
    WHEN clause. If a match is found, the corresponding *r[i]* expression becomes the result of
    the CASE statement. The WHEN clauses are evaluated in order so that if there is more than
    one matching clause, the result of the first matching clause becomes the result of the CASE
    statement. If there are no matches, *r[e]* of the ELSE clause is the result. If there is no
    match and no ELSE clause, the result is Undefined." and "If *v* is Undefined, the result of
    the case statement is Undefined."

    Equality is the ``=`` operator's (``_equals``): a WHEN value of another type, or an
    Undefined one, does not match. Only the chosen result is evaluated.
    """

    subject: Expr
    whens: list[tuple[Expr, Expr]]
    otherwise: Expr | None

    def evaluate(self, ctx: EvalContext) -> Any:
        value = self.subject.evaluate(ctx)
        if value is Undefined:
            return Undefined
        for test, result in self.whens:
            if _equals(value, test.evaluate(ctx)) is True:
                return result.evaluate(ctx)
        return self.otherwise.evaluate(ctx) if self.otherwise is not None else Undefined


def json_number(value: Decimal) -> int | float:
    """A DynamoDB number in this module's number model: integral -> ``int``, any other ->
    ``float`` (what ``json.loads`` gives for a payload)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _plain_json(value: Any) -> Any:
    """A looked-up item in this module's number model (``json_number``), recursively."""
    if isinstance(value, Decimal):
        return json_number(value)
    if isinstance(value, dict):
        return {k: _plain_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_json(v) for v in value]
    return value


@dataclass
class GetDynamoDb(Expr):
    """``get_dynamodb(tableName, partitionKeyName, partitionKeyValue, [sortKeyName,
    sortKeyValue,] roleArn)`` (iot-sql-functions.md): "Retrieves data from a DynamoDB table
    [...] You can filter or augment message payloads using data retrieved from DynamoDB."

    The item comes back as an object (read its attributes with ``.name``), or Undefined when
    the table has no item with that key; a key value that is Undefined gives Undefined without
    a lookup (there is no key to read). The lookup is ``EvalContext.get_dynamodb``; the role is
    passed on, not assumed (the emulator checks no IAM). The one-call-per-statement rule is
    ``Query.evaluate``'s. Not modelled: "If get_dynamodb() returns more than 8 KB of data, the
    rule's action may not be invoked" (may).
    """

    table: Expr
    key_names: tuple[Expr, ...]
    key_values: tuple[Expr, ...]
    role_arn: Expr

    def default_name(self) -> str:
        return "get_dynamodb"

    def evaluate(self, ctx: EvalContext) -> Any:
        if ctx.get_dynamodb is None:
            raise IotSqlError(
                "get_dynamodb() needs a DynamoDB lookup: pass Query.evaluate(..., "
                "get_dynamodb=lookup) with lookup(table name, {key name: value}, role ARN) "
                "returning the item as JSON or None"
            )
        table = self.table.evaluate(ctx)
        names = [name.evaluate(ctx) for name in self.key_names]
        values = [value.evaluate(ctx) for value in self.key_values]
        role_arn = self.role_arn.evaluate(ctx)
        if any(part is Undefined for part in (*names, *values)):
            return Undefined
        key = {_string_argument(name, "key name"): value for name, value in zip(names, values, strict=True)}
        item = ctx.get_dynamodb(
            _string_argument(table, "tableName"), key, _string_argument(role_arn, "roleArn")
        )
        return Undefined if item is None else _plain_json(item)


def _string_argument(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise IotSqlError(f"get_dynamodb() {what} must be a string, got {value!r}")
    return value


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
        if self.name == "isundefined":
            # "Returns true if the argument is Undefined." (iot-sql-functions.md)
            return self.args[0].evaluate(ctx) is Undefined
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
    "isundefined": (1, 1),
    "get_dynamodb": (4, 6),  # 4 or 6: checked in _Parser.call
}
_FUNCTION_DISPLAY_NAMES = {"isundefined": "isUndefined"}


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
        self.dynamodb_lookups = 0  # get_dynamodb() calls in the statement (Query.evaluate)

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
        """The SELECT list, the FROM filter and the WHERE clause (``dynamodb_lookups`` is set
        as a side effect)."""
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
            return self.postfix(inner)
        if self.accept("keyword", "CASE"):
            return self.postfix(self.case(token))
        if token.kind == "ident":
            self.advance()
            if self.accept("op", "("):
                return self.postfix(self.call(token))
            parts = [token.text]
            while self.accept("op", "."):
                parts.append(self.expect("ident", what="a field name after '.'").text)
            return FieldPath(tuple(parts))
        found = token.text or "end of statement"
        raise IotSqlError(
            f"expected a value at position {token.position}, found {found!r} in {self.sql!r}"
        )

    def postfix(self, base: Expr) -> Expr:
        """``base.a.b``: fields of a call's result or of a parenthesised expression."""
        parts: list[str] = []
        while self.accept("op", "."):
            parts.append(self.expect("ident", what="a field name after '.'").text)
        return FieldAccess(base, tuple(parts)) if parts else base

    def case(self, case_token: _Token) -> Expr:
        """``CASE v WHEN t THEN r ... [ELSE e] END`` (the CASE keyword already read)."""
        if self.current.kind == "keyword" and self.current.text == "WHEN":
            raise IotSqlError(
                f"CASE WHEN <condition> at position {case_token.position} (the searched form) is "
                "not supported; IoT SQL's CASE is CASE <value> WHEN <value> THEN <result> ... END"
            )
        subject = self.expression()
        whens: list[tuple[Expr, Expr]] = []
        while self.accept("keyword", "WHEN"):
            test = self.expression()
            self.expect("keyword", "THEN", what="THEN after CASE ... WHEN <value>")
            whens.append((test, self.expression()))
        if not whens:
            found = self.current.text or "end of statement"
            raise IotSqlError(
                f"CASE at position {case_token.position} has no WHEN clause (found {found!r}); "
                "CASE statements require at least one WHEN clause"
            )
        otherwise = self.expression() if self.accept("keyword", "ELSE") else None
        self.expect("keyword", "END", what="END closing the CASE")
        return Case(subject, whens, otherwise)

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
            supported = sorted(_FUNCTION_DISPLAY_NAMES.get(n, n) for n in _FUNCTION_ARITY)
            raise IotSqlError(
                f"unsupported IoT SQL function {name_token.text}() at position "
                f"{name_token.position}; supported: cast, {', '.join(supported)}"
            )
        args: list[Expr] = []
        if not self.accept("op", ")"):
            args.append(self.expression())
            while self.accept("op", ","):
                args.append(self.expression())
            self.expect("op", ")")
        if name == "get_dynamodb":
            if len(args) not in (4, 6):
                raise IotSqlError(
                    f"get_dynamodb() takes 4 arguments (tableName, partitionKeyName, "
                    "partitionKeyValue, roleArn) or 6 (tableName, partitionKeyName, "
                    "partitionKeyValue, sortKeyName, sortKeyValue, roleArn), got "
                    f"{len(args)} at position {name_token.position}"
                )
            self.dynamodb_lookups += 1
            keys = args[1:-1]
            return GetDynamoDb(args[0], tuple(keys[0::2]), tuple(keys[1::2]), args[-1])
        low, high = _FUNCTION_ARITY[name]
        if not low <= len(args) <= high:
            shown = _FUNCTION_DISPLAY_NAMES.get(name, name)
            raise IotSqlError(
                f"{shown}() takes {low if low == high else f'{low} to {high}'} arguments, "
                f"got {len(args)} at position {name_token.position}"
            )
        return Call(name, args)


# ---------------------------------------------------------------------------------------
# Query
# ---------------------------------------------------------------------------------------


@dataclass
class Query:
    """A parsed topic-rule statement; ``dynamodb_lookups`` counts its ``get_dynamodb()`` calls
    (written in the statement, whether or not a message's evaluation reaches them)."""

    sql: str
    select: list[SelectItem]
    topic_filter: str
    where: Expr | None
    dynamodb_lookups: int = 0

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
        get_dynamodb: DynamoDbLookup | None = None,
    ) -> dict[str, Any] | None:
        """The SELECT result for one message, or ``None`` when the topic or WHERE rejects it.

        ``payload`` is the decoded JSON document (a non-JSON payload: pass the raw bytes; its
        fields are then all undefined, as in IoT Core). ``get_dynamodb`` is the lookup the
        ``get_dynamodb()`` function calls (see ``DynamoDbLookup``); a statement that calls the
        function needs it. An exception the lookup raises propagates to the caller.

        "You can call get_dynamodb() a maximum of one time per SQL statement. Calling
        get_dynamodb() multiple times in a single SQL statement causes the rule to terminate
        without invoking any actions." (iot-sql-functions.md): a statement with more than one
        call returns ``None`` here, as a WHERE that is not true does, without any lookup.
        """
        if not self.matches_topic(topic):
            return None
        if self.dynamodb_lookups > 1:
            return None
        ctx = EvalContext(
            topic=topic, payload=payload, client_id=client_id, get_dynamodb=get_dynamodb
        )
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
    parser = _Parser(sql)
    items, topic_filter, where = parser.parse()
    return Query(
        sql=sql,
        select=items,
        topic_filter=topic_filter,
        where=where,
        dynamodb_lookups=parser.dynamodb_lookups,
    )


def decode_payload(payload: bytes | str | dict[str, Any] | list[Any]) -> Any:
    """JSON-decode an MQTT payload if it is JSON; otherwise return it unchanged (fields undefined)."""
    if isinstance(payload, (dict, list)):
        return payload
    try:
        return json.loads(payload)
    except (ValueError, TypeError):
        return payload
