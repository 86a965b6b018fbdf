"""The local cloud's AWS APIs on one loopback port, as LocalStack serves them on 4566: ``up --serve --aws-port``.

While ``python -m localcloud up --serve`` runs, ``aws --endpoint-url http://127.0.0.1:4566 ...``, boto3 with
``endpoint_url`` (or ``AWS_ENDPOINT_URL``) and ``python -m ops --endpoint-url ...`` act on the very cloud the MQTT
endpoints serve, in every region: a request's region is the one it is signed for.

How a request is answered: exactly as an in-process boto3 call is. The request is identified from its signature's
credential scope and botocore's service models (``localcloud.aws_requests``: service, operation, region, AWS host),
rebuilt as the botocore request an SDK would have sent to that AWS host, and handed to moto's botocore stubber under
the operation's ``before-send`` event, the hook every in-process call goes through. So the same moto backends answer
(moto's backends are module globals: one account, one state), and everything the local cloud adds applies to calls
over HTTP too: the interception hub records them, its gates and faults apply (``localcloud.interception``, which
hooks that stubber), the fixes and the services' hooks on moto's models run (an ``UpdateCertificate`` to ``REVOKED``
refuses the device's next MQTT connection; a ``PutItem`` on the inventory flows through its stream and pipe to the
other region), and the engines keep moving in the background (``MqttEndpoints``' settler). Every call holds the
cloud's one lock (``EngineGate``), as the MQTT endpoints' calls do.

moto's own server mode (``moto.server``, a Flask application per service) would answer from the same backends but
around that hook, so the hub would not see its calls, and it needs Flask; this endpoint needs neither.

What is not served: IoT's data plane over HTTP (``iot-data`` ``Publish``) is refused with ``NotImplemented``
rather than answered by moto, whose publish reaches neither the rules engine nor the MQTT subscribers here: publish
over MQTT. moto's ``/moto-api`` (reset, seeding) is not served either: nothing resets the cloud from outside.
Binds 127.0.0.1 only.

Hardening (the endpoint takes any credentials, so what reaches it must be a local tool's call, and no caller may
tie it up): see docs/offline.md, "The local AWS endpoint's refusals".

- Cross-site requests, refused with 403 before anything is read or done: a ``Host`` other than
  ``127.0.0.1:PORT`` / ``localhost:PORT`` (a DNS-rebinding page sends its own host name); an ``Origin`` header that
  is not a loopback origin, or ``Sec-Fetch-Site: cross-site``/``same-site`` (browsers send these; SDKs and the AWS
  CLI never do); a query-string-signed (presigned) request, one with ``X-Amz-Credential`` in the query and no
  ``Authorization`` header, unless it is S3's (``aws s3 presign``, ``generate_presigned_url``): SDKs sign every
  other call in the ``Authorization`` header, and a presigned URL of any other API is what an ``<img>`` tag can
  replay. A request signed for a region that is no AWS region: 403, naming it (AWS: "Credential should be scoped to
  a valid region").
- Bounded work per caller: each request must arrive whole (request line, headers and body) within
  ``request_deadline_s`` (10 s, the MQTT endpoints' CONNECT deadline) of the connection's previous answer or its
  opening, so an idle or half-sent request is dropped; at most ``max_connections`` (256, the MQTT endpoints'
  ``max_pending``) connections at once, the next refused at once with 503; a body above ``max_body_bytes``
  (16 MiB: far above any call the local cloud's tools make, a Lambda invoke payload's 6 MB AWS limit included;
  large S3 objects are not this endpoint's use) refused with 413 from its declared length, unread.
- Malformed framing (a ``Content-Length`` that is not one non-negative decimal number, a bad chunk size, both
  ``Content-Length`` and ``Transfer-Encoding``, a coding other than ``chunked``): 400, logged as a line, no
  traceback. A refused request's connection is closed after a bounded drain of what the caller still sends
  (at most 2 s / 64 MiB), so the caller reads the answer instead of a reset.
"""
from __future__ import annotations

import io
import json
import logging
import math
import re
import shlex
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from localcloud import aws_requests

