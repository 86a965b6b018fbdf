"""Lambda: functions (moto keeps a stub zip; the handler from ``functions/`` runs in-process) and permissions."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pulumi

from localcloud.services.awslambda import inprocess as lambda_inprocess

from .common import autoname, client, physical_name
from .registry import DeployContext, Result, UnsupportedResource, creates

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent


def stub_zip() -> bytes:
    """moto stores the code; the handler itself runs in-process (``lambda_inprocess``)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "served in-process by localcloud.services.awslambda.inprocess\n")
    return buffer.getvalue()


@creates("aws:lambda/function:Function")
def function(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
             region: str) -> Result:
    name = physical_name(args, inputs)
    handler = inputs.get("handler")
    if not handler or "." not in handler:
        raise UnsupportedResource(f"Lambda {name!r}: handler {handler!r} is not 'module.function'")
    module, entry = handler.rsplit(".", 1)
    code = inputs.get("code")
    folder = getattr(code, "path", None)
    package_module = f"{ctx.functions_package}.{module}"
    if not (PROJECT_DIR / ctx.functions_package / Path(*module.split("."))).with_suffix(".py").exists():
        raise UnsupportedResource(f"Lambda {name!r}: handler module {module!r} (code {folder}) is not in "
                                  f"{ctx.functions_package}/; the local cloud runs handlers from there")
    lambda_inprocess.register(name, f"{package_module}:{entry}")
    request: dict[str, Any] = {
        "FunctionName": name, "Role": inputs["role"], "Handler": handler,
        "Runtime": inputs.get("runtime", "python3.12"), "Code": {"ZipFile": stub_zip()},
        "Timeout": int(inputs.get("timeout") or 3), "MemorySize": int(inputs.get("memorySize") or 128),
        "Architectures": inputs.get("architectures") or ["x86_64"],
    }
    if inputs.get("description"):
        request["Description"] = inputs["description"]
    if inputs.get("environment"):
        request["Environment"] = {"Variables": dict(inputs["environment"].get("variables") or {})}
    response = client("lambda", region).create_function(**request)
    return name, {**inputs, "name": name, "arn": response["FunctionArn"],
                  "invokeArn": f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/"
                               f"{response['FunctionArn']}/invocations",
                  "qualifiedArn": f"{response['FunctionArn']}:$LATEST", "version": "$LATEST",
                  "code": None}


@creates("aws:lambda/permission:Permission")
def permission(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
               region: str) -> Result:
    statement_id = inputs.get("statementId") or autoname(args.name, limit=100)
    request = {"FunctionName": inputs["function"], "StatementId": statement_id, "Action": inputs["action"],
               "Principal": inputs["principal"]}
    for key, member in (("sourceArn", "SourceArn"), ("sourceAccount", "SourceAccount")):
        if inputs.get(key):
            request[member] = inputs[key]
    client("lambda", region).add_permission(**request)
    return statement_id, {**inputs, "statementId": statement_id}
