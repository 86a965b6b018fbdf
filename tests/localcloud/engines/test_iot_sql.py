"""IoT SQL 2016-03-23 subset: parsing, topic filters, evaluation, and loud refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from localcloud.services.iot.sql import IotSqlError, parse, topic_matches

JITR_SQL = (
    "SELECT * FROM '$aws/events/certificates/registered/abc123' "
    "WHERE certificateStatus = 'PENDING_ACTIVATION'"
)
TELEMETRY_SQL = (
    "SELECT topic(2) AS PK, concat(cast(timestamp() AS String), '#', newuuid()) AS SK, "
    "topic(2) AS Device, 'eu-west-1' AS Region, timestamp() AS ReceivedAt, "
    "message AS Message FROM 'i/+/m'"
)


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("i/+/m", "i/dev-1/m", True),
        ("i/+/m", "i/dev-1/x", False),
        ("i/+/m", "i/dev-1/m/extra", False),
        ("i/#", "i/dev-1/m", True),
        ("i/#", "i", True),
        ("#", "i/dev-1/m", True),
        ("#", "$aws/events/certificates/registered/x", False),
        ("+/events/#", "$aws/events/x", False),
        ("$aws/events/certificates/registered/#", "$aws/events/certificates/registered/ca", True),
        ("$aws/events/certificates/registered/ca", "$aws/events/certificates/registered/cb", False),
    ],
)
def test_topic_filter_matching(topic_filter: str, topic: str, expected: bool) -> None:
    assert topic_matches(topic_filter, topic) is expected


def test_jitr_rule_selects_pending_registrations_of_its_ca_only() -> None:
    query = parse(JITR_SQL)
    event = {
        "certificateId": "c1",
        "caCertificateId": "abc123",
        "certificateStatus": "PENDING_ACTIVATION",
        "timestamp": 1,
    }
    topic = "$aws/events/certificates/registered/abc123"
    assert query.evaluate(event, topic) == event
    assert query.evaluate({**event, "certificateStatus": "ACTIVE"}, topic) is None
    assert query.evaluate(event, "$aws/events/certificates/registered/other") is None
    assert query.evaluate({"certificateId": "c1"}, topic) is None  # undefined is not true


def test_telemetry_rule_builds_the_item() -> None:
    query = parse(TELEMETRY_SQL)
    uuids = iter(["u-1"])
    result = query.evaluate(
        {"message": "hello", "other": 1},
        "i/dev-7/m",
        timestamp_ms=1700000000123,
        new_uuid=lambda: next(uuids),
    )
    assert result == {
        "PK": "dev-7",
        "SK": "1700000000123#u-1",
        "Device": "dev-7",
        "Region": "eu-west-1",
        "ReceivedAt": 1700000000123,
        "Message": "hello",
    }


def test_missing_field_is_left_out_of_the_result() -> None:
    result = parse(TELEMETRY_SQL).evaluate({}, "i/dev-7/m", timestamp_ms=5)
    assert result is not None
    assert "Message" not in result
    assert result["PK"] == "dev-7"


def test_star_with_extra_fields_and_nested_paths() -> None:
    query = parse("SELECT *, a.b AS inner, topic() AS t, clientid() AS c FROM 'x/#'")
    result = query.evaluate({"a": {"b": 3}, "z": "q"}, "x/y", client_id="cl")
    assert result == {"a": {"b": 3}, "z": "q", "inner": 3, "t": "x/y", "c": "cl"}


def test_default_names_for_paths_and_functions() -> None:
    result = parse("SELECT a.b, timestamp() FROM 'x'").evaluate({"a": {"b": 1}}, "x", timestamp_ms=9)
    assert result == {"b": 1, "timestamp": 9}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("n = 5", True),
        ("n <> 5", False),
        ("n != 4", True),
        ("n > 4 AND s = 'x'", True),
        ("n > 5 OR s = 'x'", True),
        ("NOT (n > 5)", True),
        ("n >= 5 AND n <= 5", True),
        ("n < 5", False),
        ("n + 1 = 6", True),
        ("s = 'it''s'", False),
        ("missing = 1 OR n = 5", True),
        ("missing = 1 AND n = 5", False),
        ("NOT missing = 1", False),
        ("n = '5'", False),
        ("flag = true", True),
    ],
)
def test_where_clauses(where: str, expected: bool) -> None:
    query = parse(f"SELECT * FROM 't' WHERE {where}")
    assert (query.evaluate({"n": 5, "s": "x", "flag": True}, "t") is not None) is expected


def test_cast_and_concat() -> None:
    query = parse(
        "SELECT cast(n AS String) AS s, cast('42' AS Int) AS i, cast(1 AS Bool) AS b, "
        "concat('a', 1, true) AS c FROM 't'"
    )
    assert query.evaluate({"n": 7}, "t") == {"s": "7", "i": 42, "b": True, "c": "a1true"}


def test_traceid_and_newuuid_are_strings_and_unique_per_call() -> None:
    query = parse("SELECT traceid() AS t, newuuid() AS a, newuuid() AS b FROM 't'")
    result = query.evaluate({}, "t")
    assert result is not None
    assert isinstance(result["t"], str) and result["a"] != result["b"]


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("SELECT * FROM 't' WHERE a IN (1, 2)", "IN"),
        ("SELECT CASE WHEN a = 1 THEN 2 END FROM 't'", "CASE WHEN"),
        ("SELECT upper(a) AS u FROM 't'", "upper"),
        ("SELECT * FROM \"t\"", "single quotes"),
        ("SELECT a[0] FROM 't'", "'['"),
        ("SELECT * FROM 't' WHERE a LIKE 'x%'", "LIKE"),
        ("SELECT cast(a AS Blob) FROM 't'", "Blob"),
        ("SELECT * FROM 'a/#/b'", "'#'"),
        ("SELECT * FROM 'a/b+'", "'+'"),
        ("SELECT * 't'", "FROM"),
        ("SELECT topic(1, 2) FROM 't'", "topic()"),
        ("SELECT * FROM 't' extra", "extra"),
    ],
)
def test_unsupported_or_malformed_sql_is_refused_by_name(sql: str, named: str) -> None:
    with pytest.raises(IotSqlError) as error:
        parse(sql)
    assert named in str(error.value)


def test_other_sql_versions_are_refused() -> None:
    with pytest.raises(IotSqlError, match="2015-10-08"):
        parse("SELECT * FROM 't'", sql_version="2015-10-08")


def test_non_json_payload_has_only_undefined_fields() -> None:
    query = parse("SELECT topic(1) AS t, message AS m FROM 't/#'")
    assert query.evaluate(b"\x00binary", "t/x") == {"t": "t"}


# -- CASE (developer guide, iot-sql-case.md) ------------------------------------------------------------------

LIGHTS = ("SELECT CASE color WHEN 'green' THEN 'go' WHEN 'yellow' THEN 'caution' WHEN 'red' THEN 'stop' "
          "{otherwise}END AS instructions FROM 't'")


@pytest.mark.parametrize(
    ("payload", "otherwise", "expected"),
    [
        ({"color": "yellow"}, "ELSE 'you are not at a stop light' ", {"instructions": "caution"}),
        ({"color": "green"}, "", {"instructions": "go"}),
        ({"color": "blue"}, "ELSE 'you are not at a stop light' ", {"instructions": "you are not at a stop light"}),
        ({"color": "blue"}, "", {}),  # no match, no ELSE: Undefined, left out
        ({}, "ELSE 'you are not at a stop light' ", {}),  # Undefined subject: Undefined, even with ELSE
        ({"color": 1}, "ELSE 'other' ", {"instructions": "other"}),  # another type never equals
    ],
)
def test_case_matches_in_order_falls_back_to_else_and_is_undefined_without_a_match(
    payload: dict, otherwise: str, expected: dict
) -> None:
    assert parse(LIGHTS.format(otherwise=otherwise)).evaluate(payload, "t") == expected


def test_case_takes_the_first_matching_when_and_compares_numbers_as_equality_does() -> None:
    query = parse("SELECT CASE n WHEN 2 THEN 'int' WHEN 2.0 THEN 'decimal' END AS first, "
                  "CASE n + 1 > 2 WHEN true THEN 'big' WHEN false THEN 'small' END AS size FROM 't'")
    assert query.evaluate({"n": 2.0}, "t") == {"first": "int", "size": "big"}
    assert query.evaluate({"n": 1}, "t") == {"size": "small"}


def test_case_evaluates_only_the_chosen_result() -> None:
    lookups: list[str] = []
    query = parse("SELECT CASE k WHEN 'x' THEN get_dynamodb('t', 'pk', k, 'role') ELSE 'none' END AS r FROM 't'")

    def lookup(table: str, key: dict, role: str) -> dict:
        lookups.append(table)
        return {"pk": "x"}

    assert query.evaluate({"k": "y"}, "t", get_dynamodb=lookup) == {"r": "none"} and lookups == []
    assert query.evaluate({"k": "x"}, "t", get_dynamodb=lookup) == {"r": {"pk": "x"}} and lookups == ["t"]


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("SELECT CASE a ELSE 1 END FROM 't'", "at least one WHEN"),
        ("SELECT CASE a END FROM 't'", "at least one WHEN"),
        ("SELECT CASE a WHEN 1 THEN 2 FROM 't'", "END closing the CASE"),
        ("SELECT CASE a WHEN 1 2 END FROM 't'", "THEN"),
    ],
)
def test_malformed_case_is_refused_by_name(sql: str, named: str) -> None:
    with pytest.raises(IotSqlError, match=named):
        parse(sql)


# -- isUndefined, field access on computed values ---------------------------------------------------------------

def test_is_undefined() -> None:
    query = parse("SELECT isUndefined(5) AS five, isUndefined(missing) AS missing, isUndefined(a.b) AS ab, "
                  "isUndefined(a.b.c) AS abc FROM 't' WHERE isUndefined(gone)")
    assert query.evaluate({"a": {"b": None}}, "t") == {"five": False, "missing": True, "ab": False, "abc": True}
    assert query.evaluate({"gone": 1}, "t") is None
    with pytest.raises(IotSqlError, match=r"isUndefined\(\) takes 1"):
        parse("SELECT isUndefined(1, 2) FROM 't'")


def test_fields_of_parenthesised_expressions_and_call_results() -> None:
    query = parse("SELECT (a).b.c AS c, (a.b).c AS same, (n).x AS of_number, topic().x AS of_string, "
                  "(missing).x AS of_undefined, (a.b.c + 1).x AS of_sum, "
                  "CASE 1 WHEN 1 THEN a END.b.c AS of_case FROM 't'")
    assert query.evaluate({"a": {"b": {"c": 3}}, "n": 4}, "t") == {"c": 3, "same": 3, "of_case": 3}
    item = {"info": {"kind": "lease"}}
    deep = parse("SELECT get_dynamodb('t', 'pk', k, 'role').info.kind FROM 't'")
    assert deep.evaluate({"k": "x"}, "t", get_dynamodb=lambda table, key, role: item) == {"kind": "lease"}
    gone = parse("SELECT get_dynamodb('t', 'pk', k, 'role').info.kind.x AS x FROM 't'")
    assert gone.evaluate({"k": "x"}, "t", get_dynamodb=lambda table, key, role: item) == {}


# -- get_dynamodb (developer guide, iot-sql-functions.md) --------------------------------------------------------

class FakeTable:
    """A get_dynamodb lookup over a dict keyed by the key's values, recording every call."""

    def __init__(self, items: dict[tuple, dict]) -> None:
        self.items = items
        self.calls: list[tuple[str, dict, str]] = []

    def __call__(self, table: str, key: dict, role_arn: str) -> dict | None:
        self.calls.append((table, key, role_arn))
        return self.items.get(tuple(key.values()))


