"""The allow-list: one table of enrolled devices for every way in (docs/design.md, "The allow-list").

Shared by the provisioning API (``functions/provisioning_api/service.py``), fleet provisioning (the certificate
provider and the hook, whose own transitions are ``functions/fleet_provisioning/admission.py``) and ``python -m ops
allow-list`` (import, add, reset): every one of them reads and moves the same entries, so the entry's attributes,
states and conditional transitions live here once (was ``functions/provisioning_api/allow_list.py``).

Entry (hash key ``ThingName``): ``Status`` ``unprovisioned`` -> ``provisioning`` (claimed by one request) ->
``provisioned``, or with fleet provisioning ``unprovisioned`` -> ``issuing`` -> ``provisioned``; ``VerifyingKey``
(the device's own public key, PEM, recorded at manufacturing); ``EnrolledAt``. A
claim records ``ClaimToken`` (the request's nonce), ``ClaimedAt`` (epoch seconds) and ``ClaimRegion``; provisioning
records ``CertificateId``, ``CertificatePem``, ``PublicKeyDigest`` (SHA-256 of the certified key's
SubjectPublicKeyInfo), ``KeyOrigin`` (``csr``, or ``generated`` for entries provisioned before issue 21),
``Region`` (the closest region), ``ProvisionedIn`` (the API's region) and ``ProvisionedAt``.

The write-ahead journal (issue 21): before an attempt creates anything in the registry, its claim adds the id of the
certificate it is about to register to ``AttemptCertificateIds`` (a string set) with ``AttemptRegion``. An id stays
there until its attempt is committed (the entry is completed) or everything it created is undone, so a request or
an operator that finds the entry later knows exactly what may be left in that region's registry, whatever stopped
the attempt (a rollback refused for a while, an invocation that died). ``ReplacesCertificateId`` is written by
``python -m ops allow-list reset``: the certificate the next provisioning may take the thing name over from (a
device that lost its key).

Every transition is one conditional UpdateItem, so in one region exactly one request claims an entry, and only the
claimant moves it on (forget, release or complete). A claim older than ``CLAIM_TIMEOUT_SECONDS`` belongs to an
invocation that is gone (Lambda stops a function at its timeout, 30 s here, with no chance to clean up) and may be
taken over, conditionally on the very claim that was read. The DynamoDB client is an argument: no SDK is imported.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

UNPROVISIONED, PROVISIONING, PROVISIONED = "unprovisioned", "provisioning", "provisioned"
#: Fleet provisioning: the certificate provider issued a certificate the hook has not admitted yet (admission.py).
ISSUING = "issuing"
#: Longer than the function's timeout: a claim this old belongs to an invocation that is gone.
CLAIM_TIMEOUT_SECONDS = 120
ATTEMPTS, ATTEMPT_REGION, REPLACES = "AttemptCertificateIds", "AttemptRegion", "ReplacesCertificateId"
#: What a completed provisioning records (and a reset removes).
RESULT = ("CertificateId", "CertificatePem", "PublicKeyDigest", "KeyOrigin", "Region", "ProvisionedIn",
          "ProvisionedAt")
_CLAIM = ("ClaimToken", "ClaimedAt", "ClaimRegion")

Entry = dict[str, Any]  # attribute -> str, or a sorted list of str for a string set


def _plain(item: Mapping[str, Any] | None) -> Entry | None:
    if item is None:
        return None
    plain: Entry = {}
    for name, value in item.items():
        kind, data = next(iter(value.items()))
        plain[name] = sorted(data) if kind == "SS" else data
    return plain


def read(dynamodb: Any, table: str, thing_name: str) -> Entry | None:
    """The entry as plain strings (consistent read), or None when the thing is not enrolled."""
    return _plain(dynamodb.get_item(TableName=table, Key={"ThingName": {"S": thing_name}},
                                    ConsistentRead=True).get("Item"))


def attempts(entry: Mapping[str, Any]) -> list[str]:
    """Certificate ids of attempts that may have left something in ``AttemptRegion``'s registry."""
    return list(entry.get(ATTEMPTS) or [])


