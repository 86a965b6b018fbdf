"""One MQTT 3.1.1 or MQTT 5 session over TLS 1.3 with a device certificate, on paho-mqtt (https://eclipse.dev/paho/).

Client id = thing name (the device policy allows nothing else), SNI = the custom domain. A connection the
endpoint closes before its CONNACK (what AWS IoT does on a first connection while just-in-time registration
runs, or for an unknown, inactive or revoked certificate), a CONNACK refusing it, or a failed TLS handshake is
:class:`Refused`; :func:`connect_with_backoff` retries those with full-jitter backoff. With ``mqtt_version=5`` the
endpoint's reason codes (CONNACK, PUBACK, SUBACK, DISCONNECT; AWS IoT Core's, e.g. 0x87 Not authorized) are
reported in :class:`Refused`, :class:`Rejected` and :class:`Lost`.
"""

from __future__ import annotations

import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from device.backoff import full_jitter
from device.endpoint import Endpoint

Message = Callable[[str, bytes], None]


class Refused(Exception):
    """The endpoint did not let the device in (yet); ``reason`` says how it showed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Lost(Exception):
    """The connection went away before the broker acknowledged a message."""


class Rejected(Lost):
    """MQTT 5: the broker acknowledged a publish with a failure reason code (PUBACK 0x80 or more)."""

    def __init__(self, reason: str, code: int) -> None:
        super().__init__(reason)
        self.code = code


def describe(reason: Any) -> str:
    """A paho reason code as ``Name (0xNN)``."""
    value = getattr(reason, "value", reason)
    return f"{reason} (0x{value:02X})" if isinstance(value, int) else str(reason)


@dataclass(frozen=True)
class Identity:
    thing: str
    cert: Path
    key: Path
    ca: Path | None  # None: the system's trust store (AWS with a public server certificate)

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca) if self.ca else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.load_cert_chain(str(self.cert), str(self.key))
        return context


class _Client(mqtt.Client):
    """paho's client, with TCP to ``endpoint.host`` while the TLS server name stays the domain."""

    tcp_target: tuple[str, int] | None = None

    def _create_socket_connection(self) -> socket.socket:
        if self.tcp_target is None:
            return super()._create_socket_connection()
        return socket.create_connection(self.tcp_target, timeout=self._connect_timeout)


