"""The cached DynamoDB expression walks give moto's results and moto's errors, only cheaper."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from engine_support import PRIMARY
from moto import mock_aws

from localcloud.speedups import ddb_expressions

# (update expression, names, values) — valid ones, plus moto's validation errors
CASES: list[tuple[str, dict[str, str], dict[str, Any]]] = [
    ("SET a = :a, b = :b, #s = :s, c = :a", {"#s": "Status"}, {":a": {"S": "x"}, ":b": {"N": "2"}, ":s": {"S": "ON"}}),
    ("SET n = n + :one REMOVE b ADD tags :t", {}, {":one": {"N": "1"}, ":t": {"SS": ["p"]}}),
    ("SET l = list_append(if_not_exists(l, :empty), :more)", {}, {":empty": {"L": []}, ":more": {"L": [{"S": "i"}]}}),
    ("SET a = :a, a = :b", {}, {":a": {"S": "x"}, ":b": {"S": "y"}}),  # duplicate path
    ("SET a = :a SET b = :a", {}, {":a": {"S": "x"}}),  # two SET clauses
    ("SET a = :missing", {}, {":a": {"S": "x"}}),  # undefined value
    ("SET K = :a", {}, {":a": {"S": "x"}}),  # the hash key
    ("SET a.b = :a", {}, {":a": {"S": "x"}}),  # path into a missing map
    ("SET a = ", {}, {":a": {"S": "x"}}),  # does not parse
    ("SET a = :a, b = :b, #s = :s, c = :a", {"#s": "Status"}, {":a": {"S": "y"}, ":b": {"N": "3"}, ":s": {"S": "OFF"}}),
]


def _run_cases() -> list[Any]:
    outcomes: list[Any] = []
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=PRIMARY)
        ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "K", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "K", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        ddb.put_item(TableName="t", Item={"K": {"S": "k"}, "n": {"N": "1"}, "b": {"S": "old"}})
        for expression, names, values in CASES:
            kwargs: dict[str, Any] = {"TableName": "t", "Key": {"K": {"S": "k"}}, "UpdateExpression": expression,
                                      "ExpressionAttributeValues": values, "ReturnValues": "ALL_NEW"}
            if names:
                kwargs["ExpressionAttributeNames"] = names
            try:
                outcomes.append(ddb.update_item(**kwargs)["Attributes"])
            except ClientError as error:
                outcomes.append((error.response["Error"]["Code"], error.response["Error"]["Message"]))
    return outcomes


def test_cached_walks_give_the_same_items_and_errors_as_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(name, value)
    expected = _run_cases()
    ddb_expressions.install()
    try:
        assert ddb_expressions.installed()
        assert _run_cases() == expected
    finally:
        ddb_expressions.uninstall()
    assert not ddb_expressions.installed()
    errors = [outcome for outcome in expected if isinstance(outcome, tuple)]
    assert len(errors) >= 5, "the error cases must really fail in moto, or they compare nothing"


def test_tree_clone_is_a_deep_copy_with_parent_links_inside_the_copy() -> None:
    from moto.dynamodb.parsing.ast_nodes import Node
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    tree = UpdateExpressionParser.make("SET a = :a, b = list_append(b, :b) REMOVE c")
    copied = ddb_expressions._deepcopy(tree)

    def walk(node: Node) -> list[Node]:
        found = [node]
        for child in node.children or []:
            if isinstance(child, Node):
                found.extend(walk(child))
        return found

    originals, copies = walk(tree), walk(copied)
    assert [type(n) for n in copies] == [type(n) for n in originals] and len(copies) > 10
    assert not {id(n) for n in copies} & {id(n) for n in originals}
    assert all(child.parent is node for node in copies for child in node.children or [] if isinstance(child, Node))
    assert [getattr(n, "children", None) and [c for c in n.children if not isinstance(c, Node)] for n in copies] == \
        [getattr(n, "children", None) and [c for c in n.children if not isinstance(c, Node)] for n in originals]


def test_structural_checks_are_skipped_only_once_they_passed_for_the_same_text_and_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto.dynamodb.parsing import validators

    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(name, value)
    walked: list[str] = []
    for check in ("ActionCountValidator", "OverlappingPathsValidator", "UpdateHashRangeKeyValidator"):
        cls = getattr(validators, check)
        monkeypatch.setattr(cls, "traverse", lambda self, node, _name=check: walked.append(_name) or
                            validators.DepthFirstTraverser.traverse(self, node))
    ddb_expressions.install()
    try:
        with mock_aws():
            ddb = boto3.client("dynamodb", region_name=PRIMARY)
            ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "K", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "K", "AttributeType": "S"}],
                             BillingMode="PAY_PER_REQUEST")

            def update(key: str, expression: str, names: dict[str, str]) -> Any:
                return ddb.update_item(TableName="t", Key={"K": {"S": key}}, UpdateExpression=expression,
                                       ExpressionAttributeNames=names, ExpressionAttributeValues={":a": {"S": "x"}},
                                       ReturnValues="ALL_NEW")["Attributes"]

            assert update("k1", "SET #n = :a", {"#n": "a"}) == {"K": {"S": "k1"}, "a": {"S": "x"}}
            first = len(walked)
            assert first == 3  # a new item is validated twice: the second time the checks are known to pass
            assert update("k2", "SET #n = :a", {"#n": "a"}) == {"K": {"S": "k2"}, "a": {"S": "x"}}
            assert len(walked) == first  # passed before: skipped
            for _ in range(2):  # the same text naming the key attribute fails every time
                with pytest.raises(ClientError, match="Cannot update attribute K"):
                    update("k3", "SET #n = :a", {"#n": "K"})
            assert walked.count("UpdateHashRangeKeyValidator") == 1 + 2  # failures are never remembered
    finally:
        ddb_expressions.uninstall()