def claim_is_fresh(entry: Mapping[str, Any], now: float) -> bool:
    """Whether the entry is claimed by a request that may still be running."""
    return entry.get("Status") == PROVISIONING and int(entry.get("ClaimedAt") or 0) >= now - CLAIM_TIMEOUT_SECONDS


def unfinished_region(entry: Mapping[str, Any]) -> str | None:
    """The region whose registry may hold an unfinished attempt (it alone can finish or undo it), or None."""
    if attempts(entry):
        return entry.get(ATTEMPT_REGION) or entry.get("ClaimRegion")
    if entry.get("Status") == PROVISIONING:
        return entry.get("ClaimRegion")
    return None


def _as_read(entry: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """A condition that holds while the entry's status and claim are still as ``entry`` shows them."""
    values: dict[str, Any] = {":was": {"S": entry["Status"]}}
    condition = "#s = :was"
    if entry.get("ClaimToken"):
        condition += " AND ClaimToken = :was_token"
        values[":was_token"] = {"S": entry["ClaimToken"]}
    else:
        condition += " AND attribute_not_exists(ClaimToken)"
    return condition, values


def claim(dynamodb: Any, table: str, thing_name: str, observed: Mapping[str, Any], token: str, region: str,
          now: int, certificate_id: str) -> Entry | None:
    """Claim the entry as ``observed`` (``unprovisioned``, or a claim abandoned ``CLAIM_TIMEOUT_SECONDS`` ago) for
    ``token``, journaling ``certificate_id`` as this region's attempt. Returns the entry as claimed (with every
    attempt still journaled), or None if it changed since it was read (another request has it)."""
    condition, values = _as_read(observed)
    if observed.get("Status") == PROVISIONING:
        condition += " AND ClaimedAt < :abandoned"
        values[":abandoned"] = {"N": str(now - CLAIM_TIMEOUT_SECONDS)}
    elif observed.get("Status") != UNPROVISIONED:
        return None
    condition += " AND (attribute_not_exists(#attempts) OR #attempt_region = :region)"
    try:
        answer = dynamodb.update_item(
            TableName=table, Key={"ThingName": {"S": thing_name}},
            UpdateExpression=("SET #s = :provisioning, ClaimToken = :token, ClaimedAt = :now, ClaimRegion = :region, "
                              "#attempt_region = :region ADD #attempts :cid"),
            ConditionExpression=f"attribute_exists(ThingName) AND {condition}",
            ExpressionAttributeNames={"#s": "Status", "#attempts": ATTEMPTS, "#attempt_region": ATTEMPT_REGION},
            ExpressionAttributeValues={**values, ":provisioning": {"S": PROVISIONING}, ":token": {"S": token},
                                       ":now": {"N": str(now)}, ":region": {"S": region},
                                       ":cid": {"SS": [certificate_id]}},
            ReturnValues="ALL_NEW")
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return None
    return _plain(answer["Attributes"])


def _claimant(token: str) -> tuple[str, dict[str, Any]]:
    return "#s = :provisioning AND ClaimToken = :token", {":provisioning": {"S": PROVISIONING}, ":token": {"S": token}}


def forget(dynamodb: Any, table: str, thing_name: str, token: str, certificate_ids: Iterable[str]) -> None:
    """Drop attempts whose every trace is gone from the journal (only by the claimant)."""
    ids = sorted(set(certificate_ids))
    if not ids:
        return
    condition, values = _claimant(token)
    dynamodb.update_item(
        TableName=table, Key={"ThingName": {"S": thing_name}}, UpdateExpression="DELETE #attempts :ids",
        ConditionExpression=condition, ExpressionAttributeNames={"#s": "Status", "#attempts": ATTEMPTS},
        ExpressionAttributeValues={**values, ":ids": {"SS": ids}})


def release(dynamodb: Any, table: str, thing_name: str, token: str, forget: Iterable[str] = ()) -> None:
    """Back to ``unprovisioned`` after an attempt stopped (only by the claimant); ``forget`` the attempts that left
    nothing behind. An attempt not forgotten stays journaled: the next request (or a reset) finishes undoing it."""
    condition, values = _claimant(token)
    ids = sorted(set(forget))
    expression = "SET #s = :unprovisioned REMOVE ClaimToken, ClaimedAt, ClaimRegion"
    if ids:
        expression += " DELETE #attempts :ids"
        values[":ids"] = {"SS": ids}
    dynamodb.update_item(
        TableName=table, Key={"ThingName": {"S": thing_name}}, UpdateExpression=expression,
        ConditionExpression=condition,
        ExpressionAttributeNames={"#s": "Status", **({"#attempts": ATTEMPTS} if ids else {})},
        ExpressionAttributeValues={**values, ":unprovisioned": {"S": UNPROVISIONED}})


def complete(dynamodb: Any, table: str, thing_name: str, token: str, result: Mapping[str, str]) -> Entry:
    """``provisioned``, with what was provisioned (only by the claimant); the journal, the claim and any
    ``ReplacesCertificateId`` go (nothing is left to undo: every other attempt was undone before this one ran)."""
    names = {f"#a{i}": k for i, k in enumerate(result)}
    values = {f":a{i}": {"S": v} for i, v in enumerate(result.values())}
    sets = ", ".join(f"#a{i} = :a{i}" for i in range(len(result)))
    condition, claimant = _claimant(token)
    answer = dynamodb.update_item(
        TableName=table, Key={"ThingName": {"S": thing_name}},
        UpdateExpression=(f"SET #s = :provisioned, {sets} "
                          "REMOVE ClaimToken, ClaimedAt, ClaimRegion, #attempts, #attempt_region, #replaces"),
        ConditionExpression=condition,
        ExpressionAttributeNames={"#s": "Status", "#attempts": ATTEMPTS, "#attempt_region": ATTEMPT_REGION,
                                  "#replaces": REPLACES, **names},
        ExpressionAttributeValues={**claimant, ":provisioned": {"S": PROVISIONED}, **values},
        ReturnValues="ALL_NEW")
    return _plain(answer["Attributes"]) or {}


def reset(dynamodb: Any, table: str, thing_name: str, observed: Mapping[str, Any], *, replaces: str | None,
          forget: Iterable[str], at: str) -> bool:
    """``python -m ops allow-list reset``: back to ``unprovisioned`` without the provisioning result or a claim,
    with ``ReplacesCertificateId`` = ``replaces`` (the certificate the next provisioning takes the name over from),
    forgetting the attempts that were undone. Conditional on the entry's status and claim as ``observed``; False if
    it changed meanwhile."""
    condition, values = _as_read(observed)
    ids = sorted(set(forget))
    names = {"#s": "Status", **{f"#r{i}": k for i, k in enumerate(RESULT)}}
    removed = [*_CLAIM, *(f"#r{i}" for i in range(len(RESULT)))]
    sets = ["#s = :unprovisioned", "ResetAt = :at"]
    if replaces:
        sets.append("#replaces = :replaces")
        values[":replaces"] = {"S": replaces}
    else:
        removed.append("#replaces")
    names["#replaces"] = REPLACES
    expression = f"SET {', '.join(sets)} REMOVE {', '.join(removed)}"
    if ids:
        expression += " DELETE #attempts :ids"
        names["#attempts"] = ATTEMPTS
        values[":ids"] = {"SS": ids}
    try:
        dynamodb.update_item(
            TableName=table, Key={"ThingName": {"S": thing_name}}, UpdateExpression=expression,
            ConditionExpression=f"attribute_exists(ThingName) AND {condition}", ExpressionAttributeNames=names,
            ExpressionAttributeValues={**values, ":unprovisioned": {"S": UNPROVISIONED}, ":at": {"S": at}})
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True


def enrol_item(thing_name: str, verifying_key_pem: str, enrolled_at: str) -> dict[str, dict[str, str]]:
    """The DynamoDB item of a new ``unprovisioned`` entry (used by ``python -m ops allow-list import``)."""
    return {"ThingName": {"S": thing_name}, "Status": {"S": UNPROVISIONED},
            "VerifyingKey": {"S": verifying_key_pem}, "EnrolledAt": {"S": enrolled_at}}
