"""The device inventory item and everything that routes its changes (pure builders, see docs/design.md).

The item (global table, hash key ``ThingName``) is written by the JITR machine of the region that first saw the
device; every attribute is a string and always present. Each region's pipe reads its own replica's stream and
forwards, through ``pipe_filters(region)``, only the changes that need work in that region onto the device bus,
where ``replicate_rule_pattern`` / ``decommission_rule_pattern`` start the matching state machine with the flat
item built by ``item_input_transformer``.

Routing (per region R):

- replicate: INSERT/MODIFY, Status ACTIVE, no pending rotation, written by another region (OriginRegion != R);
- retire previous certificate: MODIFY, Status ACTIVE, written by R with a PreviousCertificateId (a rotation that
  R's own JITR performed: R's old certificate must be revoked by R's replication machine);
- decommission: MODIFY, Status REVOKED (an operator's change, whatever the origin).

An operator authorising a rotation (setting PendingCertificateId) starts nothing; neither does a JITR write of a
KNOWN device (it changes no value, so DynamoDB emits no stream record).
"""
from __future__ import annotations

import json
from typing import Any

from contract import events
# The item's attributes and states are the contract's (contract/items.py); the builders write them ``inv.<NAME>``.
from contract.items import (ACTIVE, CA_CERTIFICATE_ID, CERTIFICATE_ID, CERTIFICATE_PEM, ORIGIN_REGION,
                            PENDING_CERTIFICATE_ID, PREVIOUS_CERTIFICATE_ID, REGISTERED_AT, REVOKED, STATUS,
                            STATUSES, THING_NAME)
from contract.items import INVENTORY_ATTRIBUTES as ATTRIBUTES
from contract.items import INVENTORY_HASH_KEY as HASH_KEY  # noqa: F401 - re-exported as inv.HASH_KEY

#: Pipe target ``detail_type`` (the pipe's ``source`` is ``<application>.devices``).
DETAIL_TYPE = events.INVENTORY_CHANGE
#: The flat item carries the stream record's event name too.
EVENT_NAME = "EventName"
#: ... and the certificate the item named before this change (``OldImage``; null for an INSERT): the certificate a
#: rotation retired or a concurrent registration in another region lost to this one (docs/design.md, "One owner").
OLD_CERTIFICATE_ID = "OldCertificateId"

MAX_FILTERS = 5
MAX_PATTERN_CHARS = 4096


def _require(name: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string (e.g. 'eu-west-1' / '<application>.devices'), got {value!r}")
    return value


def _s(*values: Any) -> dict[str, list[Any]]:
    return {"S": list(values)}


def pipe_filters(region: str) -> list[dict]:
    """EventBridge Pipes filter patterns (one dict per filter; the component JSON-encodes each) for ``region``'s pipe."""
    _require("region", region)
    filters = [
        {  # a device registered elsewhere (or rotated elsewhere): replicate it here
            "eventName": ["INSERT", "MODIFY"],
            "dynamodb": {"NewImage": {
                STATUS: _s(ACTIVE),
                ORIGIN_REGION: _s({"anything-but": [region]}),
                PENDING_CERTIFICATE_ID: _s(""),
            }},
        },
        {  # this region rotated the device's certificate: retire the previous one here too
            "eventName": ["MODIFY"],
            "dynamodb": {"NewImage": {
                STATUS: _s(ACTIVE),
                ORIGIN_REGION: _s(region),
                PENDING_CERTIFICATE_ID: _s(""),
                PREVIOUS_CERTIFICATE_ID: _s({"anything-but": [""]}),
            }},
        },
        {  # an operator decommissioned the device: every region removes it
            "eventName": ["MODIFY"],
            "dynamodb": {"NewImage": {STATUS: _s(REVOKED)}},
        },
    ]
    assert len(filters) <= MAX_FILTERS
    for pattern in filters:
        if len(json.dumps(pattern)) > MAX_PATTERN_CHARS:
            raise ValueError(f"pipe filter for region {region!r} exceeds {MAX_PATTERN_CHARS} characters")
    return filters


def _bus_pattern(source: str, event_names: list[str], status: str) -> dict:
    return {
        "source": [_require("source", source)],
        "detail-type": [DETAIL_TYPE],
        "detail": {"eventName": event_names, "dynamodb": {"NewImage": {STATUS: _s(status)}}},
    }


def replicate_rule_pattern(source: str) -> dict:
    """Bus rule starting the replication machine: an ACTIVE item inserted or modified (the pipe did the rest)."""
    return _bus_pattern(source, ["INSERT", "MODIFY"], ACTIVE)


def decommission_rule_pattern(source: str) -> dict:
    """Bus rule starting the decommission machine: an item modified to REVOKED."""
    return _bus_pattern(source, ["MODIFY"], REVOKED)


def item_input_transformer() -> tuple[dict, str]:
    """(input_paths, input_template) turning ``detail.dynamodb.NewImage`` into the flat item plus ``EventName`` and
    ``OldCertificateId`` (``OldImage``'s certificate; EventBridge renders a missing path as ``null``).

    Placeholders are unquoted so EventBridge inserts each string JSON-escaped (PEMs contain newlines).
    """
    paths = {name: f"$.detail.dynamodb.NewImage.{name}.S" for name in ATTRIBUTES}
    paths[EVENT_NAME] = "$.detail.eventName"
    paths[OLD_CERTIFICATE_ID] = f"$.detail.dynamodb.OldImage.{CERTIFICATE_ID}.S"
    template = "{" + ", ".join(f'"{name}": <{name}>' for name in paths) + "}"
    return paths, template


def item(*, thing_name: str, certificate_id: str, certificate_pem: str, ca_certificate_id: str, origin_region: str,
         registered_at: str, status: str = ACTIVE, pending_certificate_id: str = "", previous_certificate_id: str = "") -> dict:
    """A complete item in DynamoDB JSON (every attribute present), for tests and tools."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    values = {
        THING_NAME: thing_name, CERTIFICATE_ID: certificate_id, CERTIFICATE_PEM: certificate_pem,
        CA_CERTIFICATE_ID: ca_certificate_id, ORIGIN_REGION: origin_region, STATUS: status, REGISTERED_AT: registered_at,
        PENDING_CERTIFICATE_ID: pending_certificate_id, PREVIOUS_CERTIFICATE_ID: previous_certificate_id,
    }
    return {name: {"S": value} for name, value in values.items()}


def flat_item(dynamodb_item: dict, event_name: str = "INSERT", old_certificate_id: str | None = None) -> dict:
    """What ``item_input_transformer`` yields for a stream record whose NewImage is ``dynamodb_item`` (and whose
    OldImage named ``old_certificate_id``; ``None`` for an INSERT, rendered as JSON null like EventBridge does)."""
    flat: dict[str, Any] = {name: dynamodb_item.get(name, {}).get("S", "") for name in ATTRIBUTES}
    flat[EVENT_NAME] = event_name
    flat[OLD_CERTIFICATE_ID] = old_certificate_id
    return flat
