"""The provisioning API's decision: from a parsed request to an HTTP status and a JSON body (pure, clients injected).

Order (each refusal says why and what to do):

1. fresh: the timestamp within ``contract.proofs.MAX_AGE_SECONDS`` (401 ``Stale``);
2. enrolled and authentic, one answer for both (403 ``NotAuthorized``): the signature verifies with the entry's own
   verifying key. A name that is not enrolled is answered exactly like a bad signature, after the same work
   (``authenticity.authentic``), so the API does not tell anyone which serials are enrolled;
3. new: the nonce was not used for another request (409 ``Replayed``); the same signed request again is a retry and
   is decided again like a new one (it can only certify the device's own CSR key);
4. the CSR: its signature, CN = thing name, key type (400 ``BadCsr``);
5. the entry's state: ``provisioned`` answers the same result again when the CSR's key is the certified one (a
   lost response, whatever request asks again) and the inventory (consistent read) names the entry's certificate
   (never a certificate the fleet hook refused, or one since replaced), else 409 ``AlreadyProvisioned`` naming the
   reset command (503 ``RetryLater`` while the inventory item has not replicated here yet);
   ``provisioning`` is 409 ``InProgress`` while the claim is younger than ``CLAIM_TIMEOUT_SECONDS``, after which
   the claim is taken over; an attempt journaled by another region's API is 409 ``InProgress`` naming that region
   (only it can finish or undo it);
6. the claim (conditional on the entry as read: exactly one request wins), journaling the new certificate's id;
7. earlier attempts still journaled are settled first: one that reached its commit point completes the entry (the
   invocation died after the inventory write), any other is undone; what cannot be undone yet (a detach still
   propagating) releases the claim with 503 ``RetryLater``;
8. the closest region from the connection's source address; provisioning and the inventory write (the commit point:
   ``contract.registry.Provisioning.run``); any failure before it undoes the attempt and releases the entry (500
   ``ProvisioningFailed``, 409 ``ThingNameTaken``, 503 ``RetryLater``), keeping in the journal whatever could not be
   removed yet; then the entry is completed.

Every failure therefore leaves either a finished entry, or an entry and a journal that the device's next request
(or ``python -m ops allow-list reset``) settles: nothing strands a device (issue 21).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Mapping

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from contract import allow_list, proofs, registry

from . import authenticity, issuer, nonces
from .geolocation import RegionChooser
from .request import ProvisioningRequest

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    region: str
    inventory_table: str
    allow_list_table: str
    nonce_table: str
    device_policy_name: str
    ca_certificate_id: str
    trust_anchor_pem: str  # the root CA: what devices verify the endpoint with
    device_endpoint: str  # the custom domain devices connect to (every region behind it)
    max_age_seconds: int = proofs.MAX_AGE_SECONDS


@dataclass
class Clients:
    iot: Any
    dynamodb: Any
    signer: issuer.Signer
    chooser: RegionChooser
    clock: Callable[[], float]
    sleep: Callable[[float], None] = time.sleep  # backoff between deletions while detaches propagate


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def refuse(status: int, error: str, message: str) -> Answer:
    return Answer(status, {"error": error, "message": message})


NOT_AUTHORIZED = refuse(
    403, "NotAuthorized", "the request is not signed by the enrolled key of a thing on the allow-list: check --thing "
    "and --key (the device's own request-signing key, e.g. DIR/devices/NAME.provisioning.key), and that the device "
    "is enrolled (`python -m ops allow-list import REGION FILE`)")


def key_digest(public_key: Any) -> str:
    """SHA-256 (hex) of a public key's SubjectPublicKeyInfo: which key a certificate certifies."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def provision(request: ProvisioningRequest, settings: Settings, clients: Clients) -> Answer:
    """The whole decision for one request (see the module docstring for the order)."""
    now = clients.clock()
    try:
        authenticity.check_fresh(request.timestamp, now, settings.max_age_seconds)
    except authenticity.Stale as error:
        return refuse(401, "Stale", str(error))
    ddb = clients.dynamodb
    entry = allow_list.read(ddb, settings.allow_list_table, request.thing_name)
    if not authenticity.authentic(entry.get("VerifyingKey") if entry else None, request.message, request.signature):
        return NOT_AUTHORIZED
    assert entry is not None
    seen = nonces.remember(ddb, settings.nonce_table, request.thing_name, request.nonce, request.digest, int(now),
                           2 * settings.max_age_seconds)
    if seen == "replay":
        return refuse(409, "Replayed", "this nonce was already used for another request: sign a new request with a "
                                       "new nonce")
    try:
        public_key = issuer.check_csr(request.csr_pem, request.thing_name)
    except issuer.IssueError as error:
        return refuse(400, "BadCsr", str(error))
    return _Attempt(request, settings, clients, now, public_key).decide(entry)


