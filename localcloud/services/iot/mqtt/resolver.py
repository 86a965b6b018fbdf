"""The local DNS answer on the wire: a SOCKS5 endpoint on loopback that resolves the custom domain.

A real device finds its region through DNS. Locally two things stand in the way: the domain is not in
any resolver this machine uses (and editing ``/etc/hosts`` is not ours to do), and MQTT clients send the
host they were given as the TLS SNI, so they must be given the domain, not ``127.0.0.1:8884``. Both
``mosquitto_pub``/``mosquitto_sub`` (``--proxy socks5h://...``) and paho-mqtt (``proxy_set``, PySocks) can
hand the name to a SOCKS5 proxy to resolve ("socks5h": the proxy resolves, RFC 1928 address type 3).
This server does only that: a CONNECT to the served domain (any port) is answered by the routing policy
(``localcloud.services.iot.mqtt.routing``) for the device's location and joined to that region's endpoint on loopback;
the location is the SOCKS username (``socks5h://US@127.0.0.1:1080``; RFC 1929, the password is ignored),
else the default location. Any other destination is refused (reply 0x02, not allowed): it never connects
anywhere but loopback. Bytes are relayed untouched, so TLS runs end to end between device and endpoint.

The same port also answers an HTTP ``CONNECT domain:port`` (RFC 9110, section 9.3.6), the proxy the AWS IoT Device
SDK v2 (awscrt ``HttpProxyOptions``, tunneling) speaks; the location is then the Basic proxy-authorization user.

A client has ``Limits.resolver_negotiation_timeout_s`` to finish its negotiation, and at most
``Limits.resolver_max_pending`` negotiations are held (one more closes the oldest), so idle or half-open connections
cannot use up the process's file descriptors; a relayed connection then lives as long as the endpoint keeps it
(whose own deadlines and caps, ``localcloud.services.iot.mqtt.broker``, end it).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import struct
from collections.abc import Callable

from localcloud.services.iot.mqtt.limits import Limits

LOG = logging.getLogger("localcloud.mqtt.resolver")
# answer(location or None) -> (region, loopback port); raises to refuse
Answer = Callable[[str | None], tuple[str, int]]

_VERSION, _NO_AUTH, _USER_PASSWORD, _NO_METHOD = 5, 0, 2, 0xFF
_SUCCEEDED, _NOT_ALLOWED, _UNREACHABLE, _COMMAND_NOT_SUPPORTED = 0, 2, 4, 7


class SocksResolver:
    """The SOCKS5 CONNECT front of the endpoints for one domain."""

    def __init__(self, domain: str, answer: Answer, *, host: str = "127.0.0.1", port: int = 1080,
                 limits: Limits | None = None) -> None:
        self.domain = domain.lower().rstrip(".")
        self.answer = answer
        self.host, self.port = host, port
        self.limits = limits if limits is not None else Limits()
        self.answers: list[tuple[str | None, str]] = []  # (location, region) per resolved connection
        self._server: asyncio.Server | None = None
        self._pending: dict[asyncio.StreamWriter, None] = {}  # connections still negotiating, oldest first

    def pending_connections(self) -> int:
        """Connections that have not finished their SOCKS5 or HTTP CONNECT negotiation."""
        return len(self._pending)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._pending[writer] = None
        while len(self._pending) > max(1, self.limits.resolver_max_pending):
            oldest = next(iter(self._pending))
            del self._pending[oldest]
            LOG.info("closing the oldest of %d unfinished negotiations", self.limits.resolver_max_pending + 1)
            oldest.transport.abort()
        try:
            try:
                target = await asyncio.wait_for(self._negotiate(reader, writer),
                                                self.limits.resolver_negotiation_timeout_s)
            finally:
                self._pending.pop(writer, None)
            if target is not None:
                await _relay(reader, writer, *target)
        except TimeoutError:
            LOG.info("closing a client that did not finish negotiating within %g s",
                     self.limits.resolver_negotiation_timeout_s)
            writer.transport.abort()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError) as error:
            LOG.debug("SOCKS client went away: %s", error)
        finally:
            writer.close()

    async def _negotiate(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                         ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        first = await reader.readexactly(1)
        if first == b"C":  # an HTTP CONNECT request, not SOCKS5 (whose first byte is 5)
            return await self._negotiate_http(first, reader, writer)
        version, count = first[0], (await reader.readexactly(1))[0]
        methods = await reader.readexactly(count)
        if version != _VERSION:
            return None
        location: str | None = None
        if _USER_PASSWORD in methods:
            writer.write(bytes([_VERSION, _USER_PASSWORD]))
            _, user_length = await reader.readexactly(2)
            location = (await reader.readexactly(user_length)).decode("ascii", "replace") or None
            (password_length,) = await reader.readexactly(1)
            await reader.readexactly(password_length)
            writer.write(b"\x01\x00")
        elif _NO_AUTH in methods:
            writer.write(bytes([_VERSION, _NO_AUTH]))
        else:
            writer.write(bytes([_VERSION, _NO_METHOD]))
            return None
        _, command, _, address_type = await reader.readexactly(4)
        if address_type == 3:
            (length,) = await reader.readexactly(1)
            name = (await reader.readexactly(length)).decode("ascii", "replace").lower().rstrip(".")
        elif address_type == 1:
            name = ".".join(str(b) for b in await reader.readexactly(4))
        else:
            name = (await reader.readexactly(16)).hex()
        await reader.readexactly(2)  # the port: every port of the domain is the MQTT endpoint
        if command != 1:
            return self._reply(writer, _COMMAND_NOT_SUPPORTED)
        if name != self.domain:
            LOG.info("refused CONNECT to %s: only %s is served here", name, self.domain)
            return self._reply(writer, _NOT_ALLOWED)
        upstream = await self._connect(location)
        if upstream is None:
            return self._reply(writer, _UNREACHABLE)
        self._reply(writer, _SUCCEEDED, upstream[2])
        return upstream[0], upstream[1]

    async def _connect(self, location: str | None
                       ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int] | None:
        """The answer for ``location`` and a connection to that region's endpoint (None: unreachable)."""
        try:
            region, port = self.answer(location)
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
        except Exception as error:  # noqa: BLE001 - any failure is an unreachable host for the client
            LOG.info("no endpoint for %s at %s: %s", self.domain, location, error)
            return None
        self.answers.append((location, region))
        return upstream_reader, upstream_writer, port

    async def _negotiate_http(self, first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                              ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        head = (first + await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *header_lines = head.split("\r\n")
        parts = request_line.split()
        if len(parts) != 3 or parts[0] != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            return None
        host = parts[1].rsplit(":", 1)[0].lower().rstrip(".")
        if host != self.domain:
            LOG.info("refused CONNECT to %s: only %s is served here", host, self.domain)
            writer.write(b"HTTP/1.1 403 Forbidden\r\n\r\n")
            return None
        location = _basic_user(header_lines)
        upstream = await self._connect(location)
        if upstream is None:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
            return None
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        return upstream[0], upstream[1]

    @staticmethod
    def _reply(writer: asyncio.StreamWriter, code: int, port: int = 0) -> None:
        writer.write(bytes([_VERSION, code, 0, 1, 127, 0, 0, 1]) + struct.pack("!H", port))
        return None


def _basic_user(header_lines: list[str]) -> str | None:
    """The user of a ``Proxy-Authorization: Basic`` header (the device's location), if any."""
    for line in header_lines:
        name, _, value = line.partition(":")
        scheme, _, token = value.strip().partition(" ")
        if name.strip().lower() == "proxy-authorization" and scheme.lower() == "basic":
            try:
                return base64.b64decode(token).decode("utf-8").split(":", 1)[0] or None
            except (binascii.Error, UnicodeDecodeError):
                return None
    return None


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 upstream_reader: asyncio.StreamReader, upstream_writer: asyncio.StreamWriter) -> None:
    async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except OSError:  # ConnectionError included: either side went away
            pass
        finally:
            sink.close()

    await asyncio.gather(pump(reader, upstream_writer), pump(upstream_reader, writer))
