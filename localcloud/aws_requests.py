"""Which AWS API call an HTTP request is: service, operation, region and the AWS host it was meant for.

The local AWS endpoint (``localcloud.aws_endpoint``) receives requests an SDK or the AWS CLI sent to
``--endpoint-url http://127.0.0.1:PORT``: the host no longer names the service or the region, so, as LocalStack and
moto's server mode do, they are read from the request's Signature Version 4 credential scope
(``Credential=AKID/DATE/REGION/SERVICE/aws4_request``, in the ``Authorization`` header or, for a presigned URL, the
``X-Amz-Credential`` query parameter; https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html).
The scope's service is the *signing name*; botocore's service models say which API that is and how its operations
are told apart, by protocol:

- ``json``: the ``X-Amz-Target`` header, ``<targetPrefix>.<Operation>`` (DynamoDB and DynamoDB Streams share the
  signing name ``dynamodb`` and differ here);
- ``smithy-rpc-v2-cbor``: the path ``/service/<ServiceName>/operation/<Operation>`` (CloudWatch);
- ``query``: the ``Action`` parameter (form body or query string: STS, IAM);
- ``rest-json`` / ``rest-xml``: the HTTP method and the operation's ``requestUri`` template (IoT, Lambda, Pipes,
  S3, Route 53), the most specific template that matches.

The AWS host is what botocore's endpoint data gives the service's endpoint prefix in that region
(``iot.eu-west-1.amazonaws.com``; ``iam.amazonaws.com`` for a global service), so the request can be answered
exactly as an in-process call to that host is (``localcloud.aws_endpoint``).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qs

import botocore.session
from botocore.model import ServiceModel
from botocore.regions import EndpointResolver

_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/([A-Za-z0-9._-]+)/aws4_request")
_CBOR_PATH = re.compile(r"^/service/([^/]+)/operation/([^/?]+)")

#: Signing names whose API is not the botocore service of the same name (or not only it); the rest are looked up by
#: name, and only an unknown name makes the full index (every botocore model, ~3 s, once).
SIGNING_NAMES: dict[str, tuple[str, ...]] = {
    "states": ("stepfunctions",),
    "monitoring": ("cloudwatch",),
    "iotdata": ("iot-data",),
    "dynamodb": ("dynamodb", "dynamodbstreams"),
    "lambda": ("lambda",),
    "iam": ("iam",),
    "s3": ("s3", "s3control"),
    "events": ("events",),
    "apigateway": ("apigateway", "apigatewayv2"),
    "execute-api": ("apigatewaymanagementapi",),
}


class UnknownRequest(ValueError):
    """A request whose API cannot be told (unsigned, or no operation of its service matches); the message says why."""


class InvalidRegion(UnknownRequest):
    """A request signed for a region no AWS partition has (``zz-fake-9``); AWS refuses such a credential scope."""


@dataclass(frozen=True)
class ApiCall:
    """What a request is: the botocore service (client name), its id as botocore's events spell it (``sfn``), the
    operation, the region it is signed for and the AWS host an SDK would have sent it to."""

    service: str
    service_id: str
    operation: str
    region: str
    host: str

    @property
    def event_name(self) -> str:
        """botocore's ``before-send`` event for the call, as an in-process client emits it."""
        return f"before-send.{self.service_id}.{self.operation}"


def credential_scope(headers: Mapping[str, str], query: str) -> tuple[str, str] | None:
    """(region, signing name) of a SigV4-signed request, or None when it is not signed."""
    found = _SCOPE.search(headers.get("Authorization") or headers.get("authorization") or "")
    if found is None:
        credential = (parse_qs(query).get("X-Amz-Credential") or [""])[0]
        found = _SCOPE.search(f"Credential={credential}")
    return (found.group(1), found.group(2)) if found else None


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def _available() -> frozenset[str]:
    return frozenset(_session().get_available_services())


@cache
def model(service: str) -> ServiceModel:
    return _session().get_service_model(service)


@cache
def _index() -> dict[str, tuple[str, ...]]:
    """Signing name -> botocore services, over every model (slow; only for a signing name not known above)."""
    found: dict[str, list[str]] = {}
    for name in sorted(_available()):
        found.setdefault(model(name).signing_name or name, []).append(name)
    return {key: tuple(sorted(names, key=lambda n: n != key)) for key, names in found.items()}


def candidates(signing_name: str) -> tuple[str, ...]:
    """The botocore services signed with ``signing_name``, the likeliest first."""
    if signing_name in SIGNING_NAMES:
        return SIGNING_NAMES[signing_name]
    if signing_name in _available() and model(signing_name).signing_name == signing_name:
        return (signing_name,)
    return _index().get(signing_name, ())


@cache
def _resolver() -> EndpointResolver:
    return EndpointResolver(_session().get_component("data_loader").load_data("endpoints"))


@cache
def host(service: str, region: str) -> str:
    """The AWS host of ``service`` in ``region`` (a global service's partition host where it has one)."""
    prefix = model(service).endpoint_prefix
    endpoint = _resolver().construct_endpoint(prefix, region)
    return str(endpoint["hostname"]) if endpoint and endpoint.get("hostname") else f"{prefix}.{region}.amazonaws.com"