@dataclass
class Session:
    endpoint: Endpoint
    identity: Identity
    on_message: Message | None = None
    keepalive_s: int = 30
    timeout_s: float = 5.0
    mqtt_version: int = 4  # 4: MQTT 3.1.1, 5: MQTT 5
    _client: _Client | None = field(default=None, init=False, repr=False)
    _connected: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _closed: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _refusal: str = field(default="", init=False, repr=False)
    _granted: dict[int, list[int]] = field(default_factory=dict, init=False, repr=False)
    _pubacks: dict[int, Any] = field(default_factory=dict, init=False, repr=False)
    _disconnect: str = field(default="", init=False, repr=False)  # MQTT 5: the endpoint's DISCONNECT reason

    @property
    def connected(self) -> bool:
        return self._connected.is_set() and not self._closed.is_set()

    def open(self) -> None:
        """Handshake and CONNECT once; raise :class:`Refused` unless the endpoint accepts."""
        if self.mqtt_version not in (4, 5):
            raise ValueError(f"mqtt_version {self.mqtt_version}: 4 (MQTT 3.1.1) or 5 (MQTT 5)")
        if self.mqtt_version == 5:
            client = _Client(CallbackAPIVersion.VERSION2, client_id=self.identity.thing, protocol=mqtt.MQTTv5)
        else:
            client = _Client(CallbackAPIVersion.VERSION2, client_id=self.identity.thing,
                             protocol=mqtt.MQTTv311, clean_session=True)
        client.tls_set_context(self.identity.tls_context())
        client.connect_timeout = self.timeout_s
        proxy = self.endpoint.proxy
        if proxy is not None:
            import socks  # PySocks: paho's proxy support

            client.proxy_set(proxy_type=socks.SOCKS5, proxy_addr=proxy.host, proxy_port=proxy.port, proxy_rdns=True,
                             proxy_username=proxy.location, proxy_password="x" if proxy.location else None)
        elif self.endpoint.host != self.endpoint.sni:
            client.tcp_target = (self.endpoint.host, self.endpoint.port)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        self._connected.clear()
        self._closed.clear()
        self._refusal = ""
        self._disconnect = ""
        options: dict[str, Any] = {"clean_start": True} if self.mqtt_version == 5 else {}
        try:
            client.connect(self.endpoint.sni, self.endpoint.port, keepalive=self.keepalive_s, **options)
        except (ssl.SSLError, OSError) as error:
            raise Refused(f"TLS/TCP: {error}") from error
        client.loop_start()
        self._client = client
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline and not (self._connected.is_set() or self._closed.is_set()):
            self._connected.wait(0.02)
        if not self._connected.is_set():
            self.close()
            raise Refused(self._refusal or "no CONNACK in time")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._refusal = f"CONNACK refused: {describe(reason)}"
            self._closed.set()
        else:
            self._connected.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not self._connected.is_set() and not self._refusal:
            self._refusal = "connection closed before CONNACK"
        if self.mqtt_version == 5 and getattr(reason, "is_failure", False) and self._connected.is_set():
            self._disconnect = f"DISCONNECT {describe(reason)}"  # sent by the endpoint (or paho's own error)
        self._closed.set()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        if self.on_message is not None:
            self.on_message(message.topic, bytes(message.payload))

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        self._granted[mid] = [r.value for r in reasons]

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        self._pubacks[mid] = reason

    def _lost(self, what: str) -> Lost:
        how = "closed" if self._closed.is_set() else "silent"
        return Lost(f"{what} (connection {how}{': ' + self._disconnect if self._disconnect else ''})")

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> None:
        """Publish and, for QoS 1, wait for the PUBACK; raise :class:`Lost` if the connection goes first."""
        if self._client is None or not self.connected:
            raise Lost("not connected")
        info = self._client.publish(topic, payload, qos=qos)
        deadline = time.monotonic() + self.timeout_s
        while qos and not info.is_published():
            if self._closed.is_set() or time.monotonic() > deadline:
                raise self._lost(f"no PUBACK for {topic}")
            time.sleep(0.005)
        reason = self._pubacks.pop(info.mid, None)
        if qos and reason is not None and getattr(reason, "is_failure", False):
            raise Rejected(f"PUBACK for {topic}: {describe(reason)}", reason.value)

    def subscribe(self, topic_filter: str, qos: int = 1) -> int:
        """Subscribe; return the granted QoS, or the failure code (0x80 or more) when the endpoint refused the filter
        (MQTT 3.1.1: 0x80; MQTT 5: its reason code, e.g. 0x87 Not authorized)."""
        if self._client is None or not self.connected:
            raise Lost("not connected")
        _, mid = self._client.subscribe(topic_filter, qos=qos)
        deadline = time.monotonic() + self.timeout_s
        while mid not in self._granted:
            if self._closed.is_set() or time.monotonic() > deadline:
                raise self._lost(f"no SUBACK for {topic_filter}")
            time.sleep(0.005)
        return self._granted.pop(mid)[0]

    def wait_closed(self, timeout_s: float) -> bool:
        return self._closed.wait(timeout_s)

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
        self._closed.set()


def connect_with_backoff(make: Callable[[], Session], *, attempts: int = 8, base_s: float = 0.5, cap_s: float = 30.0,
                         sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None,
                         on_refused: Callable[[int, str, float], None] | None = None) -> tuple[Session, int]:
    """Open a new session until one is accepted; return it and how many attempts it took."""
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    for attempt in range(attempts):
        session = make()
        try:
            session.open()
            return session, attempt + 1
        except Refused as refused:
            if attempt == attempts - 1:
                raise
            delay = full_jitter(attempt, base_s=base_s, cap_s=cap_s, rng=rng)
            if on_refused is not None:
                on_refused(attempt + 1, refused.reason, delay)
            sleep(delay)
    raise AssertionError("unreachable")
