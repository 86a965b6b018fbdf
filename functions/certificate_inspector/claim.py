"""The inventory write that claims a thing name for a certificate: the commit point of just-in-time registration.

One conditional UpdateItem on this region's replica of the global table (``contract/items.py``: the expression and
conditions every way in writes with):

- NEW: only if no item exists (``attribute_not_exists``): of two certificates claiming one name in this region,
  exactly one wins; of two executions for one certificate (IoT repeats the registration event), the second finds
  the item written and carries on as KNOWN without writing again (no second stream record);
- ROTATION: only if the item is ACTIVE and still authorises this certificate as ``PendingCertificateId``;
- KNOWN: no write (the item already names this certificate).

A lost condition is decided again on a fresh consistent read, so the loser is told exactly why (another certificate
owns the name, the device was decommissioned) or, when the winner was this same certificate, proceeds as KNOWN.
Writes in two regions at once are not serialised by DynamoDB (global tables are last-writer-wins); the replication
machine settles those (docs/design.md, "One owner per thing name").
"""
from __future__ import annotations

from typing import Any
from collections.abc import Callable, Mapping

from contract.items import ACTIVE, CLAIM_CONDITIONS, CLAIM_EXPRESSION, CLAIM_NAMES


def write(dynamodb: Any, table: str, device: Mapping[str, Any]) -> None:
    """The conditional write for ``device`` (the inspector's result; Verdict NEW or ROTATION)."""
    values = {
        ":cid": device["CertificateId"], ":pem": device["CertificatePem"], ":ca": device["CaCertificateId"],
        ":origin": device["OriginRegion"], ":at": device["RegisteredAt"], ":pending": device["PendingCertificateId"],
        ":previous": device["PreviousCertificateId"], ":active": ACTIVE,
    }
    dynamodb.update_item(
        TableName=table,
        Key={"ThingName": {"S": device["ThingName"]}},
        UpdateExpression=CLAIM_EXPRESSION,
        ConditionExpression=CLAIM_CONDITIONS[device["Verdict"]],
        ExpressionAttributeNames=CLAIM_NAMES,
        ExpressionAttributeValues={name: {"S": value} for name, value in values.items()},
    )


def claim(dynamodb: Any, table: str, device: dict[str, Any],
          decide_again: Callable[[Mapping[str, Any] | None], dict[str, Any]]) -> dict[str, Any]:
    """Write ``device``'s claim; on a lost condition return ``decide_again(fresh item)`` (which raises the named
    error for an impostor or a decommissioned device, or returns the KNOWN result)."""
    if device["Verdict"] == "KNOWN":
        return device
    try:
        write(dynamodb, table, device)
    except dynamodb.exceptions.ConditionalCheckFailedException as conflict:
        fresh = dynamodb.get_item(TableName=table, Key={"ThingName": {"S": device["ThingName"]}},
                                  ConsistentRead=True).get("Item")
        decided = decide_again(fresh)
        if decided["Verdict"] != "KNOWN":  # e.g. a rotation authorised and withdrawn meanwhile: decide on the next event
            raise ClaimLost(f"the inventory item of {device['ThingName']!r} changed while certificate "
                            f"{device['CertificateId']} was claiming it; the next connection retries") from conflict
        return decided
    return device


class ClaimLost(Exception):
    """The item changed between the read and the write in a way that needs a fresh registration event."""