@cache
def _partitions() -> tuple[tuple[frozenset[str], re.Pattern[str] | None], ...]:
    data = _session().get_component("data_loader").load_data("endpoints")
    return tuple((frozenset(partition.get("regions") or ()),
                  re.compile(partition["regionRegex"]) if partition.get("regionRegex") else None)
                 for partition in data.get("partitions") or ())


def is_region(region: str) -> bool:
    """Whether ``region`` is an AWS region (one botocore's endpoint data lists, or one its partitions' region
    pattern admits, so a region newer than botocore passes); ``aws-global`` too."""
    return region == "aws-global" or any(region in regions or (pattern is not None and pattern.match(region))
                                         for regions, pattern in _partitions())


@dataclass(frozen=True)
class _Template:
    operation: str
    method: str
    path: re.Pattern[str]
    query: tuple[tuple[str, str | None], ...]  # required query parameters (value None: present with any value)
    specificity: tuple[int, int]


def _template(operation: str, http: Mapping[str, Any]) -> _Template:
    uri = str(http.get("requestUri", "/"))
    path, _, query = uri.partition("?")
    pattern, literal = "", 0
    for piece in re.split(r"(\{[^}]+\})", path):
        if piece.startswith("{"):
            pattern += ".+" if piece.endswith("+}") else "[^/]+"
        else:
            pattern += re.escape(piece)
            literal += len(piece)
    required = []
    for part in filter(None, query.split("&")):
        key, has_value, value = part.partition("=")
        required.append((key, value if has_value else None))
    return _Template(operation, str(http.get("method", "POST")).upper(), re.compile(f"^{pattern}/?$"),
                     tuple(required), (len(required), literal))


@cache
def _templates(service: str) -> tuple[_Template, ...]:
    service_model = model(service)
    return tuple(_template(name, service_model.operation_model(name).http)
                 for name in service_model.operation_names)  # pyright: ignore[reportGeneralTypeIssues]  # botocore's CachedProperty is untyped


def rest_operation(service: str, method: str, path: str, query: str) -> str | None:
    """The operation of a REST service whose ``requestUri`` template matches (the most specific), or None."""
    params = parse_qs(query, keep_blank_values=True)
    best: _Template | None = None
    for template in _templates(service):
        if template.method != method or not template.path.match(path):
            continue
        if any(key not in params or (value is not None and value not in params[key])
               for key, value in template.query):
            continue
        if best is None or template.specificity > best.specificity:
            best = template
    return best.operation if best else None


def _protocols(service_model: ServiceModel) -> list[str]:
    return list(service_model.metadata.get("protocols") or [service_model.protocol])


def identify(method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> ApiCall:
    """The API call a request to the local endpoint is (raises :class:`UnknownRequest` when it cannot be told)."""
    scope = credential_scope(headers, query)
    if scope is None:
        raise UnknownRequest("the request is not signed with AWS Signature Version 4: the local endpoint reads the "
                             "service and region from the signature's credential scope. Use an AWS SDK or the AWS CLI "
                             "with any credentials (e.g. AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test)")
    region, signing_name = scope
    if not is_region(region):
        raise InvalidRegion(f"Credential should be scoped to a valid region, not {region!r}: the request is signed "
                            f"for {region!r}, which is no AWS region (the local cloud answers in every AWS region, "
                            "and serves its deployed stacks in theirs)")
    services = candidates(signing_name)
    if not services:
        raise UnknownRequest(f"no AWS API is signed as {signing_name!r} (botocore knows none)")
    lowered = {key.lower(): value for key, value in headers.items()}
    target = lowered.get("x-amz-target", "")
    cbor = _CBOR_PATH.match(path) if lowered.get("smithy-protocol") == "rpc-v2-cbor" else None
    action = (parse_qs(query).get("Action") or [""])[0]
    if not action and "x-www-form-urlencoded" in lowered.get("content-type", ""):
        action = (parse_qs(body.decode("utf-8", "replace")).get("Action") or [""])[0]
    for service in services:
        service_model = model(service)
        protocols = _protocols(service_model)
        operation: str | None = None
        if target and "json" in protocols:
            prefix, _, name = target.rpartition(".")
            if prefix == service_model.metadata.get("targetPrefix"):
                operation = name
        elif cbor is not None and "smithy-rpc-v2-cbor" in protocols:
            operation = cbor.group(2)
        elif action and ({"query", "ec2"} & set(protocols)):
            operation = action
        elif {"rest-json", "rest-xml"} & set(protocols):
            operation = rest_operation(service, method.upper(), path, query)
        if operation is not None and operation in service_model.operation_names:
            return ApiCall(service, service_model.service_id.hyphenize(), operation, region, host(service, region))
    raise UnknownRequest(f"no operation of {'/'.join(services)} matches {method} {path}"
                         + (f" (X-Amz-Target {target})" if target else ""))
