"""The provisioning API over real HTTP on loopback: Werkzeug's WSGI server in a thread, each request turned into
API Gateway's HTTP API event (payload format 2.0) and given to the deployed function through Lambda ``Invoke``.

The event's ``requestContext.http.sourceIp`` is the TCP peer's address (``REMOTE_ADDR``), never a header, as API
Gateway does; headers are passed on lower-cased (a client's ``X-Forwarded-For`` arrives as a header and is ignored
by the function). Only loopback addresses are served. The server stops itself after ``lifetime_s`` seconds.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

import boto3
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

LOOPBACK = ("127.0.0.1", "::1")
ROUTE_KEY = "POST /provision"


def payload_v2_event(request: Request, api_id: str, region: str) -> dict[str, Any]:
    """The HTTP API (payload format 2.0) event for ``request`` (https://docs.aws.amazon.com/apigateway/latest/
    developerguide/http-api-develop-integrations-lambda.html)."""
    body = request.get_data()
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    now = dt.datetime.now(dt.UTC)
    return {
        "version": "2.0", "routeKey": f"{request.method} {request.path}", "rawPath": request.path,
        "rawQueryString": request.query_string.decode(), "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": api_id, "domainName": request.host, "domainPrefix": api_id,
            "http": {"method": request.method, "path": request.path, "protocol": request.environ.get("SERVER_PROTOCOL"),
                     "sourceIp": request.remote_addr, "userAgent": request.user_agent.string},
            "requestId": str(uuid.uuid4()), "routeKey": f"{request.method} {request.path}", "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"), "timeEpoch": int(now.timestamp() * 1000)},
        "body": text, "isBase64Encoded": encoded,
    }


def lambda_invoker(region: str, function_name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Invoke the deployed function (in-process through ``lambda_inprocess``) and decode its response."""
    client = boto3.client("lambda", region_name=region)

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        response = client.invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError"):
            return {"statusCode": 500, "body": json.dumps({"message": "Internal Server Error"})}
        return payload

    return invoke


@dataclass
class ProvisioningHttpApi:
    """``with ProvisioningHttpApi(invoke, region=...) as api: api.url`` serves ``POST /provision`` until closed."""

    invoke: Callable[[dict[str, Any]], dict[str, Any]]
    region: str = "eu-west-1"
    host: str = "127.0.0.1"
    port: int = 0
    lifetime_s: float = 600.0
    api_id: str = "local"
    _server: Any = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _timer: threading.Timer | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.host not in LOOPBACK:
            raise ValueError(f"the local provisioning API serves loopback only ({', '.join(LOOPBACK)}), not {self.host}")

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._server.server_port}/provision"

    def _app(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        if f"{request.method} {request.path}" != ROUTE_KEY:
            response = Response(json.dumps({"message": "Not Found"}), 404, content_type="application/json")
        else:
            result = self.invoke(payload_v2_event(request, self.api_id, self.region))
            response = Response(result.get("body", ""), int(result.get("statusCode", 200)),
                                headers=result.get("headers") or {})
        return response(environ, start_response)

    def start(self) -> ProvisioningHttpApi:
        self._server = make_server(self.host, self.port, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="provisioning-http-api", daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ProvisioningHttpApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
