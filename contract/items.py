"""The DynamoDB items more than one writer or reader shares: their attribute names, states and conditions.

Every attribute here is read or written by more than one of: the certificate inspector (JITR), the JITR / JITP /
replicate / decommission state machines (``builders/asl``), the provisioning API, fleet provisioning's hook, the
components that create the tables (``components/``), ``ops`` and the local cloud. DynamoDB attribute names are case
sensitive and an item with a misspelt attribute is still written, so a name restated in two places fails silently.
The allow-list entry has its own module (``contract/allow_list.py``).

The device inventory (global table ``<application>-device-inventory``, hash key ``ThingName``)
    One item per thing name, every attribute a string and always present (docs/design.md, "One owner per thing
    name"). Written by the region that first saw the device, with one conditional UpdateItem, the commit point of
    every way in (:data:`CLAIM_EXPRESSION` under :data:`CLAIM_CONDITIONS`): the inspector (``functions/
    certificate_inspector/claim.py``), the JITP recorder machine (``builders/asl/provisioned.py``), the provisioning
    API and fleet provisioning's hook (:data:`REPLACE_CONDITION` after ``ops allow-list reset``). Routed by
    ``builders/inventory.py``; ``Status`` is ``ACTIVE`` or ``REVOKED`` (an operator's decommission).

The thing's owner attribute
    :data:`OWNER_ATTRIBUTE`: the thing attribute naming the certificate that owns the thing: JITR and the replicate
    machine (``builders/asl``), the JITP and fleet templates (``builders/provisioning.py``, ``builders/fleet.py``),
    the provisioning API (``contract/registry.py``) and ``ops reconcile`` write and compare it.

The registration lease (regional table ``<application>-registration-leases``, hash key ``CertificateId``)
    The inspector takes it (``functions/certificate_inspector/lease.py``), the JITR machine releases it
    (``builders.asl.jitr.release_lease``), ``components/registration.py`` creates the table with ``ExpiresAt`` as
    its TTL attribute.

The provisioning API's nonces (regional table ``<application>-provisioning-nonces``, hash key ``Key``)
    Written by ``functions/provisioning_api/nonces.py``, the table made by ``components/provisioning_api.py`` with
    ``ExpiresAt`` as its TTL attribute.

TTL attributes hold epoch seconds as a Number, and DynamoDB deletes expired items only eventually ("typically within
a few days", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html): every reader
checks the expiry itself.
"""
from __future__ import annotations

# ---- the device inventory ------------------------------------------------------------------------------------
THING_NAME = "ThingName"
CERTIFICATE_ID = "CertificateId"
CERTIFICATE_PEM = "CertificatePem"
CA_CERTIFICATE_ID = "CaCertificateId"
ORIGIN_REGION = "OriginRegion"
STATUS = "Status"
REGISTERED_AT = "RegisteredAt"
PENDING_CERTIFICATE_ID = "PendingCertificateId"
PREVIOUS_CERTIFICATE_ID = "PreviousCertificateId"

#: Every attribute of the inventory item, in contract order (all DynamoDB strings, always present).
INVENTORY_ATTRIBUTES: tuple[str, ...] = (
    THING_NAME, CERTIFICATE_ID, CERTIFICATE_PEM, CA_CERTIFICATE_ID, ORIGIN_REGION, STATUS, REGISTERED_AT,
    PENDING_CERTIFICATE_ID, PREVIOUS_CERTIFICATE_ID,
)
INVENTORY_HASH_KEY = THING_NAME
ACTIVE = "ACTIVE"
REVOKED = "REVOKED"
STATUSES = (ACTIVE, REVOKED)

#: The claim of a thing name for a certificate (UpdateItem), with ``#status`` = ``Status`` and the values ``:cid``,
#: ``:pem``, ``:ca``, ``:origin``, ``:at``, ``:pending``, ``:previous``, ``:active`` (all strings).
CLAIM_EXPRESSION = (
    "SET CertificateId = :cid, CertificatePem = :pem, CaCertificateId = :ca, OriginRegion = :origin, "
    "#status = :active, RegisteredAt = :at, PendingCertificateId = :pending, PreviousCertificateId = :previous"
)
#: The claim's condition per verdict: NEW only if no item exists (of two certificates claiming one name in a region
#: exactly one wins); ROTATION only if the item is ACTIVE and still authorises this certificate as pending.
CLAIM_CONDITIONS = {
    "NEW": "attribute_not_exists(ThingName)",
    "ROTATION": "#status = :active AND PendingCertificateId = :cid",
}
#: NEW, or the replacement ``ops allow-list reset`` authorised (``:replaces`` = the certificate the item must still
#: name): the provisioning API and fleet provisioning's hook take the thing name over from it.
REPLACE_CONDITION = f"{CLAIM_CONDITIONS['NEW']} OR (#status = :active AND CertificateId = :replaces)"
#: ``ExpressionAttributeNames`` of every claim (``Status`` is a DynamoDB reserved word).
CLAIM_NAMES = {"#status": STATUS}

# ---- the thing -----------------------------------------------------------------------------------------------
#: The thing attribute naming the certificate that owns the thing (docs/design.md, "One owner per thing name").
OWNER_ATTRIBUTE = "certificateId"

# ---- the registration lease ----------------------------------------------------------------------------------
LEASE_KEY = CERTIFICATE_ID
LEASE_OWNER = "Owner"  # the JITR execution (its Step Functions retries take the same lease again)
LEASE_EXPIRES = "ExpiresAt"  # epoch seconds; also the table's TTL attribute
#: Longer than one throttled step can keep a holder busy (``THROTTLING_RETRY``: about 17 minutes), so a duplicate
#: never overtakes a holder that is still retrying; short enough that a device whose holder vanished without
#: releasing (it cannot: every failure path releases) would still onboard within the hour.
LEASE_SECONDS = 20 * 60
#: Taking the lease (PutItem), with ``#owner`` = ``Owner``, ``:now`` (N) and ``:owner`` (S): free, expired, or ours.
LEASE_CONDITION = "attribute_not_exists(CertificateId) OR ExpiresAt < :now OR #owner = :owner"

# ---- the provisioning API's nonces ---------------------------------------------------------------------------
NONCE_KEY = "Key"  # ``<thing name>#<nonce>``
NONCE_REQUEST_DIGEST = "RequestDigest"
NONCE_EXPIRES = "ExpiresAt"  # epoch seconds; also the table's TTL attribute
