"""Fix: ``UpdateEventConfigurations`` / ``DescribeEventConfigurations`` work (moto 5.2.5: NotImplementedError).

Event configurations are per account and region; every event type in botocore's ``EventType`` enum starts disabled.
"""
from __future__ import annotations

import datetime
from typing import Any

from ..botocore_models import service_model
from ..patching import Patch

NAME = "iot_event_configurations"
PATCH = Patch(NAME)


def _state(backend: Any) -> dict[str, Any]:
    state = getattr(backend, "_localcloud_event_configurations", None)
    if state is None:
        now = datetime.datetime.now(datetime.UTC).timestamp()
        event_types = service_model("iot").shape_for("EventType").enum
        state = {"eventConfigurations": {name: {"Enabled": False} for name in event_types}, "creationDate": now, "lastModifiedDate": now}
        backend._localcloud_event_configurations = state
    return state


def apply() -> None:
    from ..compat.moto.core import ActionResult, EmptyResult
    from ..compat.moto.iot import InvalidRequestException, IoTResponse

    def update_event_configurations(self: Any) -> Any:
        state = _state(self.iot_backend)
        valid = set(state["eventConfigurations"])
        for event_type, configuration in (self._get_param("eventConfigurations") or {}).items():
            if event_type not in valid:
                raise InvalidRequestException(f"Unknown event type {event_type}; valid: {sorted(valid)}")
            state["eventConfigurations"][event_type] = {"Enabled": bool(configuration.get("Enabled", False))}
        state["lastModifiedDate"] = datetime.datetime.now(datetime.UTC).timestamp()
        return EmptyResult()

    def describe_event_configurations(self: Any) -> Any:
        state = _state(self.iot_backend)
        return ActionResult({key: (dict(value) if isinstance(value, dict) else value) for key, value in state.items()})

    PATCH.set(IoTResponse, "update_event_configurations", update_event_configurations)
    PATCH.set(IoTResponse, "describe_event_configurations", describe_event_configurations)


def revert() -> None:
    PATCH.undo()
