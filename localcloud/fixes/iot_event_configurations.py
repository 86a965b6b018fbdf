"""Fix: ``UpdateEventConfigurations`` / ``DescribeEventConfigurations`` work (moto 5.2.5: NotImplementedError).

Event configurations are per account and region; every event type in botocore's ``EventType`` enum starts disabled.
"""
from __future__ import annotations

import datetime
from typing import Any

from ._patching import Ledger
from .botocore_models import service_model

NAME = "iot_event_configurations"
LEDGER = Ledger(NAME)


def _state(backend: Any) -> dict[str, Any]:
    state = getattr(backend, "_localcloud_event_configurations", None)
    if state is None:
        now = datetime.datetime.now(datetime.timezone.utc).timestamp()
        event_types = service_model("iot").shape_for("EventType").enum
        state = {"eventConfigurations": {name: {"Enabled": False} for name in event_types}, "creationDate": now, "lastModifiedDate": now}
        backend._localcloud_event_configurations = state
    return state


def apply() -> None:
    from moto.core.responses import ActionResult, EmptyResult
    from moto.iot.responses import IoTResponse

    def update_event_configurations(self: Any) -> Any:
        state = _state(self.iot_backend)
        valid = set(state["eventConfigurations"])
        for event_type, configuration in (self._get_param("eventConfigurations") or {}).items():
            if event_type not in valid:
                from moto.iot.exceptions import InvalidRequestException

                raise InvalidRequestException(f"Unknown event type {event_type}; valid: {sorted(valid)}")
            state["eventConfigurations"][event_type] = {"Enabled": bool(configuration.get("Enabled", False))}
        state["lastModifiedDate"] = datetime.datetime.now(datetime.timezone.utc).timestamp()
        return EmptyResult()

    def describe_event_configurations(self: Any) -> Any:
        state = _state(self.iot_backend)
        return ActionResult({key: (dict(value) if isinstance(value, dict) else value) for key, value in state.items()})

    LEDGER.set(IoTResponse, "update_event_configurations", update_event_configurations)
    LEDGER.set(IoTResponse, "describe_event_configurations", describe_event_configurations)


def revert() -> None:
    LEDGER.revert()
