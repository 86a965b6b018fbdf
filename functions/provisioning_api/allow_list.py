"""The allow-list: one table of enrolled devices for every way in (docs/design.md, "The allow-list").

Entry (hash key ``ThingName``): ``Status`` ``unprovisioned`` -> ``provisioning`` (claimed by one request) ->
``provisioned``; ``VerifyingKey`` (the device's own public key, PEM, recorded at manufacturing); ``EnrolledAt``. A
claim records ``ClaimToken`` (the request's nonce), ``ClaimedAt`` (epoch seconds) and ``ClaimRegion``; provisioning
records ``CertificateId``, ``CertificatePem``, ``PublicKeyDigest`` (SHA-256 of the certified key's
SubjectPublicKeyInfo), ``KeyOrigin`` (``csr`` or ``generated``), ``Region`` (the closest region), ``ProvisionedIn``
(the API's region) and ``ProvisionedAt``.

Every transition is one conditional UpdateItem, so in one region exactly one request claims an entry, and only the
claimant moves it on (release or complete). A claim older than ``CLAIM_TIMEOUT_SECONDS`` (its function was stopped
mid-way) may be taken over.
"""
from __future__ import annotations

from typing import Any, Mapping

UNPROVISIONED, PROVISIONING, PROVISIONED = "unprovisioned", "provisioning", "provisioned"
#: Longer than the function's timeout: a claim this old belongs to an invocation that is gone.
CLAIM_TIMEOUT_SECONDS = 120


def _plain(item: Mapping[str, Any] | None) -> dict[str, str] | None:
    if item is None:
        return None
    return {k: next(iter(v.values())) for k, v in item.items()}


def read(dynamodb: Any, table: str, thing_name: str) -> dict[str, str] | None:
    """The entry as plain strings (consistent read), or None when the thing is not enrolled."""
    return _plain(dynamodb.get_item(TableName=table, Key={"ThingName": {"S": thing_name}},
                                    ConsistentRead=True).get("Item"))


def claim(dynamodb: Any, table: str, thing_name: str, token: str, region: str, now: int) -> bool:
    """Claim an ``unprovisioned`` entry (or take over an abandoned claim) for ``token``; False if another has it."""
    try:
        dynamodb.update_item(
            TableName=table, Key={"ThingName": {"S": thing_name}},
            UpdateExpression="SET #s = :provisioning, ClaimToken = :token, ClaimedAt = :now, ClaimRegion = :region",
            ConditionExpression="#s = :unprovisioned OR (#s = :provisioning AND ClaimedAt < :abandoned)",
            ExpressionAttributeNames={"#s": "Status"},
            ExpressionAttributeValues={":provisioning": {"S": PROVISIONING}, ":unprovisioned": {"S": UNPROVISIONED},
                                       ":token": {"S": token}, ":now": {"N": str(now)}, ":region": {"S": region},
                                       ":abandoned": {"N": str(now - CLAIM_TIMEOUT_SECONDS)}})
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True


def release(dynamodb: Any, table: str, thing_name: str, token: str) -> None:
    """Back to ``unprovisioned`` after a rolled-back attempt (only by the claimant)."""
    dynamodb.update_item(
        TableName=table, Key={"ThingName": {"S": thing_name}},
        UpdateExpression="SET #s = :unprovisioned REMOVE ClaimToken, ClaimedAt, ClaimRegion",
        ConditionExpression="#s = :provisioning AND ClaimToken = :token",
        ExpressionAttributeNames={"#s": "Status"},
        ExpressionAttributeValues={":provisioning": {"S": PROVISIONING}, ":unprovisioned": {"S": UNPROVISIONED},
                                   ":token": {"S": token}})


def complete(dynamodb: Any, table: str, thing_name: str, token: str, result: Mapping[str, str]) -> None:
    """``provisioned``, with what was provisioned (only by the claimant)."""
    names = {f"#a{i}": k for i, k in enumerate(result)}
    values = {f":a{i}": {"S": v} for i, v in enumerate(result.values())}
    sets = ", ".join(f"#a{i} = :a{i}" for i in range(len(result)))
    dynamodb.update_item(
        TableName=table, Key={"ThingName": {"S": thing_name}},
        UpdateExpression=f"SET #s = :provisioned, {sets}",
        ConditionExpression="#s = :provisioning AND ClaimToken = :token",
        ExpressionAttributeNames={"#s": "Status", **names},
        ExpressionAttributeValues={":provisioning": {"S": PROVISIONING}, ":provisioned": {"S": PROVISIONED},
                                   ":token": {"S": token}, **values})


def enrol_item(thing_name: str, verifying_key_pem: str, enrolled_at: str) -> dict[str, dict[str, str]]:
    """The DynamoDB item of a new ``unprovisioned`` entry (used by ``python -m ops allow-list import``)."""
    return {"ThingName": {"S": thing_name}, "Status": {"S": UNPROVISIONED},
            "VerifyingKey": {"S": verifying_key_pem}, "EnrolledAt": {"S": enrolled_at}}