@dataclass
class _Attempt:
    """One authenticated request's way through the entry's states (module docstring, steps 5 to 8)."""

    request: ProvisioningRequest
    settings: Settings
    clients: Clients
    now: float
    public_key: Any

    @property
    def thing(self) -> str:
        return self.request.thing_name

    def decide(self, entry: Mapping[str, Any]) -> Answer:
        settings, ddb, table = self.settings, self.clients.dynamodb, self.settings.allow_list_table
        status = entry.get("Status")
        if status == allow_list.PROVISIONED:
            return self._provisioned(entry)
        if status not in (allow_list.UNPROVISIONED, allow_list.PROVISIONING):
            return refuse(403, "NotEnrolled", f"the allow-list entry of {self.thing!r} is {status!r}, not "
                                              "unprovisioned: ask the operator")
        if allow_list.claim_is_fresh(entry, self.now):
            return self._in_progress()
        elsewhere = allow_list.unfinished_region(entry)
        if elsewhere and elsewhere != settings.region:
            return refuse(409, "InProgress", f"an attempt through {elsewhere} is unfinished and only {elsewhere} can "
                          f"finish or undo it: retry (your requests normally reach it), or an operator runs "
                          f"`python -m ops allow-list reset {elsewhere} {self.thing} --yes`")

        certificate_pem = issuer.issue(self.clients.signer, self.thing, self.public_key)
        cid = issuer.certificate_id(certificate_pem)
        token = self.request.nonce
        claimed = allow_list.claim(ddb, table, self.thing, entry, token, settings.region, int(self.now), cid)
        if claimed is None:  # another request moved the entry since it was read
            fresh = allow_list.read(ddb, table, self.thing) or {}
            return self._provisioned(fresh) if fresh.get("Status") == allow_list.PROVISIONED else self._in_progress()

        work = self._work()
        replaces = claimed.get(allow_list.REPLACES) or None
        for earlier in sorted(set(allow_list.attempts(claimed)) - {cid}):
            committed = work.committed(self.thing, earlier)
            if committed is not None:  # the invocation that made it died after its commit: finish its entry
                done = allow_list.complete(ddb, table, self.thing, token, self._result_of(committed))
                return self._provisioned(done)
            try:
                work.clean(self.thing, earlier, replaces)
            except registry.CleanupPending as pending:
                allow_list.release(ddb, table, self.thing, token, forget=[cid])
                LOG.warning("an earlier attempt for %s cannot be undone yet: %s", self.thing, pending)
                return refuse(503, "RetryLater", f"an earlier attempt is still being undone ({pending}): retry in a "
                                                 "few seconds")
            allow_list.forget(ddb, table, self.thing, token, [earlier])

        at = dt.datetime.fromtimestamp(self.now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        choice = self.clients.chooser.choose(self.request.source_ip)
        try:
            item = work.run(self.thing, certificate_pem, cid, at, replaces)
        except Exception as error:  # noqa: BLE001 - whatever failed, the attempt is undone and answered
            return self._undo(work, cid, replaces, error)
        result = {"CertificateId": item["CertificateId"], "CertificatePem": certificate_pem,
                  "PublicKeyDigest": key_digest(self.public_key), "KeyOrigin": "csr", "Region": choice.region,
                  "ProvisionedIn": settings.region, "ProvisionedAt": at}
        done = allow_list.complete(ddb, table, self.thing, token, result)
        return Answer(200, self._body(done))

    def _work(self) -> registry.Provisioning:
        s = self.settings
        return registry.Provisioning(self.clients.iot, self.clients.dynamodb, s.inventory_table,
                                     s.device_policy_name, s.region, s.ca_certificate_id,
                                     self.clients.signer.certificate_pem, sleep=self.clients.sleep)

    def _undo(self, work: registry.Provisioning, cid: str, replaces: str | None, error: Exception) -> Answer:
        """Undo this attempt and release the entry; an attempt not fully undone stays journaled for the next."""
        try:
            work.clean(self.thing, cid, replaces)
            forget, left = [cid], ""
        except Exception as cleanup:  # noqa: BLE001 - CleanupPending, or AWS refusing: the next request carries on
            forget, left = [], f" ({cleanup}; the next request finishes removing it)"
        allow_list.release(self.clients.dynamodb, self.settings.allow_list_table, self.thing, self.request.nonce,
                           forget=forget)
        LOG.warning("provisioning %s failed and was undone: %r%s", self.thing, error, left)
        if isinstance(error, registry.ThingNameTaken):
            return refuse(409, "ThingNameTaken", f"{error}; nothing of this request was kept{left}")
        if isinstance(error, registry.Busy) or left:
            return refuse(503, "RetryLater", f"provisioning did not finish: retry in a few seconds{left}")
        return refuse(500, "ProvisioningFailed", "provisioning failed; nothing was kept and the device may retry "
                                                 "with a new request")

    def _in_progress(self) -> Answer:
        return refuse(409, "InProgress", "another request is provisioning this device: retry in a few seconds (a "
                      f"claim older than {allow_list.CLAIM_TIMEOUT_SECONDS} s is taken over)")

    def _provisioned(self, entry: Mapping[str, Any]) -> Answer:
        """A provisioned entry: the same answer again for the certified key (the CSR proves the device holds it),
        only while the inventory (consistent read) names that certificate: one it does not name was refused or has
        been replaced, and would never connect. No item yet: the entry's replica is ahead of the inventory's (two
        global tables replicate independently), so retry."""
        if entry.get("PublicKeyDigest") == key_digest(self.public_key) and entry.get("CertificatePem"):
            if self._work().committed(self.thing, str(entry.get("CertificateId") or "")) is not None:
                return Answer(200, {**self._body(entry), "repeat": True})
            if not self._inventory_has_item():
                return refuse(503, "RetryLater", "this device's provisioning has not reached this region's inventory "
                                                 "yet: retry in a few seconds")
        return refuse(409, "AlreadyProvisioned", f"{self.thing!r} is already provisioned for another key. If the "
                      "device lost its key, an operator runs "
                      f"`python -m ops allow-list reset {self.settings.region} {self.thing} --yes`, then the device "
                      "asks again with its new key (the old certificate is retired everywhere)")

    def _inventory_has_item(self) -> bool:
        return bool(self.clients.dynamodb.get_item(TableName=self.settings.inventory_table,
                                                   Key={"ThingName": {"S": self.thing}}, ConsistentRead=True).get("Item"))

    def _result_of(self, item: Mapping[str, str]) -> dict[str, str]:
        """The entry's result for an inventory item an earlier, dead invocation committed."""
        certificate = x509.load_pem_x509_certificate(item["CertificatePem"].encode())
        return {"CertificateId": item["CertificateId"], "CertificatePem": item["CertificatePem"],
                "PublicKeyDigest": key_digest(certificate.public_key()), "KeyOrigin": "csr",
                "Region": self.clients.chooser.choose(self.request.source_ip).region,
                "ProvisionedIn": item.get("OriginRegion", self.settings.region),
                "ProvisionedAt": item.get("RegisteredAt", "")}

    def _body(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        s = self.settings
        return {"thingName": self.thing, "endpoint": s.device_endpoint, "region": entry["Region"],
                "provisionedIn": entry["ProvisionedIn"], "certificateId": entry["CertificateId"],
                "certificatePem": entry["CertificatePem"],
                "caCertificatesPem": self.clients.signer.certificate_pem + s.trust_anchor_pem}
