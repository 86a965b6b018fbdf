"""IoT SQL 2016-03-23 subset: parsing, topic filters, evaluation, and loud refusals."""

from __future__ import annotations

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
        ("SELECT CASE a WHEN 1 THEN 2 END FROM 't'", "CASE"),
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
