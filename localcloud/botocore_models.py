"""Cached access to botocore's service models (the source of truth for API shapes and error names)."""
from __future__ import annotations

from functools import cache

import botocore.session
from botocore.model import OperationModel, ServiceModel
from botocore import xform_name


@cache
def service_model(service: str) -> ServiceModel:
    """The botocore model of ``service`` (boto3 client name, e.g. ``iot``, ``dynamodb``, ``events``)."""
    return botocore.session.get_session().get_service_model(service)


@cache
def operation_model(service: str, action: str) -> OperationModel:
    """The operation of ``service`` named ``action`` in any casing (``createThing``, ``CreateThing``, ``create_thing``)."""
    model = service_model(service)
    wanted = xform_name(action) if not action.islower() else action
    for name in model.operation_names:  # pyright: ignore[reportGeneralTypeIssues]  # botocore's CachedProperty is untyped
        if xform_name(name) == wanted or name.lower() == action.lower():
            return model.operation_model(name)
    raise KeyError(f"{service} has no operation {action!r}; see botocore's {service} service model for valid names")


@cache
def error_codes(service: str) -> frozenset[str]:
    """Every error shape name that ``service`` declares anywhere in its model."""
    model = service_model(service)
    return frozenset(shape.name for shape in model.error_shapes)  # pyright: ignore[reportGeneralTypeIssues]  # as above
