"""Fix: ``CreateThing`` of an existing name is idempotent as in AWS.

moto 5.2.5 silently replaces the thing (new thingId, attributes lost, version reset). AWS returns the existing
thing when the configuration (type, attributes, billing group) is identical and raises
``ResourceAlreadyExistsException`` when it differs; the JITR and replication machines rely on the first half.
"""
from __future__ import annotations

from typing import Any

from ..patching import Patch

NAME = "iot_create_thing"
PATCH = Patch(NAME)


def apply() -> None:
    from ..compat.moto.iot import IoTBackend, ResourceAlreadyExistsException, ResourceNotFoundException

    original = IoTBackend.create_thing

    def create_thing(self: Any, thing_name: str, thing_type_name: str, attribute_payload: dict[str, Any] | None,
                     billing_group_name: str | None = None) -> Any:
        try:
            existing = self.describe_thing(thing_name)
        except ResourceNotFoundException:
            return original(self, thing_name, thing_type_name, attribute_payload, billing_group_name)
        attributes = (attribute_payload or {}).get("attributes", {}) or {}
        existing_type = existing.thing_type.thing_type_name if existing.thing_type else None
        if (existing_type == (thing_type_name or None) and existing.attributes == attributes
                and existing.billing_group_name == billing_group_name):
            return existing
        raise ResourceAlreadyExistsException(f"Thing {thing_name} already exists with different tags or attributes",
                                             thing_name, existing.arn)

    PATCH.set(IoTBackend, "create_thing", create_thing)


def revert() -> None:
    PATCH.undo()