ROLE = "arn:aws:iam::123456789012:role/lookup"


def test_get_dynamodb_returns_the_item_or_undefined() -> None:
    table = FakeTable({("dev-1",): {"deviceId": "dev-1", "location": "lab", "n": Decimal("3"),
                                    "f": Decimal("1.5"), "nested": {"l": [Decimal("2")]}}})
    query = parse(f"SELECT *, get_dynamodb('InServiceDevices', 'deviceId', id, '{ROLE}').location AS location, "
                  "cast(1 AS Int) AS one FROM 'some/topic'")
    assert query.dynamodb_lookups == 1
    assert query.evaluate({"id": "dev-1"}, "some/topic", get_dynamodb=table) == {
        "id": "dev-1", "location": "lab", "one": 1}
    assert table.calls == [("InServiceDevices", {"deviceId": "dev-1"}, ROLE)]
    assert query.evaluate({"id": "dev-2"}, "some/topic", get_dynamodb=table) == {"id": "dev-2", "one": 1}

    whole = parse(f"SELECT get_dynamodb('T', 'deviceId', id, '{ROLE}') AS item FROM 't'")
    item = whole.evaluate({"id": "dev-1"}, "t", get_dynamodb=table)["item"]
    assert item == {"deviceId": "dev-1", "location": "lab", "n": 3, "f": 1.5, "nested": {"l": [2]}}
    assert type(item["n"]) is int and type(item["f"]) is float and type(item["nested"]["l"][0]) is int