LOG = logging.getLogger("localcloud.aws")
LOOPBACK = "127.0.0.1"
#: LocalStack's edge port, which users' tools already point at.
DEFAULT_PORT = 4566
#: The credentials the printed environment holds: any SigV4 signature is accepted (moto checks none), so any
#: non-empty pair works; these are LocalStack's.
ACCESS_KEY_ID = "test"
SECRET_ACCESS_KEY = "test"  # noqa: S105 - the local endpoint's fixed fake credentials
#: Operations answered with ``NotImplemented`` instead of moto (see the module docstring).
NOT_SERVED = {("iot-data", "Publish"): "publishing over HTTP does not reach the local cloud's rules engine or MQTT "
                                       "subscribers: publish over MQTT to the region's endpoint"}
#: Each request must arrive whole within this many seconds of the connection's opening or its previous answer (the
#: MQTT endpoints' CONNECT deadline, ``Limits.connect_timeout_s``); an idle keep-alive connection is closed after it.
REQUEST_DEADLINE_S = 10.0
#: Connections served at once (the MQTT endpoints' ``Limits.max_pending``); the next is answered 503 at once.
MAX_CONNECTIONS = 256
#: The largest request body read (16 MiB): every call the local cloud's tools make is far smaller (AWS caps a
#: Lambda invoke payload at 6 MB); a larger declared body is refused with 413 unread.
MAX_BODY_BYTES = 16 * 2**20
#: After a refusal, what the caller still sends is drained for at most this long / this much before the close.
LINGER_S = 2.0
LINGER_BYTES = 64 * 2**20
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
_DIGITS = re.compile(r"[0-9]{1,20}")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


def environment(url: str, region: str) -> dict[str, str]:
    """What a shell needs for the AWS CLI, boto3 and ``python -m ops`` to talk to the endpoint at ``url``."""
    return {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": region}


def export_line(url: str, region: str) -> str:
    return "export " + " ".join(f"{key}={value}" for key, value in environment(url, region).items())


def check_port(port: int, taken: dict[int, str] | None = None, host: str = LOOPBACK) -> str | None:
    """Why ``--aws-port PORT`` cannot be served (out of range, another option's port, busy), or None; port 0 is any
    free port."""
    if not 0 <= port <= 65535:
        return f"--aws-port {port}: a port is 0-65535 (0 = any free port)"
    if port == 0:
        return None
    if taken and port in taken:
        return f"--aws-port {port}: {taken[port]} uses port {port} too; give each its own port (0 = any free port)"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return (f"--aws-port {port}: port {port} on {host} cannot be listened on ({error.strerror}; LocalStack "
                    "uses 4566 too): stop what holds it, or give another port (0 = any free port)")
    return None


def _json_error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"__type": code, "message": message, "Message": message}).encode("utf-8")
    return status, {"x-amzn-ErrorType": code, "Content-Type": "application/json"}, body


