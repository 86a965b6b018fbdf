"""Clients for the endpoint-hardening tests: paho-mqtt for well-behaved clients (wills, clean/persistent sessions,
any client id), raw TLS/TCP sockets for what no library sends (malformed packets, silence, half-open connections).

Everything is loopback and bounded: every socket has a timeout, every wait a deadline.
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device.session import Identity, connect_with_backoff
from tests.localcloud.mqtt.conftest import Served

EU = "eu-west-1"
ACCOUNT = "123456789012"


def onboard(served: Served, name: str, region: str = EU) -> Identity:
    """Issue ``name``'s certificate and connect until JITR has activated it; return its identity (disconnected)."""
    identity = served.device(name)
    session, _ = connect_with_backoff(lambda: served.direct(identity, region), attempts=12, base_s=0.05, cap_s=0.3)
    session.close()
    return identity


def grant(served: Served, thing: str, statements: list[dict[str, Any]], region: str = EU) -> None:
    """Attach an extra IoT policy with ``statements`` to ``thing``'s certificate (an application's policy)."""
    with served.endpoints.gate:
        iot = boto3.client("iot", region_name=region)
        name = f"extra-{thing}-{len(iot.list_policies()['policies'])}"
        iot.create_policy(policyName=name, policyDocument=json.dumps({"Version": "2012-10-17",
                                                                      "Statement": statements}))
        principal = iot.list_thing_principals(thingName=thing)["principals"][0]
        iot.attach_policy(policyName=name, target=principal)


def arn(resource: str, region: str = EU) -> str:
    return f"arn:aws:iot:{region}:{ACCOUNT}:{resource}"


# paho ------------------------------------------------------------------------------------------------------------
class _Paho(mqtt.Client):
    """paho's client with TCP to a loopback port while the TLS server name (SNI) stays the custom domain."""

    tcp_target: tuple[str, int] = ("127.0.0.1", 0)

    def _create_socket_connection(self) -> socket.socket:
        return socket.create_connection(self.tcp_target, timeout=5)


@dataclass
class Client:
    """A paho client's view of one connection: connected, closed, received messages, granted subscriptions."""

    paho: _Paho
    connected: threading.Event = field(default_factory=threading.Event)
    closed: threading.Event = field(default_factory=threading.Event)
    refused: str = ""
    session_present: bool = False
    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)  # (topic, payload, retain flag)
    granted: dict[int, int] = field(default_factory=dict)

    def subscribe(self, topic_filter: str, qos: int = 1, timeout_s: float = 5) -> int:
        _, mid = self.paho.subscribe(topic_filter, qos=qos)
        deadline = time.monotonic() + timeout_s
        while mid not in self.granted:
            assert time.monotonic() < deadline and not self.closed.is_set(), f"no SUBACK for {topic_filter}"
            time.sleep(0.01)
        return self.granted.pop(mid)

    def publish(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False,
                timeout_s: float = 3) -> bool:
        """Publish; True when acknowledged (QoS 1) or sent (QoS 0), False when the connection went first."""
        info = self.paho.publish(topic, payload, qos=qos, retain=retain)
        deadline = time.monotonic() + timeout_s
        while not info.is_published():
            if self.closed.is_set() or time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def wait_message(self, topic: str, timeout_s: float = 5) -> tuple[str, bytes, bool] | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for message in self.messages:
                if message[0] == topic:
                    return message
            time.sleep(0.02)
        return None

    def drop(self) -> None:
        """Lose the network connection without DISCONNECT (what makes the broker publish the will)."""
        self.paho.loop_stop()
        sock = self.paho.socket()
        if sock is not None:
            sock.close()
        self.closed.set()

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()
        self.closed.set()


