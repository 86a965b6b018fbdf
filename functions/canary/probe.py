"""One canary probe: TLS 1.3 to the region's endpoint with the custom domain as SNI, CONNECT, SUBSCRIBE, PUBLISH
(QoS 1) and receive that same message back. Every step must succeed within the deadline for the probe to pass.

paho-mqtt (pure Python) speaks MQTT 3.1.1; the TCP connection goes to ``Target.host`` (the region's own IoT data
endpoint, so the probe tests this region whatever DNS answers) while the TLS server name stays the domain, which
is how the custom domain configuration is chosen (SNI) and how the server certificate is verified.
"""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


@dataclass(frozen=True)
class Target:
    host: str  # where TCP goes: the region's IoT data endpoint (or a loopback port in the local cloud)
    port: int
    server_name: str  # SNI and the name the server certificate must carry: the custom domain


@dataclass(frozen=True)
class Credentials:
    client_id: str
    certificate_pem: str  # the canary's certificate, then the intermediate
    private_key_pem: str
    trust_pem: str  # the CA(s) the server certificate chains to


@dataclass(frozen=True)
class Outcome:
    success: bool
    step: str  # the step reached: tls, connect, subscribe, publish, receive, done
    detail: str
    seconds: float


class _Client(mqtt.Client):
    tcp_target: tuple[str, int] = ("", 0)

    def _create_socket_connection(self) -> socket.socket:
        return socket.create_connection(self.tcp_target, timeout=self._connect_timeout)


def tls_context(credentials: Credentials) -> ssl.SSLContext:
    """TLS 1.3 only, the server verified against ``trust_pem``, the canary's certificate as client certificate."""
    context = ssl.create_default_context(cadata=credentials.trust_pem)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    with tempfile.TemporaryDirectory(prefix="canary-") as folder:  # load_cert_chain reads files only
        certificate, key = os.path.join(folder, "c.pem"), os.path.join(folder, "k.pem")
        with open(certificate, "w", encoding="ascii") as handle:
            handle.write(credentials.certificate_pem)
        with os.fdopen(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="ascii") as handle:
            handle.write(credentials.private_key_pem)
        context.load_cert_chain(certificate, key)
    return context


def probe(target: Target, credentials: Credentials, topic: str, *, timeout_s: float = 8.0) -> Outcome:
    """Run the probe once; never raises for a failure of the endpoint (the outcome says which step failed)."""
    started = time.monotonic()
    deadline = started + timeout_s
    state: dict[str, Any] = {"connected": None, "granted": None, "received": False}
    token = uuid.uuid4().hex
    client = _Client(CallbackAPIVersion.VERSION2, client_id=credentials.client_id, protocol=mqtt.MQTTv311,
                     clean_session=True)
    client.tcp_target = (target.host, target.port)
    client.connect_timeout = timeout_s
    client.tls_set_context(tls_context(credentials))
    client.on_connect = lambda c, u, f, reason, p: state.update(connected=not reason.is_failure)
    client.on_disconnect = lambda c, u, f, reason, p: state.update(connected=(state["connected"] and None) or False)
    client.on_subscribe = lambda c, u, mid, reasons, p: state.update(granted=[r.value for r in reasons])
    client.on_message = lambda c, u, m: state.update(received=state["received"] or bytes(m.payload) == token.encode())

    def outcome(success: bool, step: str, detail: str) -> Outcome:
        return Outcome(success, step, detail, round(time.monotonic() - started, 3))

    def wait(condition) -> bool:
        while time.monotonic() < deadline:
            if condition():
                return True
            client.loop(timeout=0.05)
        return condition()

    try:
        try:
            client.connect(target.server_name, target.port, keepalive=30)
        except (ssl.SSLError, OSError) as error:
            return outcome(False, "tls", f"{type(error).__name__}: {error}")
        if not wait(lambda: state["connected"] is not None) or not state["connected"]:
            return outcome(False, "connect", "connection closed or refused before CONNACK")
        client.subscribe(topic, qos=1)
        if not wait(lambda: state["granted"] is not None or state["connected"] is False):
            return outcome(False, "subscribe", "no SUBACK in time")
        if not state["granted"] or state["granted"][0] >= 0x80:
            return outcome(False, "subscribe", f"subscription to {topic} refused")
        info = client.publish(topic, token, qos=1)
        if not wait(lambda: info.is_published() or state["connected"] is False) or not info.is_published():
            return outcome(False, "publish", f"no PUBACK for {topic}")
        if not wait(lambda: state["received"]):
            return outcome(False, "receive", f"own message on {topic} not received in time")
        return outcome(True, "done", "published and received its own message")
    finally:
        try:
            client.disconnect()
        except Exception:  # noqa: BLE001 - the probe's outcome is already decided
            pass
