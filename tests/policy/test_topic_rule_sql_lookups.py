"""iot-topic-rule-sql-lookups: a topic rule's SQL calls no get_dynamodb(), wherever the call is.

A key with no item is reported to fail the function and make the rule match nothing, with no error action (re:Post
QUtmrQNjM4SkiP8mWy31_8Ew); the rule must hold for AWS IoT SQL as documented, not only the local cloud's subset: SET
clauses (iot-sql-set.html) and double-quoted strings (iot-sql-json.html). Cases from the red team's review."""

from __future__ import annotations

import pytest
from policy_harness import run_resource

RULE = "iot-topic-rule-sql-lookups"
TYPE = "aws:iot/topicRule:TopicRule"
LOOKUP = "get_dynamodb('leases', 'CertificateId', certificateId, 'arn:aws:iam::111122223333:role/r')"
TOPIC = "'$aws/events/certificates/registered/abc'"


def refusals(sql: str, version: str = "2016-03-23") -> list[str]:
    return run_resource(RULE, TYPE, {"sql": sql, "sqlVersion": version})


@pytest.mark.parametrize("sql", [
    f"SET @lease = {LOOKUP} SELECT * FROM {TOPIC} WHERE isUndefined(@lease)",
    f'SELECT *, "(" AS marker FROM {TOPIC} WHERE isUndefined({LOOKUP}.ExpiresAt)',
    f'SELECT "WHERE" AS marker, {LOOKUP}.Owner AS owner FROM {TOPIC}',
    f"SELECT *, {LOOKUP}.Owner AS owner FROM {TOPIC} WHERE certificateStatus = 'PENDING_ACTIVATION'",
    f"select * from {TOPIC} where isUndefined({LOOKUP.upper()}.ExpiresAt)",
    f"SELECT * FROM {TOPIC}\n\tWHERE\n\tisUndefined(get_dynamodb\n (  'leases', 'CertificateId', certificateId, 'r'))",
    f"SELECT 'it''s (' AS s FROM {TOPIC} WHERE isUndefined({LOOKUP})",
    f"SELECT (SELECT v FROM arr WHERE isUndefined({LOOKUP})) AS x FROM {TOPIC}",
], ids=["set-clause", "double-quoted-paren", "double-quoted-where", "select", "case", "whitespace", "quote-escape",
        "nested-query"])
def test_a_lookup_anywhere_in_the_statement_is_refused(sql: str) -> None:
    (message,) = refusals(sql)
    assert "calls get_dynamodb()" in message and "QUtmrQNjM4SkiP8mWy31_8Ew" in message


def test_two_lookups_are_counted_in_the_one_refusal() -> None:
    (message,) = refusals(f"SELECT {LOOKUP}.a AS a, GET_DYNAMODB ('t', 'k', b, 'r').v AS b FROM {TOPIC}")
    assert "(2 calls)" in message


@pytest.mark.parametrize("sql", [
    "SELECT * FROM 'a/WHERE/b' WHERE x = 'get_dynamodb('",
    'SELECT "get_dynamodb(" AS name, * FROM \'a/b\'',
    'SELECT * FROM \'a/b\' WHERE x = "say \\"get_dynamodb(\\" twice"',
    f"SELECT * FROM {TOPIC} WHERE certificateStatus = 'PENDING_ACTIVATION'",
], ids=["single-quoted-name", "double-quoted-name", "escaped-double-quote", "the-jitr-rule"])
def test_a_function_name_inside_a_string_is_not_a_call(sql: str) -> None:
    assert refusals(sql) == []