def test_get_dynamodb_with_a_sort_key_passes_both_key_attributes() -> None:
    table = FakeTable({("dev-1", 7): {"pk": "dev-1", "sk": 7, "v": "seven"}})
    query = parse(f"SELECT get_dynamodb('Data', 'pk', topic(2), 'sk', n, '{ROLE}').v AS v FROM 'i/+/m'")
    assert query.evaluate({"n": 7}, "i/dev-1/m", get_dynamodb=table) == {"v": "seven"}
    assert table.calls == [("Data", {"pk": "dev-1", "sk": 7}, ROLE)]
    assert query.evaluate({"n": 8}, "i/dev-1/m", get_dynamodb=table) == {}


def test_an_undefined_key_value_is_undefined_without_a_lookup() -> None:
    table = FakeTable({})
    four = parse(f"SELECT isUndefined(get_dynamodb('T', 'pk', missing, '{ROLE}')) AS u FROM 't'")
    six = parse(f"SELECT isUndefined(get_dynamodb('T', 'pk', 'x', 'sk', missing, '{ROLE}')) AS u FROM 't'")
    assert four.evaluate({}, "t", get_dynamodb=table) == {"u": True}
    assert six.evaluate({}, "t", get_dynamodb=table) == {"u": True}
    assert table.calls == []


