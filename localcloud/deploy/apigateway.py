"""API Gateway v2 (HTTP APIs): the provisioning API, its integration, route, stage, custom domain and mapping."""

from __future__ import annotations

from typing import Any

import pulumi

from .common import client, hexdigest, pascal, physical_name
from .registry import DeployContext, Result, creates


@creates("aws:apigatewayv2/api:Api")
def api(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any], region: str) -> Result:
    request: dict[str, Any] = {"Name": physical_name(args, inputs, limit=128), "ProtocolType": inputs["protocolType"]}
    for key, member in (("description", "Description"), ("disableExecuteApiEndpoint", "DisableExecuteApiEndpoint"),
                        ("routeSelectionExpression", "RouteSelectionExpression")):
        if inputs.get(key) is not None:
            request[member] = inputs[key]
    created = client("apigatewayv2", region).create_api(**request)
    execution_arn = f"arn:aws:execute-api:{region}:{ctx.account_id}:{created['ApiId']}"
    return created["ApiId"], {**inputs, "name": request["Name"], "apiEndpoint": created.get("ApiEndpoint", ""),
                              "arn": f"arn:aws:apigateway:{region}::/apis/{created['ApiId']}",
                              "executionArn": execution_arn}


@creates("aws:apigatewayv2/integration:Integration")
def integration(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                region: str) -> Result:
    request: dict[str, Any] = {"ApiId": inputs["apiId"], "IntegrationType": inputs["integrationType"]}
    for key, member in (("integrationUri", "IntegrationUri"), ("integrationMethod", "IntegrationMethod"),
                        ("payloadFormatVersion", "PayloadFormatVersion"), ("description", "Description")):
        if inputs.get(key) is not None:
            request[member] = inputs[key]
    if inputs.get("timeoutMilliseconds") is not None:
        request["TimeoutInMillis"] = int(inputs["timeoutMilliseconds"])
    created = client("apigatewayv2", region).create_integration(**request)
    return created["IntegrationId"], {**inputs}


@creates("aws:apigatewayv2/route:Route")
def route(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any], region: str) -> Result:
    request: dict[str, Any] = {"ApiId": inputs["apiId"], "RouteKey": inputs["routeKey"]}
    if inputs.get("target"):
        request["Target"] = inputs["target"]
    created = client("apigatewayv2", region).create_route(**request)
    return created["RouteId"], {**inputs}


@creates("aws:apigatewayv2/stage:Stage")
def stage(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any], region: str) -> Result:
    request: dict[str, Any] = {"ApiId": inputs["apiId"], "StageName": inputs["name"],
                               "AutoDeploy": bool(inputs.get("autoDeploy", False))}
    if inputs.get("defaultRouteSettings"):
        request["DefaultRouteSettings"] = pascal(inputs["defaultRouteSettings"])
    if inputs.get("accessLogSettings"):
        request["AccessLogSettings"] = pascal(inputs["accessLogSettings"])
    client("apigatewayv2", region).create_stage(**request)
    return inputs["name"], {**inputs, "invokeUrl": f"https://{inputs['apiId']}.execute-api.{region}.amazonaws.com/"}


@creates("aws:apigatewayv2/domainName:DomainName")
def domain_name(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                region: str) -> Result:
    configuration = inputs["domainNameConfiguration"]
    domain = client("apigatewayv2", region).create_domain_name(
        DomainName=inputs["domainName"], DomainNameConfigurations=[pascal(configuration)])
    target = (domain.get("DomainNameConfigurations") or [{}])[0].get("ApiGatewayDomainName") \
        or f"d-{hexdigest(inputs['domainName'], region, n=10)}.execute-api.{region}.amazonaws.com"
    return inputs["domainName"], {**inputs, "domainNameConfiguration": {**configuration,
                                                                        "targetDomainName": target}}


@creates("aws:apigatewayv2/apiMapping:ApiMapping")
def api_mapping(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                region: str) -> Result:
    request = {"ApiId": inputs["apiId"], "DomainName": inputs["domainName"], "Stage": inputs["stage"]}
    if inputs.get("apiMappingKey"):
        request["ApiMappingKey"] = inputs["apiMappingKey"]
    mapping = client("apigatewayv2", region).create_api_mapping(**request)
    return mapping["ApiMappingId"], {**inputs}
