"""Drift between one inventory item and what a region's IoT registry holds for it (pure).

The inventory replica of a region is the truth; the registry should hold, for an ACTIVE item, a thing
of that name with exactly the item's certificate attached, the certificate ACTIVE with the device
policy attached, and (on things our machines created) the attribute ``certificateId`` equal to the
item's certificate id; for a REVOKED item, no thing and no ACTIVE certificate. Anything else is drift.
Every drift is repairable by starting the region's replicate (ACTIVE) or decommission (REVOKED) machine,
which converge the thing to the item, except a REVOKED certificate under an ACTIVE item: revocation is
final in AWS IoT, so that device needs a new certificate (rotation).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from builders import inventory as inv

#: Attribute our machines put on things they create: the owner certificate's id (may be absent on old things).
CERTIFICATE_ID_ATTRIBUTE = "certificateId"


class Code(str, Enum):
    THING_MISSING = "thing missing"
    CERTIFICATE_MISSING = "certificate missing"
    CERTIFICATE_REVOKED = "certificate revoked"
    CERTIFICATE_NOT_ACTIVE = "certificate not active"
    CERTIFICATE_NOT_ATTACHED = "certificate not attached to thing"
    POLICY_NOT_ATTACHED = "device policy not attached"
    OTHER_PRINCIPALS = "other principals attached"
    ATTRIBUTE_MISMATCH = "certificateId attribute differs"
    THING_STILL_EXISTS = "thing still exists"
    CERTIFICATE_STILL_ACTIVE = "certificate still active"
    UNKNOWN_STATUS = "unknown item status"
    NO_INVENTORY_ITEM = "no inventory item"


#: Drift no machine can repair: report it and what the operator must do instead.
UNREPAIRABLE = {
    Code.CERTIFICATE_REVOKED: "revocation is final: issue the device a new certificate (rotation)",
    Code.UNKNOWN_STATUS: "fix the item's Status (ACTIVE or REVOKED) in the inventory",
    Code.NO_INVENTORY_ITEM: "report only: delete the thing by hand if it is not a device of ours",
}


@dataclass(frozen=True)
class Drift:
    code: Code
    detail: str = ""

    @property
    def repairable(self) -> bool:
        return self.code not in UNREPAIRABLE

    def __str__(self) -> str:
        return f"{self.code.value}: {self.detail}" if self.detail else self.code.value


@dataclass(frozen=True)
class ThingSnapshot:
    """A thing as the registry holds it; ``exists`` False when there is none of that name."""

    name: str
    exists: bool
    attributes: Mapping[str, str] = field(default_factory=dict)
    principals: tuple[str, ...] = ()  # principal ARNs attached to the thing


@dataclass(frozen=True)
class CertificateSnapshot:
    """A certificate as the registry holds it; ``exists`` False when the region does not know the id."""

    certificate_id: str
    exists: bool
    status: str = ""
    arn: str = ""
    policies: tuple[str, ...] = ()  # policy names attached to the certificate


def certificate_id_of(principal_arn: str) -> str:
    """The certificate id of a ``...:cert/<id>`` principal ARN ("" for other principals)."""
    return principal_arn.rsplit("/", 1)[-1] if ":cert/" in principal_arn else ""


def item_drift(item: Mapping[str, str], thing: ThingSnapshot, certificate: CertificateSnapshot,
               device_policy: str) -> list[Drift]:
    """Drift of one flat item (``builders.inventory.flat_item``) against the registry's thing and certificate."""
    status = item.get(inv.STATUS, "")
    certificate_id = item.get(inv.CERTIFICATE_ID, "")
    if status == inv.REVOKED:
        found = []
        if thing.exists:
            found.append(Drift(Code.THING_STILL_EXISTS, thing.name))
        if certificate.exists and certificate.status == "ACTIVE":
            found.append(Drift(Code.CERTIFICATE_STILL_ACTIVE, certificate_id))
        return found
    if status != inv.ACTIVE:
        return [Drift(Code.UNKNOWN_STATUS, repr(status))]

    found = []
    if not thing.exists:
        found.append(Drift(Code.THING_MISSING, thing.name))
    if not certificate.exists:
        found.append(Drift(Code.CERTIFICATE_MISSING, certificate_id))
    else:
        if certificate.status == "REVOKED":
            found.append(Drift(Code.CERTIFICATE_REVOKED, certificate_id))
        elif certificate.status != "ACTIVE":
            found.append(Drift(Code.CERTIFICATE_NOT_ACTIVE, certificate.status))
        if device_policy not in certificate.policies:
            found.append(Drift(Code.POLICY_NOT_ATTACHED, device_policy))
    if thing.exists:
        attached = {certificate_id_of(p) for p in thing.principals}
        if certificate_id not in attached:
            found.append(Drift(Code.CERTIFICATE_NOT_ATTACHED, certificate_id))
        others = sorted(p for p in thing.principals if certificate_id_of(p) != certificate_id)
        if others:
            found.append(Drift(Code.OTHER_PRINCIPALS, ", ".join(others)))
        recorded = thing.attributes.get(CERTIFICATE_ID_ATTRIBUTE)
        if recorded is not None and recorded != certificate_id:
            found.append(Drift(Code.ATTRIBUTE_MISMATCH, f"thing says {recorded}, item says {certificate_id}"))
    return found


def orphan_things(thing_names: Iterable[str], inventory_names: Iterable[str]) -> list[str]:
    """Things in the registry without an inventory item (sorted)."""
    known = set(inventory_names)
    return sorted(name for name in thing_names if name not in known)