@pytest.mark.parametrize("arguments", ["", "'T'", "'T', 'pk', k", "'T', 'pk', k, 'sk', 'role'",
                                       "'T', 'pk', k, 'sk', 1, 'role', 'x'"])
def test_get_dynamodb_takes_four_or_six_arguments(arguments: str) -> None:
    with pytest.raises(IotSqlError, match=r"get_dynamodb\(\) takes 4 arguments .* or 6"):
        parse(f"SELECT get_dynamodb({arguments}) FROM 't'")


def test_get_dynamodb_without_a_lookup_says_what_to_pass() -> None:
    query = parse(f"SELECT get_dynamodb('T', 'pk', k, '{ROLE}') AS i FROM 't'")
    with pytest.raises(IotSqlError, match="get_dynamodb=lookup"):
        query.evaluate({"k": "x"}, "t")


def test_a_table_name_that_is_not_a_string_is_an_error() -> None:
    query = parse(f"SELECT get_dynamodb(n, 'pk', k, '{ROLE}') AS i FROM 't'")
    table = FakeTable({})
    with pytest.raises(IotSqlError, match="tableName must be a string"):
        query.evaluate({"k": "x", "n": 1}, "t", get_dynamodb=table)
    assert table.calls == []


@pytest.mark.parametrize("sql", [
    f"SELECT get_dynamodb('A', 'pk', k, '{ROLE}') AS a, get_dynamodb('B', 'pk', k, '{ROLE}') AS b FROM 't'",
    f"SELECT * FROM 't' WHERE isUndefined(get_dynamodb('A', 'pk', k, '{ROLE}')) "
    f"OR isUndefined(get_dynamodb('A', 'pk', k, '{ROLE}'))",
    f"SELECT get_dynamodb('A', 'pk', k, '{ROLE}') AS a FROM 't' WHERE isUndefined(get_dynamodb('A', 'pk', k, "
    f"'{ROLE}'))",
])
def test_two_get_dynamodb_calls_terminate_the_rule_without_a_lookup(sql: str) -> None:
    table = FakeTable({("x",): {"pk": "x"}})
    query = parse(sql)
    assert query.dynamodb_lookups == 2
    assert query.evaluate({"k": "x"}, "t", get_dynamodb=table) is None
    assert table.calls == []


