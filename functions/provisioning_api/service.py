"""The provisioning API's decision: from a parsed request to an HTTP status and a JSON body (pure, clients injected).

Order (each refusal says why and what to do):

1. fresh: the timestamp within ``MAX_AGE_SECONDS`` (401 ``Stale``);
2. enrolled: an allow-list entry exists (403 ``NotEnrolled``);
3. authentic: the signature verifies with the entry's own verifying key (401 ``BadSignature``);
4. new: the nonce was not used for another request (409 ``Replayed``); the same signed request again is a retry;
5. the entry's state: ``provisioned`` answers the same result again when the request certifies the same key
   through a CSR (a retry after a lost response), else 409 ``AlreadyProvisioned``; ``provisioning`` is 409
   ``InProgress`` (another request holds the claim);
6. the certificate: from the CSR (preferred: the private key never travels) or a generated key pair;
7. the closest region from the connection's source address;
8. the claim (conditional: exactly one request wins), provisioning and the inventory write (the commit point); any
   failure before the commit rolls back what was created and returns the entry to ``unprovisioned`` (500
   ``ProvisioningFailed``, or 409 ``ThingNameTaken``); then the entry is completed.

A generated private key is returned once and stored nowhere, so a lost response to a request without a CSR cannot
be answered again: the API says so and prefers CSRs.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Callable

from cryptography.hazmat.primitives import serialization

try:  # a package in tests and in the Lambda zip
    from . import allow_list, authenticity, issuer, nonces, provisioner
    from .geolocation import RegionChooser
    from .request import ProvisioningRequest, csr_digest
except ImportError:  # pragma: no cover
    import allow_list, authenticity, issuer, nonces, provisioner  # type: ignore[no-redef]  # noqa: E401
    from geolocation import RegionChooser  # type: ignore[no-redef]
    from request import ProvisioningRequest, csr_digest  # type: ignore[no-redef]

LOG = logging.getLogger(__name__)
CSR_ADVICE = ("send a CSR (csr): the private key then never leaves the device, and a retry after a lost response "
              "gets the same certificate")


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
    max_age_seconds: int = authenticity.MAX_AGE_SECONDS


@dataclass
class Clients:
    iot: Any
    dynamodb: Any
    signer: issuer.Signer
    chooser: RegionChooser
    clock: Callable[[], float]


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def refuse(status: int, error: str, message: str) -> Answer:
    return Answer(status, {"error": error, "message": message})


def key_digest(public_key: Any) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def provision(request: ProvisioningRequest, settings: Settings, clients: Clients) -> Answer:
    now = clients.clock()
    try:
        authenticity.check_fresh(request.timestamp, now, settings.max_age_seconds)
    except authenticity.Stale as error:
        return refuse(401, "Stale", str(error))
    ddb = clients.dynamodb
    entry = allow_list.read(ddb, settings.allow_list_table, request.thing_name)
    if entry is None or not entry.get("VerifyingKey"):
        return refuse(403, "NotEnrolled", f"{request.thing_name!r} is not on the allow-list: enrol it with "
                                          "`python -m ops allow-list import`")
    try:
        authenticity.verify(entry["VerifyingKey"], request.message, request.signature)
    except authenticity.NotAuthentic as error:
        return refuse(401, "BadSignature", str(error))
    seen = nonces.remember(ddb, settings.nonce_table, request.thing_name, request.nonce, request.digest, int(now),
                           2 * settings.max_age_seconds)
    if seen == "replay":
        return refuse(409, "Replayed", "this nonce was already used for another request: sign a new request with a "
                                       "new nonce")

    public_key, private_key_pem = None, None
    if request.csr_pem:
        try:
            public_key = issuer.check_csr(request.csr_pem, request.thing_name)
        except issuer.IssueError as error:
            return refuse(400, "BadCsr", str(error))
    earlier = _already(entry, request, public_key, settings, clients.signer.certificate_pem)
    if earlier is not None:
        return earlier
    if seen == "retry":
        return refuse(409, "Replayed", "this signed request was already answered or abandoned: sign a new request")

    if public_key is None:
        key, private_key_pem = issuer.generate_key()
        public_key = key.public_key()
    certificate_pem = issuer.issue(clients.signer, request.thing_name, public_key)
    choice = clients.chooser.choose(request.source_ip)

    if not allow_list.claim(ddb, settings.allow_list_table, request.thing_name, request.nonce, settings.region,
                            int(now)):
        fresh = allow_list.read(ddb, settings.allow_list_table, request.thing_name) or {}
        return _already(fresh, request, public_key if request.csr_pem else None, settings,
                       clients.signer.certificate_pem) or refuse(
            409, "InProgress", "another request is provisioning this device; retry in a few seconds")

    at = dt.datetime.fromtimestamp(now, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    ca_pem = clients.signer.certificate_pem
    work = provisioner.Provisioning(clients.iot, ddb, settings.inventory_table, settings.device_policy_name,
                                    settings.region, settings.ca_certificate_id, ca_pem)
    try:
        item = work.run(request.thing_name, certificate_pem, at)
    except Exception as error:
        leftover = _undo(work, settings, request)
        LOG.warning("provisioning %s failed and was rolled back: %r %s", request.thing_name, error, leftover)
        if isinstance(error, provisioner.ThingNameTaken):
            return refuse(409, "ThingNameTaken", f"{error}; nothing was kept")
        return refuse(500, "ProvisioningFailed", "provisioning failed; nothing was kept and the device may retry "
                                                 f"with a new request{leftover}")

    result = {"CertificateId": item["CertificateId"], "CertificatePem": certificate_pem,
              "PublicKeyDigest": key_digest(public_key), "KeyOrigin": "csr" if request.csr_pem else "generated",
              "Region": choice.region, "ProvisionedIn": settings.region, "ProvisionedAt": at}
    allow_list.complete(ddb, settings.allow_list_table, request.thing_name, request.nonce, result)
    return Answer(200, _body(request.thing_name, {**entry, **result}, settings, ca_pem, private_key_pem))


def _undo(work: provisioner.Provisioning, settings: Settings, request: ProvisioningRequest) -> str:
    leftover = ""
    try:
        work.rollback()
    except provisioner.RollbackIncomplete as incomplete:
        leftover = f" ({incomplete})"
    allow_list.release(work.dynamodb, settings.allow_list_table, request.thing_name, request.nonce)
    return leftover


def _already(entry: dict[str, str], request: ProvisioningRequest, csr_key: Any, settings: Settings,
             ca_pem: str) -> Answer | None:
    """The answer for an entry that is not ``unprovisioned``, or None when it is."""
    status = entry.get("Status")
    if status == allow_list.PROVISIONED:
        if csr_key is not None and entry.get("KeyOrigin") == "csr" and entry.get("PublicKeyDigest") == key_digest(csr_key):
            return Answer(200, {**_body(request.thing_name, entry, settings, ca_pem, None), "repeat": True})
        return refuse(409, "AlreadyProvisioned", f"{request.thing_name!r} is already provisioned; a generated key is "
                                                 "returned only once (" + CSR_ADVICE + ")")
    if status == allow_list.PROVISIONING:
        return refuse(409, "InProgress", "another request is provisioning this device; retry in a few seconds")
    if status != allow_list.UNPROVISIONED:
        return refuse(403, "NotEnrolled", f"the allow-list entry of {request.thing_name!r} is {status!r}, not "
                                          "unprovisioned")
    return None


def _body(thing: str, entry: dict[str, str], settings: Settings, ca_pem: str,
          private_key_pem: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "thingName": thing, "endpoint": settings.device_endpoint, "region": entry["Region"],
        "provisionedIn": entry["ProvisionedIn"], "certificateId": entry["CertificateId"],
        "certificatePem": entry["CertificatePem"], "caCertificatesPem": ca_pem + settings.trust_anchor_pem,
    }
    if private_key_pem:
        body["privateKeyPem"] = private_key_pem
        body["advice"] = "this key is returned once and stored nowhere: keep it; next time " + CSR_ADVICE
    return body
