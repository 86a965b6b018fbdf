"""The allow-list transitions of fleet provisioning (docs/design.md, "Fleet provisioning by claim").

The entry (``contract/allow_list.py``: ``ThingName``, ``Status``, ``VerifyingKey``, ...) goes

    unprovisioned --(certificate provider: proof by the enrolled key)--> issuing --(hook)--> provisioned

* :func:`record_issue` (the certificate provider, before it returns a certificate): ``unprovisioned`` -> ``issuing``
  with ``IssuedCertificateId`` (the id IoT will give the certificate: SHA-256 of its DER), ``ProofNonce``,
  ``ProofTimestamp``, ``IssuedPublicKeyDigest``, ``IssuedAt``, ``IssuedIn``; or, for an entry already ``issuing``,
  the same with a proof at least as recent as the recorded one: that certificate **supersedes** the earlier one,
  which the hook then never admits (a lost reply retried with the same proof, a device that started over, or the
  second of two devices racing for one serial). Conditional on the enrolled key being the one that verified the
  proof. A ``provisioned`` or ``provisioning`` (the provisioning API's) entry is never issued to.
* :func:`admit` (the pre-provisioning hook): ``issuing`` for exactly this certificate -> ``provisioned``
  (``CertificateId``, ``CertificatePem``, ``PublicKeyDigest``, ``KeyOrigin`` ``fleet``, ``Region``,
  ``ProvisionedIn``, ``ProvisionedAt``); or already ``provisioned`` for this certificate (a retried RegisterThing
  gets the same answer). Any other certificate is refused. ``ReplacesCertificateId`` (an operator's reset) is
  cleared, conditionally on its value as the hook read it: the hook takes the name over from that certificate.
* :func:`unadmit` (the hook, when the inventory write then loses): ``provisioned`` for exactly this certificate ->
  back to ``issuing`` for it, the result removed and ``ReplacesCertificateId`` restored, so a refused certificate
  never leaves the entry ``provisioned``.

Both run against the allow-list replica of the certificate provider's region (the primary's: the account's one
provider is there), whatever region the device provisions through, so every decision about one serial is taken on
one replica with conditional writes: two regions cannot both admit a serial inside the global table's replication
window (a conditional write in one region cannot see a concurrent write in another).
"""
from __future__ import annotations

from typing import Any

from contract.allow_list import ISSUING, PROVISIONED, REPLACES, RESULT, UNPROVISIONED

KEY_ORIGIN = "fleet"


class NotAdmitted(Exception):
    """The entry is not in a state this transition may leave (the message says which, for the logs only)."""


def record_issue(dynamodb: Any, table: str, serial: str, *, verifying_key: str, certificate_id: str, nonce: str,
                 timestamp: int, key_digest: str, region: str, now: str) -> str:
    """``unprovisioned``/``issuing`` -> ``issuing`` for ``certificate_id``; returns the certificate it supersedes
    (``""`` if none); ``NotAdmitted`` when the condition fails."""
    try:
        old = dynamodb.update_item(
            TableName=table, Key={"ThingName": {"S": serial}},
            UpdateExpression=("SET #s = :issuing, IssuedCertificateId = :cid, ProofNonce = :nonce, ProofTimestamp = :ts, "
                              "IssuedPublicKeyDigest = :digest, IssuedAt = :now, IssuedIn = :region"),
            ConditionExpression=("VerifyingKey = :key AND (#s = :unprovisioned OR "
                                 "(#s = :issuing AND ProofTimestamp <= :ts))"),
            ExpressionAttributeNames={"#s": "Status"},
            ExpressionAttributeValues={
                ":issuing": {"S": ISSUING}, ":unprovisioned": {"S": UNPROVISIONED}, ":cid": {"S": certificate_id},
                ":nonce": {"S": nonce}, ":ts": {"N": str(int(timestamp))}, ":digest": {"S": key_digest},
                ":now": {"S": now}, ":region": {"S": region}, ":key": {"S": verifying_key}},
            ReturnValues="ALL_OLD").get("Attributes") or {}
    except dynamodb.exceptions.ConditionalCheckFailedException:
        raise NotAdmitted(f"{serial}: the entry changed meanwhile (provisioned, re-enrolled, or a newer proof was "
                          "recorded)") from None
    return old.get("IssuedCertificateId", {}).get("S", "") if old.get("Status", {}).get("S") == ISSUING else ""


def admit(dynamodb: Any, table: str, serial: str, *, certificate_id: str, certificate_pem: str, key_digest: str,
          region: str, now: str, replaces: str = "") -> None:
    """``issuing`` for ``certificate_id`` (and ``ReplacesCertificateId`` still ``replaces``, or absent when ``""``)
    -> ``provisioned``, clearing ``ReplacesCertificateId``; or already ``provisioned`` for it; else ``NotAdmitted``."""
    values = {":provisioned": {"S": PROVISIONED}, ":issuing": {"S": ISSUING}, ":cid": {"S": certificate_id},
              ":pem": {"S": certificate_pem}, ":digest": {"S": key_digest}, ":origin": {"S": KEY_ORIGIN},
              ":region": {"S": region}, ":now": {"S": now}}
    if replaces:
        as_read = "#replaces = :replaces"
        values[":replaces"] = {"S": replaces}
    else:
        as_read = "attribute_not_exists(#replaces)"
    try:
        dynamodb.update_item(
            TableName=table, Key={"ThingName": {"S": serial}},
            UpdateExpression=("SET #s = :provisioned, CertificateId = :cid, CertificatePem = :pem, "
                              "PublicKeyDigest = :digest, KeyOrigin = :origin, #r = :region, ProvisionedIn = :region, "
                              "ProvisionedAt = :now REMOVE #replaces"),
            ConditionExpression=(f"(#s = :issuing AND IssuedCertificateId = :cid AND {as_read}) OR "
                                 "(#s = :provisioned AND CertificateId = :cid)"),
            ExpressionAttributeNames={"#s": "Status", "#r": "Region", "#replaces": REPLACES},
            ExpressionAttributeValues=values)
    except dynamodb.exceptions.ConditionalCheckFailedException:
        raise NotAdmitted(f"{serial}: certificate {certificate_id} is not the one the certificate provider issued "
                          "last for this serial (not enrolled, superseded, or provisioned with another)") from None


def unadmit(dynamodb: Any, table: str, serial: str, *, certificate_id: str, replaces: str = "") -> bool:
    """Undo :func:`admit` after the inventory refused the certificate: ``provisioned`` for ``certificate_id`` ->
    ``issuing`` for it (``IssuedCertificateId`` is still that one), without the result, with ``ReplacesCertificateId``
    back. False when the entry is no longer ``provisioned`` for this certificate (nothing to undo)."""
    names = {"#s": "Status", **{f"#r{i}": k for i, k in enumerate(RESULT)}}
    values = {":provisioned": {"S": PROVISIONED}, ":issuing": {"S": ISSUING}, ":cid": {"S": certificate_id}}
    expression = "SET #s = :issuing"
    if replaces:
        expression += ", #replaces = :replaces"
        names["#replaces"] = REPLACES
        values[":replaces"] = {"S": replaces}
    expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(RESULT)))
    try:
        dynamodb.update_item(
            TableName=table, Key={"ThingName": {"S": serial}}, UpdateExpression=expression,
            ConditionExpression="#s = :provisioned AND CertificateId = :cid AND IssuedCertificateId = :cid",
            ExpressionAttributeNames=names, ExpressionAttributeValues=values)
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True
