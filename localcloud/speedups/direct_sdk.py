"""The SDK calls a device costs reach moto's response handler directly, not through an HTTP-shaped round trip.

Under ``mock_aws`` a boto3 call goes: botocore validates and serializes the parameters, builds and
signs an ``AWSPreparedRequest``, moto's stubber matches its URL against every backend's patterns,
builds a werkzeug ``Request``, and the service's response class re-parses URL, headers and body
(``setup_class``) before its method runs, serializes the result, and botocore parses it back.
Measured on onboarding (``python -m localcloud bench``), the request half of that (signing,
URL matching, werkzeug, ``setup_class``) is about a third of all CPU.

``install()`` registers a botocore ``before-call`` handler (the hook ``botocore.stub.Stubber``
uses to answer calls) for the operations in :data:`OPERATIONS`. For those it:

1. records the call with :mod:`localcloud.interception` (recorder, observers such as the
   cross-region meter) exactly as the stubber path does;
2. fills a fresh moto response object from the request botocore has already serialized, the way
   ``setup_class`` would for it (body, headers with the same ``Credential`` scope, query string,
   path and URI labels, region, account, parsed parameters where moto parses them itself);
3. runs moto's own ``call_action``: the same backend code, validation, serializer and errors;
4. parses the answer with botocore's own parser for the operation, so the caller gets the same
   dict, timestamps, ``ResponseMetadata`` and modelled exception classes as before.

A call takes the usual path when moto's stubber is off, the client has another endpoint than
AWS's, the operation is not listed, or a fault is armed for it in ``interception`` (so injected
errors and botocore's retry loop behave exactly as they always did). A call an ``interception`` gate
refuses (the storm's throttle) gets the same modelled error as on the stubber path, answered here. ``uninstall()`` removes
the handler. Clients created before ``install()`` keep the usual path (botocore copies its
built-in handlers when a client is created).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from localcloud import interception
from localcloud.compat.moto import internal_module
from localcloud.patching import Patch

NAME = "direct_sdk"
PATCH = Patch(NAME, kind="speed-up")

# (botocore service name, operation) -> moto response class; the calls onboarding makes per device.
_RESPONSE_CLASSES = {
    "iot": ("moto.iot.responses", "IoTResponse"),
    "dynamodb": ("moto.dynamodb.responses", "DynamoHandler"),
    "lambda": ("moto.awslambda.responses", "LambdaResponse"),
}
OPERATIONS: frozenset[tuple[str, str]] = frozenset({
    ("iot", "AttachPolicy"),
    ("iot", "AttachThingPrincipal"),
    ("iot", "CreateThing"),
    ("iot", "DescribeCertificate"),
    ("iot", "DescribeThing"),
    ("iot", "RegisterCertificate"),
    ("iot", "UpdateCertificate"),
    ("iot", "DetachPolicy"),
    ("iot", "DetachThingPrincipal"),
    ("iot", "DeleteThing"),
    ("iot", "DeleteCertificate"),
    ("dynamodb", "GetItem"),
    ("dynamodb", "UpdateItem"),
    ("dynamodb", "PutItem"),
    ("dynamodb", "DeleteItem"),
    ("lambda", "Invoke"),
})
_AWS_HOST = re.compile(r"[a-z0-9-]+\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com")  # fullmatch
_EVENT = "before-call"
_CLASSES: dict[str, type] = {}


class _RequestView:
    """What ``get_region_from_url`` reads of a request: its headers."""

    __slots__ = ("headers",)

    def __init__(self, headers: Any) -> None:
        self.headers = headers


def _response_class(service: str) -> type:
    found = _CLASSES.get(service)
    if found is None:
        module_name, class_name = _RESPONSE_CLASSES[service]
        found = _CLASSES[service] = getattr(internal_module(module_name), class_name)
    return found


def _authorization(request_signer: Any, region: str, service: str) -> str | None:
    """The ``Authorization`` header botocore's signer would send, with the all-zero signature moto ignores."""
    credentials = getattr(request_signer, "_credentials", None)
    if credentials is None:
        return None
    from botocore.auth import SIGV4_TIMESTAMP, get_current_datetime

    day = get_current_datetime().strftime(SIGV4_TIMESTAMP)[:8]
    signing_name = getattr(request_signer, "_signing_name", service)
    return (f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{day}/{region}/{signing_name}/aws4_request, "
            f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}")


