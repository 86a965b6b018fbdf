"""moto's DynamoDB: the backends, tables, items and streams, the response class, the update-expression parser."""
from __future__ import annotations

from . import internals

with internals():
    from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.models.table import StreamShard, Table
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Expression, Node, UpdateExpressionFunction
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.dynamodb.responses import DynamoHandler

__all__ = [
    "DepthFirstTraverser",
    "DynamoDBBackend",
    "DynamoHandler",
    "DynamoType",
    "Expression",
    "Item",
    "Node",
    "StreamShard",
    "Table",
    "UpdateExpressionFunction",
    "UpdateExpressionParser",
    "dynamodb_backends",
    "validators",
]
