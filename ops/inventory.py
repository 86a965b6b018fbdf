"""Reading the inventory replica of one region: a strongly consistent, paginated scan.

The replica in the region being operated on is the truth for that region (its pipe reads its stream),
so every command reads the table there, never in another region.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from builders import inventory as inv
from ops.clients import Scope, error_code
from ops.errors import OpsError


def scan(scope: Scope, *, page_size: int | None = None) -> Iterator[dict[str, Any]]:
    """Every item of ``scope``'s inventory replica, in DynamoDB JSON (consistent read, every page)."""
    table = scope.names.inventory_table
    arguments: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    if page_size:
        arguments["PaginationConfig"] = {"PageSize": page_size}
    paginator = scope.client("dynamodb").get_paginator("scan")
    try:
        for page in paginator.paginate(**arguments):
            yield from page.get("Items", [])
    except Exception as error:
        if error_code(error) == "ResourceNotFoundException":
            raise OpsError(f"the inventory table {table!r} does not exist in {scope.region}: is the stack deployed "
                           f"there, and is --application {scope.names.application!r} right?") from None
        raise


def attribute(item: dict[str, Any], name: str) -> str:
    """A string attribute of a DynamoDB-JSON item ("" when absent)."""
    return str((item.get(name) or {}).get("S", ""))


def thing_name(item: dict[str, Any]) -> str:
    return attribute(item, inv.THING_NAME)


def status(item: dict[str, Any]) -> str:
    return attribute(item, inv.STATUS)