def _uri_match(operation_model: Any, api_params: dict[str, Any]) -> dict[str, Any]:
    """The URI labels moto's router would extract, from the parameters botocore placed in the path."""
    shape = operation_model.input_shape
    if shape is None:
        return {}
    labels = {}
    for member_name, member in shape.members.items():
        if member.serialization.get("location") == "uri" and member_name in api_params:
            labels[member.serialization.get("name", member_name)] = str(api_params[member_name])
    return labels


def _prepare(response: Any, operation_model: Any, request_dict: dict[str, Any], api_params: dict[str, Any],
             authorization: str | None) -> None:
    """Set what ``BaseResponse.setup_class`` sets, for a JSON / REST-JSON request without form or files."""
    from werkzeug.datastructures import Headers

    from localcloud.compat.moto.core import get_partition

    url = request_dict["url"]
    headers = Headers([(str(k), v.decode("utf-8") if isinstance(v, bytes) else str(v))
                       for k, v in request_dict["headers"].items()])
    if authorization is not None:
        headers["Authorization"] = authorization
    if "host" not in headers:
        headers["Host"] = urlsplit(url).netloc
    body = request_dict.get("body") or b""
    if isinstance(body, dict) or hasattr(body, "read"):  # a form or a stream: never for these JSON operations
        raise _NotDirect()
    raw_body = body
    if isinstance(body, bytes) and not response.use_raw_body:
        body = body.decode("utf-8")
    parsed_url = urlsplit(url)
    querystring: dict[str, list[str]] = {}
    for key, value in parse_qsl(parsed_url.query, keep_blank_values=True):
        querystring.setdefault(key, []).append(value)
    if not querystring and body and not response.use_raw_body:
        for key, value in parse_qsl(body, keep_blank_values=True):
            querystring[key] = [value]
    if not querystring:
        querystring.update(headers)  # pyright: ignore[reportCallIssue]  # as moto's own parser does
    response.is_werkzeug_request = False
    response.normalized_request = None
    response.parsed_url = parsed_url
    response.form_data = {}
    response.body = body
    response.raw_body = raw_body
    response.uri = url
    response.path = parsed_url.path
    response.raw_path = parsed_url.path
    response.querystring = querystring
    response.data = querystring
    response.method = request_dict["method"]
    response.region = response.get_region_from_url(_RequestView(headers), url)
    response.partition = get_partition(response.region)
    response.uri_match = _uri_match(operation_model, api_params)
    response.headers = headers
    response.response_headers = {"server": "amazon.com"}
    from werkzeug.http import http_date

    from localcloud.compat.moto.core import utcnow

    response.response_headers["date"] = http_date(utcnow())
    operation_name = operation_model.name
    response._get_action = lambda: operation_name  # the operation botocore called, no route matching
    if response.automated_parameter_parsing:
        _parse_parameters(response, headers, raw_body, parsed_url.path, querystring)
    from localcloud.compat.moto.iam import mark_account_as_visited

    response.access_key = response.get_access_key()
    response.current_account = response.get_current_account()
    mark_account_as_visited(account_id=response.current_account, access_key=response.access_key,
                            service=response.service_name, region=response.region)


class _ParsedRequestView:
    """The request attributes moto's ``BaseResponse.parse_parameters`` reads."""

    __slots__ = ("method", "values", "headers", "data", "path", "content_type")

    def __init__(self, method: str, values: Any, headers: Any, data: Any, path: str) -> None:
        self.method, self.values, self.headers, self.data, self.path = method, values, headers, data, path
        self.content_type = headers.get("Content-Type")


def _parse_parameters(response: Any, headers: Any, raw_body: Any, path: str,
                      querystring: dict[str, list[str]]) -> None:
    """moto's own request parser (``BaseResponse.parse_parameters``), fed from the serialized request."""
    from werkzeug.datastructures import MultiDict

    values = MultiDict([(k, v) for k, vs in querystring.items() for v in vs])
    response.parse_parameters(_ParsedRequestView(response.method, values, headers, raw_body, path))


