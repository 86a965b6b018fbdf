"""Replay protection: every accepted request's nonce is remembered, with a TTL, in this region's nonce table.

Item: ``Key`` = ``<thing name>#<nonce>`` (a device's nonces cannot collide with another's), ``RequestDigest``
(SHA-256 of the signed message and signature), ``ExpiresAt`` (epoch seconds; the table's TTL attribute). The TTL
is twice the freshness window: a request old enough for its nonce to have been deleted is already refused as stale.
The put is conditional, so of two identical requests exactly one records the nonce. The item's attributes are
``contract/items.py``'s (``components/provisioning_api.py`` makes the table).
"""
from __future__ import annotations

from typing import Any, Literal

from contract.items import NONCE_EXPIRES, NONCE_KEY, NONCE_REQUEST_DIGEST

Outcome = Literal["new", "retry", "replay"]


def remember(dynamodb: Any, table: str, thing_name: str, nonce: str, digest: str, now: int,
             ttl_seconds: int) -> Outcome:
    """``new`` (first time), ``retry`` (the same signed request again) or ``replay`` (the nonce with another
    request: someone reused it)."""
    key = f"{thing_name}#{nonce}"
    try:
        dynamodb.put_item(
            TableName=table,
            Item={NONCE_KEY: {"S": key}, NONCE_REQUEST_DIGEST: {"S": digest},
                  NONCE_EXPIRES: {"N": str(now + ttl_seconds)}},
            ConditionExpression="attribute_not_exists(#k)", ExpressionAttributeNames={"#k": NONCE_KEY})
        return "new"
    except dynamodb.exceptions.ConditionalCheckFailedException:
        seen = dynamodb.get_item(TableName=table, Key={NONCE_KEY: {"S": key}}, ConsistentRead=True).get("Item") or {}
        return "retry" if seen.get(NONCE_REQUEST_DIGEST, {}).get("S") == digest else "replay"