class _Refused(Exception):
    """A request answered with an error before (or instead of) being read whole."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _is_loopback_host(host: str) -> bool:
    return host in LOOPBACK_NAMES or host in ("[::1]", "::1")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # listen backlog (socketserver's 5 makes a burst of connects wait on SYN retries)
    endpoint: AwsEndpoint
    slots: threading.BoundedSemaphore

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):  # at the cap: answered at once, no thread
            LOG.warning("refused a connection: %d connections are being served already", self.endpoint.max_connections)
            _, headers, body = _json_error(503, "ServiceUnavailable", f"the local AWS endpoint serves at most "
                                           f"{self.endpoint.max_connections} connections at once: retry")
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            try:
                request.settimeout(1)
                request.sendall(f"HTTP/1.1 503 Service Unavailable\r\n{head}Connection: close\r\n"
                                f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:  # one line, not socketserver's traceback
        import sys

        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            LOG.debug("connection from %s ended: %r", client_address, error)
        else:
            LOG.error("request from %s failed: %r", client_address, error)


class _DeadlineReader(io.RawIOBase):
    """The connection's bytes, each receive bounded by the handler's deadline for the request being read."""

    def __init__(self, handler: _Handler) -> None:
        super().__init__()
        self._handler = handler

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        handler = self._handler
        remaining = handler.read_deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"the request did not arrive within {handler.server.endpoint.request_deadline_s:g} s")
        handler.connection.settimeout(min(remaining, handler.server.endpoint.request_deadline_s))
        return handler.connection.recv_into(buffer)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as SDKs pool connections
    server: _Server  # pyright: ignore[reportIncompatibleVariableOverride]  # the server that made it
    read_deadline = math.inf

    def setup(self) -> None:
        self.timeout = self.server.endpoint.request_deadline_s  # the socket's, for writes too
        super().setup()
        self.rfile = io.BufferedReader(_DeadlineReader(self))

    def handle_one_request(self) -> None:
        self.read_deadline = time.monotonic() + self.server.endpoint.request_deadline_s
        super().handle_one_request()

    def handle_expect_100(self) -> bool:
        try:  # refused before the caller sends the body it asks about
            self.server.endpoint.refusal(self.command, self.path, dict(self.headers.items()))
            self._declared_length()
        except _Refused as refused:
            self._refuse(refused, linger=False)
            return False
        return super().handle_expect_100()

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s " + format, self.address_string(), *args)

    def _declared_length(self) -> int | None:
        """The body's length from ``Content-Length`` (0 without one), None for a chunked body; raises :class:`_Refused`
        for malformed or oversized framing."""
        cap = self.server.endpoint.max_body_bytes
        codings = [c.strip().lower() for v in self.headers.get_all("Transfer-Encoding") or [] for c in v.split(",")]
        lengths = {v.strip() for v in self.headers.get_all("Content-Length") or []}
        if codings:
            if lengths:
                raise _Refused(400, "BadRequest", "both Transfer-Encoding and Content-Length: send one")
            if codings != ["chunked"]:
                raise _Refused(400, "BadRequest", f"Transfer-Encoding {', '.join(codings)!r}: only chunked is served")
            return None
        if not lengths:
            return 0
        value = lengths.pop()
        if lengths or not _DIGITS.fullmatch(value):
            raise _Refused(400, "BadRequest", "Content-Length must be one non-negative decimal number")
        if int(value) > cap:
            raise _Refused(413, "RequestEntityTooLarge", f"a body of {int(value)} bytes: the local AWS endpoint "
                           f"reads at most {cap} bytes")
        return int(value)

    def _body(self, length: int | None) -> bytes:
        if length is not None:
            data = self.rfile.read(length) if length else b""
            if len(data) != length:
                raise _Refused(400, "IncompleteBody", f"the body ended after {len(data)} of {length} bytes")
            return data
        cap, chunks, total = self.server.endpoint.max_body_bytes, [], 0
        while True:
            line = self.rfile.readline(1024)
            size_text = line.split(b";")[0].strip()
            if not line.endswith(b"\n") or not _CHUNK_SIZE.fullmatch(size_text):
                raise _Refused(400, "BadRequest", "a malformed chunk size in a chunked body")
            size = int(size_text, 16)
            if size == 0:
                for _ in range(64):  # trailers, up to the blank line
                    trailer = self.rfile.readline(8192)
                    if trailer in (b"\r\n", b"\n", b""):
                        return b"".join(chunks)
                raise _Refused(400, "BadRequest", "too many trailers after a chunked body")
            total += size
            if total > cap:
                raise _Refused(413, "RequestEntityTooLarge", f"a chunked body above {cap} bytes: the local AWS "
                               f"endpoint reads at most {cap} bytes")
            data = self.rfile.read(size)
            if len(data) != size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _Refused(400, "BadRequest", "a chunk shorter than its size, or not ended by CRLF")
            chunks.append(data)

    def _refuse(self, refused: _Refused, *, linger: bool) -> None:
        LOG.info("refused %s %s from %s: %d %s", self.command, self.path[:200], self.address_string(),
                 refused.status, refused.message)
        status, headers, payload = _json_error(refused.status, refused.code, refused.message)
        self.close_connection = True
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        try:
            self.wfile.write(payload)
            self.wfile.flush()
            if linger:
                self._linger()
        except OSError:
            pass

    def _linger(self) -> None:
        """Drain what the caller still sends (bounded) before the close, so it reads the answer, not a reset."""
        self.connection.shutdown(socket.SHUT_WR)
        deadline, drained = time.monotonic() + LINGER_S, 0
        while drained < LINGER_BYTES and (remaining := deadline - time.monotonic()) > 0:
            self.connection.settimeout(remaining)
            chunk = self.connection.recv(65536)
            if not chunk:
                return
            drained += len(chunk)

    def _handle(self) -> None:
        headers_in = dict(self.headers.items())
        body_declared = bool(self.headers.get("Transfer-Encoding")) or \
            (self.headers.get("Content-Length") or "0").strip() != "0"
        try:
            self.server.endpoint.refusal(self.command, self.path, headers_in)
        except _Refused as refused:
            self._refuse(refused, linger=body_declared)
            return
        try:
            body = self._body(self._declared_length())
        except _Refused as refused:
            self._refuse(refused, linger=True)
            return
        self.read_deadline = math.inf  # read whole: the answer may take as long as it takes (a Lambda invoke)
        self.connection.settimeout(self.server.endpoint.request_deadline_s)
        status, headers, payload = self.server.endpoint.answer(self.command, self.path, headers_in, body)
        self.send_response(status)
        sent_length = None
        for key, value in headers.items():
            lowered = key.lower()
            if lowered in ("transfer-encoding", "connection", "server", "date"):
                continue
            if lowered == "content-length":
                sent_length = value
                continue
            self.send_header(key, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", sent_length if sent_length is not None else str(len(payload)))
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle


class AwsEndpoint:
    """Every region's AWS APIs on ``http://127.0.0.1:PORT``; ``start()``/``stop()`` or ``with``.

    ``gate``: the lock every call into the cloud holds (``MqttEndpoints.gate``); ``None`` for none (a cloud nothing
    else calls concurrently)."""

    def __init__(self, *, port: int = DEFAULT_PORT, gate: AbstractContextManager[Any] | None = None,
                 host: str = LOOPBACK) -> None:
        if host != LOOPBACK:
            raise ValueError("the local AWS endpoint listens on 127.0.0.1 only (it takes any credentials)")
        self.host, self.requested_port = host, port
        self.gate = gate
        self.request_deadline_s = REQUEST_DEADLINE_S
        self.max_connections = MAX_CONNECTIONS
        self.max_body_bytes = MAX_BODY_BYTES
        self.served = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the AWS endpoint is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> AwsEndpoint:
        if self._server is not None:
            return self
        server = _Server((self.host, self.requested_port), _Handler)
        server.endpoint = self
        server.slots = threading.BoundedSemaphore(self.max_connections)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="localcloud-aws", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> AwsEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering --------------------------------------------------------------------------------------------------
    def _locked(self) -> AbstractContextManager[Any]:
        return self.gate if self.gate is not None else nullcontext()

    def refusal(self, method: str, target: str, headers: dict[str, str]) -> None:
        """Raise :class:`_Refused` (403) for a request a local tool would not send: a ``Host`` that is not this
        endpoint's loopback address (DNS rebinding), a browser's cross-site ``Origin``/``Sec-Fetch-Site``, a
        presigned (query-string-signed) request of any API but S3. Checked before the body is read."""
        lowered = {key.lower(): value.strip() for key, value in headers.items()}
        allowed = {f"{name}:{self.port}" for name in LOOPBACK_NAMES}
        host = lowered.get("host", "").lower()
        if host not in allowed:
            raise _Refused(403, "AccessDenied", f"Host {host[:100]!r} is not this endpoint's ({' or '.join(sorted(allowed))}):"
                           " the local AWS endpoint answers requests addressed to its loopback address only (a web "
                           "page's request through DNS rebinding carries its own host name)")
        origin = lowered.get("origin")
        if origin is not None:
            try:
                parts = urlsplit(origin)
                loopback = parts.scheme in ("http", "https") and _is_loopback_host(parts.hostname or "")
            except ValueError:
                loopback = False
            if not loopback:
                raise _Refused(403, "AccessDenied", f"Origin {origin[:100]!r} is not a loopback origin: the local "
                               "AWS endpoint refuses cross-site requests from web pages (SDKs and the AWS CLI send no "
                               "Origin)")
        fetch_site = lowered.get("sec-fetch-site", "").lower()
        if fetch_site in ("cross-site", "same-site"):
            raise _Refused(403, "AccessDenied", f"Sec-Fetch-Site {fetch_site}: the local AWS endpoint refuses "
                           "cross-site requests from web pages")
        _, _, query = target.partition("?")
        if "authorization" not in lowered:
            params = parse_qs(query)
            if "X-Amz-Credential" in params or "X-Amz-Signature" in params:
                scope = aws_requests.credential_scope({}, query)
                if scope is None or scope[1] != "s3":
                    raise _Refused(403, "AccessDenied", "a query-string-signed (presigned) request of "
                                   f"{scope[1] if scope else 'an unknown API'!r}: the local AWS endpoint accepts "
                                   "presigned URLs for S3 only; sign the call in the Authorization header, as SDKs "
                                   "and the AWS CLI do")

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes
               ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) for one request, as AWS (moto, and the local cloud's hooks) answers it."""
        path, _, query = target.partition("?")
        try:
            call = aws_requests.identify(method, path, query, headers, body)
        except aws_requests.InvalidRegion as error:
            return _json_error(403, "InvalidSignatureException", f"{error}")
        except aws_requests.UnknownRequest as error:
            return _json_error(400, "UnknownOperationException", f"{error}")
        refusal = NOT_SERVED.get((call.service, call.operation))
        if refusal is not None:
            return _json_error(501, "NotImplemented", f"{call.service} {call.operation} is not served by the local "
                                                      f"cloud: {refusal}")
        from botocore.awsrequest import AWSPreparedRequest
        from botocore.compat import HTTPHeaders

        from localcloud.compat.moto.core import botocore_stubber

        outgoing = HTTPHeaders()
        for key, value in headers.items():
            if key.lower() not in ("host", "transfer-encoding", "connection", "expect", "accept-encoding"):
                outgoing[key] = value
        outgoing["host"] = call.host  # as the SDK signs it for AWS (S3 tells path-style buckets by it)
        if body or method.upper() in ("POST", "PUT", "PATCH"):
            outgoing["Content-Length"] = str(len(body))
        url = f"https://{call.host}{path}" + (f"?{query}" if query else "")
        request = AWSPreparedRequest(method=method.upper(), url=url, headers=outgoing, body=body, stream_output=False)
        try:
            with self._locked():
                if not botocore_stubber.enabled:
                    return _json_error(503, "ServiceUnavailable", "the local cloud is not running (moto is stopped)")
                response = botocore_stubber(call.event_name, request)
                self.served += 1
        except NotImplementedError as error:  # moto's "The <action> action has not been implemented"
            return _json_error(501, "NotImplemented", f"{call.service} {call.operation} is not emulated by moto: "
                                                      f"{error}")
        except Exception as error:  # an AWS endpoint answers 500 and keeps serving
            LOG.exception("%s %s failed", call.service, call.operation)
            return _json_error(500, "InternalFailure", f"{type(error).__name__}: {error}")
        if response is None:
            return _json_error(501, "NotImplemented", f"{call.service} {call.operation} at {call.host} is not "
                                                      "emulated by moto")
        content = response.content or b""
        return response.status_code, {str(k): str(v) for k, v in response.headers.items()}, bytes(content)