class _NotDirect(Exception):
    """This request needs moto's full request handling."""


def _answer(operation_model: Any, url: str, status: int, headers: dict[str, Any], body: Any) -> tuple[Any, dict]:
    """botocore's own conversion and parsing of moto's (status, headers, body)."""
    from botocore.awsrequest import AWSResponse
    from botocore.endpoint import convert_to_response_dict
    from botocore.parsers import create_parser

    from localcloud.compat.moto.core import MockRawResponse

    http = AWSResponse(url, status, headers, MockRawResponse(body))
    response_dict = convert_to_response_dict(http, operation_model)
    protocol = operation_model.service_model.resolved_protocol
    parser = create_parser(protocol)
    parsed = parser.parse(response_dict, operation_model.output_shape)
    if status >= 300:
        error_code = parsed.get("Error", {}).get("Code")
        error_shape = operation_model.service_model.shape_for_error_code(error_code) if error_code else None
        if error_shape is not None:
            parsed.update(parser.parse(response_dict, error_shape))
    if "ResponseMetadata" in parsed:
        parsed["ResponseMetadata"]["RetryAttempts"] = 0
    return http, parsed


def _api_params_slot(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["localcloud_api_params"] = params


def _before_call(model: Any, params: dict[str, Any], request_signer: Any = None, context: Any = None,
                 **_: Any) -> tuple[Any, dict] | None:
    if not PATCH.applied:
        return None
    service = model.service_model.service_name
    if (service, model.name) not in OPERATIONS:
        return None
    from localcloud.compat.moto.core import botocore_stubber

    if not botocore_stubber.enabled:
        return None
    url = params["url"]
    found = _AWS_HOST.fullmatch(urlsplit(url).netloc)
    if found is None:
        return None
    call = interception.Call(model.service_model.service_id.hyphenize(), model.name, found.group(1))
    if interception.fault_armed(call):
        return None
    api_params = (context or {}).get("localcloud_api_params", {})
    response = _response_class(service)()
    try:
        _prepare(response, model, params, api_params,
                 _authorization(request_signer, found.group(1), model.service_model.signing_name or service))
    except _NotDirect:
        return None
    refused = interception.seen(call)
    if refused is not None:  # a gate (the storm's throttle) refuses it, as the stubber path would
        status, headers, body = interception.error_parts(call, refused, interception.GATE_MESSAGE)
        return _answer(model, url, status, headers, body)
    from localcloud.compat.moto.core import HTTPException

    try:
        status, headers, body = response.call_action()
    except HTTPException as error:  # what the stubber does with errors raised outside call_action
        status, headers, body = error.code, error.get_headers(), error.get_body()
    if body is None:
        body = b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return _answer(model, url, int(status), {str(k): str(v) for k, v in (headers or {}).items()}, body)


_HANDLERS = (("before-parameter-build", _api_params_slot), (_EVENT, _before_call))


def _on_default_session(method: str) -> None:
    """``register`` / ``unregister`` the handlers on boto3's default session, if it exists yet."""
    import boto3

    if boto3.DEFAULT_SESSION is None:
        return
    session = boto3.DEFAULT_SESSION._session
    for event, handler in _HANDLERS:
        getattr(session, method)(event, handler, unique_id=f"localcloud-{NAME}-{event}")


def install() -> None:
    """Answer the calls in :data:`OPERATIONS` in-process (idempotent).

    Sessions created from now on get the handler from botocore's built-in list; boto3's default
    session, if it already exists, gets it registered. Clients created before keep the usual path.
    """
    from botocore import handlers

    if PATCH.applied:
        return
    PATCH.extend(handlers.BUILTIN_HANDLERS, _HANDLERS)
    _on_default_session("register")
    PATCH.on_undo(lambda: _on_default_session("unregister"))


def uninstall() -> None:
    """Back to moto's usual request handling (clients that still hold the handler find it switched off)."""
    PATCH.undo()


def installed() -> bool:
    return PATCH.applied
