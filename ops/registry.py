"""Read a region's IoT registry into ``ops.drift`` snapshots; every list call is paginated."""

from __future__ import annotations

from typing import Any

from ops.clients import error_code
from ops.drift import CertificateSnapshot, ThingSnapshot

NOT_FOUND = "ResourceNotFoundException"


def things(iot: Any) -> dict[str, dict[str, str]]:
    """Every thing of the region: name -> attributes (ListThings, all pages)."""
    found: dict[str, dict[str, str]] = {}
    for page in iot.get_paginator("list_things").paginate():
        for thing in page.get("things", []):
            found[thing["thingName"]] = dict(thing.get("attributes") or {})
    return found


def thing(iot: Any, name: str, attributes: dict[str, str] | None) -> ThingSnapshot:
    """The thing ``name`` with its principals; ``attributes`` None means ListThings did not list it."""
    if attributes is None:
        return ThingSnapshot(name, exists=False)
    principals: list[str] = []
    try:
        for page in iot.get_paginator("list_thing_principals").paginate(thingName=name):
            principals.extend(page.get("principals", []))
    except Exception as error:
        if error_code(error) == NOT_FOUND:  # deleted since it was listed
            return ThingSnapshot(name, exists=False)
        raise
    return ThingSnapshot(name, True, attributes, tuple(sorted(principals)))


def certificate(iot: Any, certificate_id: str, *, with_policies: bool = True) -> CertificateSnapshot:
    """The certificate ``certificate_id`` with the policies attached to it (ListAttachedPolicies, all pages)."""
    if not certificate_id:
        return CertificateSnapshot(certificate_id, exists=False)
    try:
        description = iot.describe_certificate(certificateId=certificate_id)["certificateDescription"]
    except Exception as error:
        if error_code(error) in (NOT_FOUND, "InvalidRequestException"):
            return CertificateSnapshot(certificate_id, exists=False)
        raise
    arn = description["certificateArn"]
    policies: list[str] = []
    if with_policies:
        for page in iot.get_paginator("list_attached_policies").paginate(target=arn):
            policies.extend(p["policyName"] for p in page.get("policies", []))
    return CertificateSnapshot(certificate_id, True, description.get("status", ""), arn, tuple(sorted(policies)))