def test_statements_without_get_dynamodb_count_no_lookups() -> None:
    assert parse(JITR_SQL).dynamodb_lookups == 0


# -- the JITR rule's duplicate filter -----------------------------------------------------------------------------

LEASES = "app-registration-leases"
JITR_ROLE = "arn:aws:iam::123456789012:role/app-jitr-rule"
JITR_LEASE_SQL = (
    "SELECT * FROM '$aws/events/certificates/registered/abc123' "
    "WHERE certificateStatus = 'PENDING_ACTIVATION' "
    f"AND isUndefined(CASE get_dynamodb('{LEASES}', 'CertificateId', certificateId, "
    f"'{JITR_ROLE}').ExpiresAt * 1000 > timestamp() "
    "WHEN true THEN 'held' END)"
)
JITR_TOPIC = "$aws/events/certificates/registered/abc123"
NOW_MS = 1_700_000_000_000
EVENT = {"certificateId": "c1", "caCertificateId": "abc123", "certificateStatus": "PENDING_ACTIVATION",
         "timestamp": 1}


@pytest.mark.parametrize(
    ("leases", "passes"),
    [
        ({}, True),  # no lease: a new registration
        ({("c1",): {"CertificateId": "c1", "ExpiresAt": Decimal(NOW_MS // 1000)}}, True),  # expired at now
        ({("c1",): {"CertificateId": "c1", "ExpiresAt": Decimal(NOW_MS // 1000 - 60)}}, True),  # expired
        ({("c1",): {"CertificateId": "c1", "ExpiresAt": Decimal(NOW_MS // 1000 + 1)}}, False),  # held
        ({("c1",): {"CertificateId": "c1"}}, True),  # a lease without an expiry does not hold
    ],
)
def test_the_jitr_lease_filter_drops_events_only_while_a_lease_is_held(leases: dict, passes: bool) -> None:
    table = FakeTable(leases)
    query = parse(JITR_LEASE_SQL)
    assert query.dynamodb_lookups == 1
    result = query.evaluate(EVENT, JITR_TOPIC, timestamp_ms=NOW_MS, get_dynamodb=table)
    assert result == (EVENT if passes else None)
    assert table.calls == [(LEASES, {"CertificateId": "c1"}, JITR_ROLE)]


def test_the_jitr_lease_filter_still_requires_a_pending_certificate() -> None:
    query = parse(JITR_LEASE_SQL)
    assert query.evaluate({**EVENT, "certificateStatus": "ACTIVE"}, JITR_TOPIC, timestamp_ms=NOW_MS,
                          get_dynamodb=FakeTable({})) is None