def banner(url: str, regions: list[str], thing: str, pictures: Path) -> list[str]:
    """What ``up --serve`` prints about the endpoint: where, the environment to export, commands that work after it
    (each run as printed, after the export line, by tests/localcloud/test_aws_endpoint.py)."""
    primary, other = regions[0], regions[-1]
    png = shlex.quote(str(pictures / f"dashboard-{primary}.png"))
    return [
        f"AWS APIs of {', '.join(regions)}: {url} (LocalStack's port; this same cloud, answered by moto behind this "
        "process's own hooks; a request's region is the one it is signed for). From another shell:",
        export_line(url, primary),
        f"aws --endpoint-url {url} iot list-things --region {other}",
        f".venv/bin/ops --endpoint-url {url} status",
        f".venv/bin/ops --endpoint-url {url} trace {thing}",
        f".venv/bin/localcloud dashboard {primary} --endpoint-url {url} --png {png}",
    ]


def port_refusal(port: int, mqtt_ports: dict[str, int], resolver_port: int) -> str | None:
    """Why ``up --serve --aws-port PORT`` cannot serve beside those MQTT and resolver ports, or None."""
    taken = {p: f"--ports {region}={p}" for region, p in mqtt_ports.items() if p}
    if resolver_port:
        taken[resolver_port] = f"--resolver-port {resolver_port}"
    return check_port(port, taken)


@contextmanager
def serving(cloud: Any, gate: AbstractContextManager[Any] | None, port: int) -> Iterator[AwsEndpoint]:
    """``up --serve``'s AWS endpoint and the metrics it computes (``localcloud.local_metrics``) while the block runs."""
    from localcloud.local_metrics import MetricsCollector

    with AwsEndpoint(port=port, gate=gate) as endpoint, MetricsCollector(cloud, gate).running():
        yield endpoint


def print_banner(console: Any, endpoint: AwsEndpoint, cloud: Any, thing: str) -> None:
    for line in banner(endpoint.url, list(cloud.regions), thing, Path(cloud.state_dir)):
        console.print(line, soft_wrap=True, markup=False, highlight=False)