def paho_connect(served: Served, identity: Identity, *, client_id: str | None = None, clean_session: bool = True,
                 will: tuple[str, bytes | str, int, bool] | None = None, keepalive: int = 60,
                 region: str = EU, timeout_s: float = 5) -> Client:
    """CONNECT with paho (MQTT 3.1.1) to ``region``'s endpoint; the returned client says whether it got in."""
    paho = _Paho(mqtt.CallbackAPIVersion.VERSION2, client_id=identity.thing if client_id is None else client_id,
                 protocol=mqtt.MQTTv311, clean_session=clean_session)
    paho.tcp_target = ("127.0.0.1", served.endpoints.port(region))
    paho.tls_set_context(identity.tls_context())
    if will is not None:
        topic, payload, qos, retain = will
        paho.will_set(topic, payload, qos=qos, retain=retain)
    client = Client(paho)

    def on_connect(_c: Any, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            client.refused = f"CONNACK {reason}"
            client.closed.set()
        else:
            client.session_present = bool(flags.session_present)
            client.connected.set()

    def on_disconnect(_c: Any, _u: Any, _f: Any, _r: Any, _p: Any) -> None:
        if not client.connected.is_set() and not client.refused:
            client.refused = "closed before CONNACK"
        client.closed.set()

    paho.on_connect = on_connect
    paho.on_disconnect = on_disconnect
    paho.on_message = lambda _c, _u, m: client.messages.append((m.topic, bytes(m.payload), bool(m.retain)))
    paho.on_subscribe = lambda _c, _u, mid, reasons, _p: client.granted.__setitem__(mid, reasons[0].value)
    why = _connect_and_wait(paho, served.cloud.domain, client.connected, client.closed, timeout_s,
                            keepalive=keepalive)
    if why:
        client.refused = client.refused or why
    return client


def _connect_and_wait(paho: _Paho, host: str, connected: threading.Event, closed: threading.Event, timeout_s: float,
                      **connect: Any) -> str:
    """CONNECT ``paho`` to ``host``:8883 and run its loop until ``connected`` or ``closed`` is set; on no CONNACK
    within ``timeout_s`` stop the loop and set ``closed``. Return why it did not get in ("" when it did)."""
    try:
        paho.connect(host, 8883, **connect)
    except (ssl.SSLError, OSError) as error:
        closed.set()
        return f"TLS/TCP: {error}"
    paho.loop_start()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not (connected.is_set() or closed.is_set()):
        time.sleep(0.01)
    if not connected.is_set():
        paho.loop_stop()
        closed.set()
        return "no CONNACK in time"
    return ""


# paho MQTTv5 (well-behaved MQTT 5 peers) -------------------------------------------------------------------------
@dataclass
class Client5:
    """A paho MQTTv5 client's view of one connection: CONNACK, DISCONNECT, received messages, SUBACKs, PUBACKs."""

    paho: _Paho
    connected: threading.Event = field(default_factory=threading.Event)
    closed: threading.Event = field(default_factory=threading.Event)
    connack: Any = None
    connack_properties: Any = None
    session_present: bool = False
    disconnect_reason: Any = None
    messages: list[Any] = field(default_factory=list)
    acks: dict[int, list[int]] = field(default_factory=dict)  # mid -> reason codes (SUBACK)
    pubacks: dict[int, int] = field(default_factory=dict)  # mid -> PUBACK reason code

    def subscribe(self, topic_filter: str, qos: int = 1, **options: Any) -> int:
        _, mid = self.paho.subscribe(topic_filter, options=mqtt.SubscribeOptions(qos=qos, **options))
        assert mid is not None, "paho numbers every SUBSCRIBE it sends"
        wait(lambda: mid in self.acks or self.closed.is_set())
        return self.acks.pop(mid)[0]

    def publish(self, topic: str, payload: bytes | str, *, qos: int = 1, properties: Properties | None = None,
                retain: bool = False) -> int | None:
        """The PUBACK's reason code (QoS 1; None: no PUBACK before the connection closed), or 0 for QoS 0."""
        info = self.paho.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if qos == 0:
            return 0
        deadline = time.monotonic() + 5
        while info.mid not in self.pubacks and time.monotonic() < deadline and not self.closed.is_set():
            time.sleep(0.01)
        return self.pubacks.get(info.mid)

    def wait_message(self, topic: str, timeout_s: float = 5) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for message in self.messages:
                if message.topic == topic:
                    return message
            time.sleep(0.02)
        return None

    def topics(self) -> list[str]:
        return [m.topic for m in list(self.messages)]

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()
        self.closed.set()


def wait(condition: Any, timeout_s: float = 5) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def paho5(served: Served, identity: Identity, *, client_id: str | None = None, clean_start: bool = True,
          session_expiry: int | None = None, timeout_s: float = 5, region: str = EU) -> Client5:
    """CONNECT with paho (MQTT 5) to ``region``'s endpoint; the returned client says whether it got in."""
    paho = _Paho(mqtt.CallbackAPIVersion.VERSION2, client_id=identity.thing if client_id is None else client_id,
                 protocol=mqtt.MQTTv5)
    paho.tcp_target = ("127.0.0.1", served.endpoints.port(region))
    paho.tls_set_context(identity.tls_context())
    client = Client5(paho)

    def on_connect(_c: Any, _u: Any, flags: Any, reason: Any, properties: Any) -> None:
        client.connack, client.connack_properties = reason, properties
        if reason.is_failure:
            client.closed.set()
        else:
            client.session_present = bool(flags.session_present)
            client.connected.set()

    def on_disconnect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        client.disconnect_reason = reason
        client.closed.set()

    def on_publish(_c: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        client.pubacks[mid] = reason.value

    paho.on_connect, paho.on_disconnect, paho.on_publish = on_connect, on_disconnect, on_publish
    paho.on_message = lambda _c, _u, message: client.messages.append(message)
    paho.on_subscribe = lambda _c, _u, mid, reasons, _p: client.acks.__setitem__(mid, [r.value for r in reasons])
    properties = None
    if session_expiry is not None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = session_expiry
    _connect_and_wait(paho, served.cloud.domain, client.connected, client.closed, timeout_s,
                      keepalive=60, clean_start=clean_start, properties=properties)
    return client


# raw sockets -----------------------------------------------------------------------------------------------------
def _utf8(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("!H", len(data)) + data


# Deliberately not localcloud's own encoder (mqtt/v5.py ``_varint``): the tests' bytes must not share its bugs.
def _remaining_length(length: int) -> bytes:
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + _remaining_length(len(body)) + body


def connect_packet(client_id: str, *, keepalive: int = 60, clean: bool = True,
                   will: tuple[str, bytes, int, bool] | None = None) -> bytes:
    flags = 0x02 if clean else 0
    payload = _utf8(client_id)
    if will is not None:
        topic, message, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += _utf8(topic) + struct.pack("!H", len(message)) + message
    return packet(0x10, _utf8("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + payload)


def publish_packet(topic: str, payload: bytes, *, qos: int = 0, packet_id: int = 1, retain: bool = False) -> bytes:
    body = _utf8(topic) + (struct.pack("!H", packet_id) if qos else b"") + payload
    return packet(0x30 | (qos << 1) | (1 if retain else 0), body)


PINGREQ = b"\xc0\x00"


def tls_socket(served: Served, identity: Identity | None, region: str = EU, timeout_s: float = 5) -> ssl.SSLSocket:
    """A TLS 1.3 connection to ``region``'s endpoint with SNI = the domain (and ``identity``'s certificate)."""
    context = ssl.create_default_context(cafile=str(served.cloud.pki_dir / "root-ca.crt"))
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    if identity is not None:
        context.load_cert_chain(str(identity.cert), str(identity.key))
    raw = socket.create_connection(("127.0.0.1", served.endpoints.port(region)), timeout=timeout_s)
    return context.wrap_socket(raw, server_hostname=served.cloud.domain)


def raw_connect(served: Served, identity: Identity, *, client_id: str | None = None, keepalive: int = 60,
                will: tuple[str, bytes, int, bool] | None = None, clean: bool = True) -> ssl.SSLSocket:
    """A raw TLS connection that has sent CONNECT and read an accepting CONNACK."""
    sock = tls_socket(served, identity)
    sock.sendall(connect_packet(identity.thing if client_id is None else client_id, keepalive=keepalive,
                                will=will, clean=clean))
    connack = read_exactly(sock, 4)
    assert connack[:1] == b"\x20" and connack[3] == 0, f"CONNECT refused: {connack!r}"
    return sock


def read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def closed_within(sock: socket.socket, timeout_s: float) -> float | None:
    """Seconds until the server closed ``sock`` (EOF or reset), reading and discarding what it sends; None if it is
    still open after ``timeout_s``."""
    start = time.monotonic()
    deadline = start + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            if not sock.recv(4096):
                return time.monotonic() - start
        except TimeoutError:
            return None
        except (ConnectionError, ssl.SSLError, OSError):
            return time.monotonic() - start


@contextmanager
def lowered(served: Served, **values: float) -> Iterator[None]:
    """Lower some of the endpoints' limits (``MqttEndpoints.limits``) for one test, then restore them."""
    limits = served.endpoints.limits
    before = {name: getattr(limits, name) for name in values}
    for name, value in values.items():
        setattr(limits, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(limits, name, value)


# identities and raw-socket helpers shared by the hardening tests -------------------------------------------------------
def operator_device(served: Served, name: str) -> Identity:
    """A device whose application policy may also command any thing (``e/*``) and watch any ``i/`` topic."""
    identity = onboard(served, name)
    grant(served, name, [
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": arn("topic/e/*")},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": arn("topicfilter/i/*")},
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": arn("topic/i/*")}])
    return identity


def any_client_id(served: Served, name: str) -> Identity:
    """A device whose application policy lets it connect with any client id (a gateway, a test harness)."""
    identity = onboard(served, name)
    grant(served, name, [{"Effect": "Allow", "Action": "iot:Connect", "Resource": arn("client/*")}])
    return identity


def accepted_connect(sock: ssl.SSLSocket) -> bool:
    """Read the CONNACK: True when the CONNECT was accepted (return code 0)."""
    try:
        connack = read_exactly(sock, 4)
    except (TimeoutError, ConnectionError, ssl.SSLError, OSError):
        return False
    return connack[:2] == b"\x20\x02" and connack[3] == 0


def subscribe_packet(filters: list[tuple[str, int]], packet_id: int = 1) -> bytes:
    body = struct.pack("!H", packet_id) + b"".join(_utf8(f) + bytes([q]) for f, q in filters)
    return packet(0x82, body)


def suback(sock: ssl.SSLSocket) -> bytes:
    """Read a SUBACK; return its return codes."""
    header = read_exactly(sock, 2)
    assert header[:1] == b"\x90", header
    length, shift, byte = header[1] & 0x7F, 7, header[1]
    while byte & 0x80:
        byte = read_exactly(sock, 1)[0]
        length += (byte & 0x7F) << shift
        shift += 7
    return read_exactly(sock, length)[2:]


def read_packet(sock: ssl.SSLSocket) -> bytes:
    """Read one whole control packet (b"" at the end of the stream)."""
    first = read_exactly(sock, 1)
    if not first:
        return b""
    length, shift = 0, 0
    while True:
        byte = read_exactly(sock, 1)[0]
        length += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return first + read_exactly(sock, length)
