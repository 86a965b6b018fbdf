"""Fix: aws-sdk task parameters and results use Step Functions' PascalCase, translated through botocore's model.

moto 5.2.5 leaves ``_normalise_parameters``/``_normalise_response`` as stubs, so ``{"ThingName": ...}`` reaches boto3
unrecognised (``parameter_validation`` is off, the member is silently dropped) and results keep the API's casing
(``certificateArn``) and ``datetime`` objects. Step Functions maps PascalCase parameters onto the API's members and
returns PascalCase members with timestamps as strings; this fix does the same with moto's own helpers.
"""
from __future__ import annotations

import datetime
from typing import Any

from ..botocore_models import operation_model
from ..patching import Patch

NAME = "sfn_sdk_shapes"
PATCH = Patch(NAME)


def _timestamps_to_strings(value: Any) -> Any:
    """Recursively replace datetimes by ISO-8601 strings (what the execution history shows)."""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        for key in list(value):
            value[key] = _timestamps_to_strings(value[key])
        return value
    if isinstance(value, list):
        return [_timestamps_to_strings(item) for item in value]
    return value


def _normalise_parameters(self, parameters: dict, boto_service_name: str | None = None, service_action_name: str | None = None) -> None:
    operation = operation_model(self._get_boto_service_name(boto_service_name), self._get_boto_service_action(service_action_name))
    if operation.input_shape is not None:
        self._to_boto_request(parameters, operation.input_shape)


def _normalise_response(self, response: Any, boto_service_name: str | None = None, service_action_name: str | None = None) -> None:
    operation = operation_model(self._get_boto_service_name(boto_service_name), self._get_boto_service_action(service_action_name))
    if operation.output_shape is not None:
        self._from_boto_response(response, operation.output_shape)
    _timestamps_to_strings(response)


def apply() -> None:
    from ..compat.moto.stepfunctions_parser import StateTaskServiceAwsSdk

    PATCH.set(StateTaskServiceAwsSdk, "_normalise_parameters", _normalise_parameters)
    PATCH.set(StateTaskServiceAwsSdk, "_normalise_response", _normalise_response)


def revert() -> None:
    PATCH.undo()
