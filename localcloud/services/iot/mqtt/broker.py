"""One region's MQTT endpoint: amqtt's broker, with every decision taken by the emulated IoT Core.

``amqtt`` (https://github.com/Yakifo/amqtt) parses MQTT 3.1.1, keeps sessions and subscriptions, delivers
QoS 0/1. :class:`RegionBroker` subclasses its ``Broker`` at the points of its control flow named below and asks
:class:`localcloud.services.iot.core.IotCore` (through the :class:`~localcloud.services.iot.mqtt.gate.EngineGate`)
every time:

* after the TLS handshake and the CONNECT packet, **before the broker changes anything** (sessions,
  subscriptions, wills, other connections): ``IotCore.connect(region, peer certificate, client id)``, i.e.
  auto-registration and the JITR event, certificate status, client id length, ``iot:Connect`` with policy
  variables; then the will, as a publish the device asks for (``IotCore.check_publish``: ``iot:Publish`` on its
  topic, size; ``IotCore.check_retain`` when retained; QoS 0 or 1). A refusal closes the connection without a
  CONNACK, as AWS IoT closes the TLS session. Only an accepted CONNECT then takes over the client id (the older
  connection is closed first, its will sent: DUPLICATE_CLIENTID), starts a clean session or resumes the
  persistent one, and sets the keep-alive (:mod:`~localcloud.services.iot.mqtt.limits`);
* each incoming PUBLISH, before its PUBACK: ``IotCore.check_retain`` if it is retained (``iot:RetainPublish``),
  then ``IotCore.publish`` (``iot:Publish``, then the region's topic
  rules, queued as AWS runs them asynchronously). A refused publish disconnects the client and is never
  acknowledged, so a QoS 1 message is acknowledged only once the rules engine has it. QoS 2 is refused
  (AWS IoT Core supports QoS 0 and 1);
* each SUBSCRIBE filter: ``IotCore.subscribe`` (``iot:Subscribe`` on ``topicfilter/...``), failure code 0x80;
* each delivery to a subscriber: ``IotCore.may_receive`` (``iot:Receive`` on ``topic/...``), retained messages
  included, which AWS sends only to a subscription whose filter is the message's exact topic;
* a will, when the connection ends without DISCONNECT (lost, keep-alive timeout, malformed packet, taken over):
  ``IotCore.publish`` again, so the rules run on it as on any publish; refused (the policy changed, the certificate
  is no longer ACTIVE), it is not sent;
* a PUBLISH to the fleet provisioning MQTT API's request topics (``$aws/certificates/create-from-csr/json``,
  ``$aws/certificates/create/json``, ``$aws/provisioning-templates/<template>/provision/json``) goes to
  :meth:`localcloud.services.iot.fleet.FleetProvisioning.answer` instead of the rules engine: the same publish checks
  (a refusal disconnects), then the PUBACK, then the reply (``.../accepted`` or ``.../rejected``) is delivered to the
  requesting client only, if it subscribed to that reply topic and may receive it, as AWS answers "through the same
  MQTT connection used to publish the API request"
  (https://docs.aws.amazon.com/iot/latest/developerguide/fleet-provision-api.html).

Every connection is accepted as plain TCP and upgraded to TLS here (``_accept``), with the handshake, the CONNECT
and then each packet under a deadline, at most ``Limits.max_pending`` connections waiting to become sessions (one
more closes the oldest) and every packet read whole and checked first
(:class:`~localcloud.services.iot.mqtt.packets.PacketReader`).

Which amqtt internals this relies on (amqtt 0.12.1, pinned): ``Broker._create_ssl_context``,
``Broker._create_server_instance``, ``Broker._client_connected``, ``Broker._initialize_client_session`` (replaced:
amqtt's changes the session before anyone decides), ``Broker._delete_session``, ``Broker._handle_client_session``,
``Broker._handle_disconnect``, ``Broker._handle_unsubscription``, ``Broker._del_all_subscriptions``,
``Broker._publish_retained_messages_for_subscription``, ``Broker._authenticate``,
``Broker._topic_filtering``, ``Broker._client_message_loop``, ``Broker._handle_message_delivery``,
``Broker._handle_subscription``, ``Broker._publish_session_retained_messages``,
``BrokerProtocolHandler.init_from_connect`` and the handler's ``mqtt_publish`` and
``_handle_qos{0,1,2}_message_flow``; ``tests/localcloud/mqtt`` fails if they change.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import ssl
from functools import partial
from typing import Any

from amqtt.adapters import StreamWriterAdapter
from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.errors import AMQTTError
from amqtt.mqtt.constants import QOS_0, QOS_1
from amqtt.mqtt.disconnect import DisconnectPacket
from amqtt.mqtt.puback import PubackPacket
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.session import INCOMING

from localcloud.services.iot import sql as iot_sql
from localcloud.services.iot.core import Connection, ConnectionRefused, IotCore, PublishRefused
from localcloud.services.iot.fleet import FleetProvisioning
from localcloud.services.iot.mqtt.gate import EngineGate
from localcloud.services.iot.mqtt.limits import Limits
from localcloud.services.iot.mqtt import v5
from localcloud.services.iot.mqtt.packets import PacketReader

LOG = logging.getLogger("localcloud.mqtt")
_CONNECTION = "_localcloud_connection"
_CLAIM = "_localcloud_claim"  # the client id whose claim (RegionBroker._claim) this accepted session holds
_V5 = "_localcloud_v5"  # the session's MQTT 5 state (v5.V5Connection), absent for MQTT 3.1.1
_EXPIRY = "_localcloud_session_expiry_s"  # how long a persistent session outlives its connection
_SUB_REFUSAL = "_localcloud_subscribe_refusal"  # the MQTT 5 reason code of the last refused filter


class _RefusalsLoggedOnce(logging.Filter):
    """amqtt warns "Failed to initialize client session" for every CONNECT it did not get to handle; RegionBroker has
    already logged why (a refusal, at INFO, in ``refusals``; a connection closed for a malformed or missing CONNECT)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Failed to initialize client session")


AMQTT_LOG = logging.getLogger("localcloud.mqtt.amqtt")  # amqtt's own messages from RegionBroker
AMQTT_LOG.addFilter(_RefusalsLoggedOnce())


class _Writer(StreamWriterAdapter):
    """amqtt's stream writer adapter, plus ``abort()`` (close now, whatever is unsent: a peer that does not read
    cannot hold a close up) and ``ended``, set once the connection's handling is over."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        super().__init__(writer)
        self.ended = asyncio.Event()
        self.handshaking = False
        self.v5 = False  # an MQTT 5 connection: a server-side close is preceded by DISCONNECT with a reason code
        self.max_packet_size: int | None = None  # an MQTT 5 client's Maximum Packet Size (the DISCONNECT fits it)

    def write_now(self, data: bytes) -> None:
        """Hand ``data`` to the transport at once (a last CONNACK or DISCONNECT before the connection is closed)."""
        transport = self._writer.transport
        if not self.is_closed and transport is not None and not transport.is_closing():
            transport.write(data)

    @property
    def gone(self) -> bool:
        transport = self._writer.transport
        return self.is_closed or transport is None or transport.is_closing()

    def abort(self, reason: str = "", code: int | None = None) -> None:
        """Close now; on an MQTT 5 connection with ``code``, DISCONNECT with that reason code first."""
        transport = self._writer.transport  # None: lost while its TLS handshake completed
        if code is not None and self.v5:
            try:
                self.write_now(v5.disconnect(code, reason or None, self.max_packet_size))
            except Exception:  # noqa: BLE001 - closing either way
                pass
        if reason:
            LOG.info("closing %s: %s", transport.get_extra_info("peername") if transport else "a connection", reason)
        self.is_closed = True
        if transport is not None:
            transport.abort()


class _IotHandler(BrokerProtocolHandler):
    """amqtt's broker-side protocol handler, asking IoT Core about each incoming PUBLISH before acknowledging it."""

    iot_gate: EngineGate
    iot_core: IotCore
    iot_connection: Connection
    iot_order: asyncio.Lock  # publishes of one connection reach the rules engine in the order they arrived
    iot_fleet: FleetProvisioning | None  # the fleet provisioning MQTT API (None: its topics go to the rules engine)
    iot_broker: RegionBroker
    iot_replies: set[asyncio.Task[Any]]
    iot_inflight: asyncio.Semaphore  # unacknowledged outbound QoS 1 messages (Limits.max_inflight_qos1)
    iot_v5: v5.V5Connection | None  # MQTT 5: what amqtt sends is encoded as MQTT 5 (_send_packet)

    def handle_publish(self, publish_packet: Any) -> Any:
        """Called by amqtt's reader loop right after it parsed the PUBLISH (the coroutine runs later): an MQTT 5
        PUBLISH's payload gets that PUBLISH's properties (v5.V5Payload), which ride with it to every subscriber."""
        if self.iot_v5 is not None and publish_packet.payload is not None:
            publish_packet.payload.data = self.iot_v5.take_publish(publish_packet.payload.data)
        return super().handle_publish(publish_packet)

    async def _send_packet(self, packet: Any) -> None:
        """MQTT 3.1.1 as amqtt built it, or the same packet encoded as MQTT 5 for an MQTT 5 connection."""
        state = self.iot_v5
        if state is None:
            return await super()._send_packet(packet)
        data = self._encode_v5(state, packet)
        if data is None:
            return None
        if state.maximum_packet_size is not None and len(data) > state.maximum_packet_size:
            LOG.info("%s: a %d-byte packet exceeds the client's Maximum Packet Size (%d): discarded",
                     self.iot_connection.client_id, len(data), state.maximum_packet_size)
            return None
        if self.writer is not None and not getattr(self.writer, "is_closed", False):
            async with self._write_lock:
                self.writer.write(data)
                await self.writer.drain()
        return None

    def _encode_v5(self, state: v5.V5Connection, packet: Any) -> bytes | None:
        kind = packet.fixed_header.packet_type
        if kind == 2:  # CONNACK: its properties cut down to the client's Maximum Packet Size ([MQTT-3.1.2-24])
            data = v5.connack(bool(packet.variable_header.session_parent), packet.variable_header.return_code,
                              self.iot_broker.connack_properties(state), state.maximum_packet_size)
            if data is None and isinstance(self.writer, _Writer):  # not even 5 bytes allowed: no CONNACK can be sent
                self.writer.abort(f"the client's Maximum Packet Size ({state.maximum_packet_size}) cannot hold a "
                                  "CONNACK")
            return data
        if kind == 3:  # PUBLISH
            data = packet.payload.data if packet.payload is not None else b""
            if v5.expired(data):
                LOG.info("%s: message on %s expired before delivery", self.iot_connection.client_id,
                         packet.variable_header.topic_name)
                return None
            return v5.publish(packet.fixed_header.flags, packet.variable_header.topic_name,
                              packet.variable_header.packet_id, data)
        if kind == 9:  # SUBACK: the codes _handle_subscription chose (MQTT 5 reason codes for this connection)
            return v5.suback(packet.variable_header.packet_id, list(packet.payload.return_codes))
        if kind == 11:  # UNSUBACK: one reason code per filter
            filters = state.unsubscribe_counts.pop(packet.variable_header.packet_id, [])
            return v5.unsuback(packet.variable_header.packet_id, [v5.SUCCESS] * max(1, len(filters)))
        return packet.to_bytes()  # PUBACK (reason code Success may be left out), PINGRESP


    async def mqtt_publish(self, topic: str, data: bytes | bytearray, qos: int | None, retain: bool,
                           ack_timeout: int | None = None) -> Any:
        """An outbound publish; a QoS 1 one waits while ``Limits.max_inflight_qos1`` others await their PUBACK (AWS:
        "no new messages are sent to the client until the client acknowledges the in-flight messages")."""
        if qos != QOS_1:
            return await super().mqtt_publish(topic, data, qos, retain, ack_timeout)
        async with self.iot_inflight:
            if self._discarded(topic, data, retain):
                return None
            return await super().mqtt_publish(topic, data, qos, retain, ack_timeout)

    def _discarded(self, topic: str, data: bytes | bytearray, retain: bool) -> bool:
        """Whether an outbound QoS 1 message is not sent to this MQTT 5 client at all: expired ([MQTT-3.3.2-5]) or
        over its Maximum Packet Size ([MQTT-3.1.2-25]: discarded, "and then behave as if it had completed sending that
        Application Message"); either way it takes no in-flight slot and waits for no PUBACK."""
        state = self.iot_v5
        if state is None:
            return False
        if v5.expired(data):
            LOG.info("%s: message on %s expired before delivery", self.iot_connection.client_id, topic)
            return True
        if state.maximum_packet_size is not None:
            size = len(v5.publish(0x02 | int(retain), topic, 1, bytes(data) if not isinstance(data, bytes) else data))
            if size > state.maximum_packet_size:
                LOG.info("%s: a %d-byte PUBLISH on %s exceeds the client's Maximum Packet Size (%d): discarded",
                         self.iot_connection.client_id, size, topic, state.maximum_packet_size)
                return True
        return False

    async def _accept(self, app_message: Any) -> bool | int | tuple[str, dict[str, Any]]:
        """True: the rules engine has it; False: refused (disconnected); a pair: the fleet provisioning reply; an
        int: refused, and this MQTT 5 connection stays open: the PUBACK's reason code (QoS 1)."""
        if app_message.direction != INCOMING:
            return True
        async with self.iot_order:
            try:
                packet = app_message.publish_packet
                if packet is not None and packet.retain_flag:  # iot:RetainPublish, then everything else
                    await self.iot_gate.call(self.iot_core.check_retain, self.iot_connection, app_message.topic)
                if self.iot_fleet is not None and self.iot_fleet.is_request(app_message.topic):
                    return await self.iot_gate.call(self.iot_fleet.answer, self.iot_connection, app_message.topic,
                                                    bytes(app_message.data or b""))
                await self.iot_gate.call(self.iot_core.publish, self.iot_connection, app_message.topic,
                                         bytes(app_message.data or b""))
                return True
            except PublishRefused as refused:
                reason = str(refused)
        code, keep = v5_publish_refusal(reason)
        if self.iot_v5 is not None and keep and app_message.qos == QOS_1:
            # MQTT 5: PUBACK with the reason code, connected (AWS: reason codes on every acknowledgement; ours:
            # which refusals keep the connection, see v5_publish_refusal)
            LOG.info("%s: publish to %s refused (PUBACK 0x%02X): %s", self.iot_connection.client_id,
                     app_message.topic, code, reason)
            self.iot_connection.open = True
            return code
        LOG.info("%s: publish to %s refused, disconnecting: %s", self.iot_connection.client_id,
                 app_message.topic, reason)
        if isinstance(self.writer, _Writer):
            self.writer.abort(reason, code)
        return False

    async def _handle_qos0_message_flow(self, app_message: Any) -> None:
        verdict = await self._accept(app_message)
        if isinstance(verdict, tuple):
            await self._reply(*verdict)
        elif verdict:
            await super()._handle_qos0_message_flow(app_message)

    async def _handle_qos1_message_flow(self, app_message: Any) -> None:
        verdict = await self._accept(app_message)
        if verdict is not True and verdict is not False and isinstance(verdict, int):
            async with self._write_lock:
                self.writer.write(v5.puback(app_message.packet_id, verdict))
                await self.writer.drain()
            return
        if isinstance(verdict, tuple):  # answered by the service: acknowledged, never broadcast
            puback = PubackPacket.build(app_message.packet_id)
            await self._send_packet(puback)
            app_message.puback_packet = puback
            await self._reply(*verdict)
        elif verdict:
            await super()._handle_qos1_message_flow(app_message)

    async def _reply(self, topic: str, payload: dict[str, Any]) -> None:
        """Deliver a service reply to this client only: at the QoS of its subscription matching ``topic``, if any,
        and only if ``iot:Receive`` allows it."""
        session = self.session
        broker = self.iot_broker
        granted = [qos for a_filter, subscribers in broker._subscriptions.items() if broker._matches(topic, a_filter)
                   for subscriber, qos in subscribers if subscriber is session]
        if not granted:
            LOG.info("%s: reply on %s dropped: not subscribed", self.iot_connection.client_id, topic)
            return
        if not await self.iot_gate.call(self.iot_core.may_receive, self.iot_connection, topic):
            LOG.info("%s: reply on %s dropped: iot:Receive refused", self.iot_connection.client_id, topic)
            return
        data = json.dumps(payload).encode()
        # not awaited here: a QoS 1 delivery waits for the client's PUBACK, which this handler's reader processes
        task = asyncio.ensure_future(self.mqtt_publish(topic, data, max(granted), retain=False))
        self.iot_replies.add(task)
        task.add_done_callback(self.iot_replies.discard)

    async def _handle_qos2_message_flow(self, app_message: Any) -> None:
        if app_message.direction == INCOMING:
            LOG.info("%s: QoS 2 publish refused (IoT Core supports QoS 0 and 1), disconnecting",
                     self.iot_connection.client_id)
            if isinstance(self.writer, _Writer):  # MQTT 5: over the CONNACK's Maximum QoS, DISCONNECT 0x9B
                self.writer.abort("QoS 2 is not supported (Maximum QoS 1)", v5.QOS_NOT_SUPPORTED)
            return
        await super()._handle_qos2_message_flow(app_message)


def _malformed_shared_filter(topic_filter: str) -> str | None:
    """Why ``$share/...`` is not a shared subscription filter (None: it is one, or not shared): MQTT 5.0 section 4.8.2
    ([MQTT-4.8.2-1], [MQTT-4.8.2-2]), "$share/{ShareName}/{filter}" with a ShareName of at least one character and
    no "/", "+" or "#", followed by "/" and a topic filter (MQTT 3.1.1 connections alike: AWS serves shared
    subscriptions to both)."""
    if not topic_filter.startswith("$share/"):
        return None
    parts = topic_filter.split("/", 2)
    if len(parts) < 3 or not parts[1] or not parts[2]:
        return "a shared subscription is $share/<ShareName>/<topic filter> [MQTT-4.8.2-2]"
    if "+" in parts[1] or "#" in parts[1]:
        return "a ShareName cannot contain + or # [MQTT-4.8.2-2]"
    return None


def v5_publish_refusal(reason: str) -> tuple[int, bool]:
    """An MQTT 5 reason code for IoT Core's refusal of a publish, and whether the connection stays open (a QoS 1
    publish then gets PUBACK with the code). Not authorized (``iot:Publish``, ``iot:RetainPublish``, a reserved
    topic): 0x87, connected; a topic over AWS's limits or invalid: 0x90, connected; the payload over 128 KB: 0x95 and
    disconnected (AWS: PAYLOAD_LIMIT_EXCEEDED, a CLIENT_ERROR disconnect); the connection or certificate no longer
    good: 0x87 and disconnected. The codes are AWS's (mqtt.html, "MQTT reason codes"); which refusals keep the
    connection is our reading of MQTT 5 section 4.13 ("no consequences for other ... Packets flowing on the same
    Session") where AWS says nothing."""
    text = reason.lower()
    if "payload_limit_exceeded" in text:
        return v5.PACKET_TOO_LARGE, False
    if "no longer active" in text or "is closed" in text:
        return v5.NOT_AUTHORIZED, False
    if "not authorized" in text or "reserved" in text:
        return v5.NOT_AUTHORIZED, True
    if "topic" in text:
        return v5.TOPIC_NAME_INVALID, True
    return v5.UNSPECIFIED_ERROR, False


def v5_connect_refusal(reason: str) -> int | None:
    """The CONNACK reason code an MQTT 5 CONNECT refused by IoT Core gets, or None: closed without a CONNACK, as
    for MQTT 3.1.1 (an unknown, pending or inactive certificate, a region down). AWS's codes (mqtt.html, "MQTT reason
    codes": 0x85 Client Identifier not valid, 0x87 Not authorized, 0x97 Quota exceeded, 0x9B QoS not supported)."""
    text = reason.lower()
    if text.startswith("not authorized") or ("will on" in text and "not authorized" in text):
        return v5.NOT_AUTHORIZED
    if "client id" in text:
        return v5.CLIENT_IDENTIFIER_NOT_VALID
    if "limit (limits.max_sessions)" in text:
        return v5.QUOTA_EXCEEDED
    if text.startswith("will with qos"):
        return v5.QOS_NOT_SUPPORTED
    return None


class RegionBroker(Broker):
    """amqtt's broker for one region's endpoint; see the module docstring for what it asks IoT Core."""

    def __init__(self, *, region: str, port: int, ssl_context: ssl.SSLContext, core: IotCore, gate: EngineGate,
                 host: str = "127.0.0.1", fleet: FleetProvisioning | None = None, limits: Limits | None = None) -> None:
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "ssl": True}},
            "plugins": {},  # no amqtt plugins: IoT Core decides (and no $SYS topics, which IoT Core lacks)
        }
        super().__init__(config)
        self.logger = AMQTT_LOG
        self.region = region
        self.ssl_context = ssl_context
        self.core = core
        self.gate = gate
        self.fleet = fleet
        self.limits = limits if limits is not None else Limits()
        self.refusals: list[tuple[str, str]] = []  # (client id, reason), newest last
        self.down = False  # the region is marked down: every connection is closed at once
        self._pending: dict[_Writer, asyncio.Task[Any] | None] = {}  # connections not yet sessions, oldest first
        self._claims: dict[str, list[Any]] = {}  # client id -> [lock, users]: one accepted CONNECT at a time
        self._deliveries: set[asyncio.Task[Any]] = set()  # queued messages being delivered to a resumed session
        self._expiries: dict[str, asyncio.TimerHandle] = {}  # client id -> its offline persistent session's end

    # connections ----------------------------------------------------------------------------------
    def _create_ssl_context(self, listener: Any) -> ssl.SSLContext:  # pyright: ignore[reportIncompatibleMethodOverride]  # amqtt calls it on the instance
        return self.ssl_context

    async def _create_server_instance(self, listener_name: str, listener_type: Any, address: str | None, port: int,
                                      ssl_context: ssl.SSLContext | None) -> asyncio.Server:
        """Plain TCP: ``_accept`` gives each connection its place first, then starts TLS with a deadline."""
        return await asyncio.start_server(partial(self._accept, listener_name=listener_name, ssl_context=ssl_context),
                                          address, port, reuse_address=True)

    def pending_connections(self) -> int:
        """Connections not yet sessions: in the TLS handshake, waiting for CONNECT, or for IoT Core's verdict."""
        return len(self._pending)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, listener_name: str,
                      ssl_context: ssl.SSLContext | None) -> None:
        adapter = _Writer(writer)
        self._pending[adapter] = asyncio.current_task()
        while len(self._pending) > max(1, self.limits.max_pending):
            oldest, task = next(iter(self._pending.items()))
            del self._pending[oldest]
            LOG.info("%d connections are waiting to become sessions: closing the oldest", self.limits.max_pending + 1)
            if oldest.handshaking and task is not None:
                task.cancel()  # asyncio's start_tls only fails cleanly when cancelled, not when its transport is closed
            else:
                oldest.abort()
        try:
            if ssl_context is not None:
                adapter.handshaking = True
                try:
                    await writer.start_tls(ssl_context, ssl_handshake_timeout=self.limits.tls_handshake_timeout_s)
                except asyncio.CancelledError:
                    if adapter in self._pending:  # not evicted: the endpoint is stopping
                        raise
                    return
                except Exception as error:  # noqa: BLE001 - refused, timed out or lost: never a session
                    LOG.debug("TLS handshake failed or timed out: %s", error)
                    return
                finally:
                    adapter.handshaking = False
            if adapter not in self._pending or adapter.gone:  # evicted as the handshake ended, or lost
                return
            packets = PacketReader(reader, self.limits, adapter.abort, timeout_s=self.limits.connect_timeout_s,
                                   answer=adapter.write_now)
            await self._client_connected(listener_name, packets, adapter)
        finally:
            self._pending.pop(adapter, None)
            adapter.abort()
            adapter.ended.set()

    async def _initialize_client_session(self, reader: Any, writer: Any, remote_address: str,
                                         remote_port: int) -> tuple[BrokerProtocolHandler, Any]:
        """Read the CONNECT, let IoT Core decide, and only then change the broker's state (amqtt's own version deletes
        or updates the client id's session before anyone has decided)."""
        try:
            handler, session = await BrokerProtocolHandler.init_from_connect(reader, writer, self.plugins_manager)
        except Exception as error:
            reason = getattr(reader, "closed_because", None) or f"{type(error).__name__}: {error}"
            writer.abort(f"no valid CONNECT: {reason}")
            raise AMQTTError(f"no valid CONNECT: {reason}") from error
        if getattr(reader, "pending_bytes", 0):  # PacketReader checks this too: never serve unchecked bytes
            writer.abort("bytes after the CONNECT payload")
            raise AMQTTError("bytes after the CONNECT payload")
        if getattr(reader, "connect_client_id", None) == "":
            session.client_id = ""  # amqtt invented one; IoT Core decides on what the device sent (refused)
        client_id = session.client_id or ""
        state: v5.V5Connection | None = getattr(reader, "v5", None)
        try:
            connection = await self._decide(writer, session)
        except ConnectionRefused as refused:
            self.refusals.append((client_id, refused.reason))
            code = v5_connect_refusal(refused.reason) if state is not None else None
            if code is not None and state is not None:  # MQTT 5: CONNACK with AWS's reason code, then closed
                LOG.info("%s in %s: CONNACK 0x%02X: %s", client_id, self.region, code, refused.reason)
                writer.write_now(v5.refusal_connack(code, refused.reason, state.maximum_packet_size))
            else:
                LOG.info("%s in %s: connection closed: %s", client_id, self.region, refused.reason)
            writer.abort()
            raise AMQTTError(refused.reason) from None
        if writer.gone:  # closed while IoT Core decided (evicted, or the peer left): it must not take over
            raise AMQTTError(f"{client_id}: connection closed before the CONNACK")
        # Accepted: from here on the broker's state changes, one accepted CONNECT per client id at a time, from the
        # take-over until amqtt registers the session (released in _handle_client_session, with no await between).
        self._pending.pop(writer, None)
        if state is not None:
            setattr(session, _V5, state)
            writer.v5 = True
            writer.max_packet_size = state.maximum_packet_size
        await self._claim(client_id)
        try:
            session = await self._become_session(client_id, session, writer)
        except BaseException:
            self._release(client_id)
            raise
        reader.timeout_s = self.limits.idle_timeout_s(session.keep_alive)  # 1.5 times the clamped keep-alive
        reader.connected = True
        session.keep_alive = 0  # amqtt's own keep-alive timer is off: PacketReader enforces AWS's
        setattr(session, _CONNECTION, connection)
        setattr(session, _CLAIM, client_id)
        return handler, session

    async def _claim(self, client_id: str) -> None:
        entry = self._claims.setdefault(client_id, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            await entry[0].acquire()
        except BaseException:
            entry[1] -= 1
            if not entry[1]:
                self._claims.pop(client_id, None)
            raise

    def _release(self, client_id: str) -> None:
        entry = self._claims.get(client_id)
        if entry is None:
            return
        entry[0].release()
        entry[1] -= 1
        if not entry[1]:
            del self._claims[client_id]

    async def _become_session(self, client_id: str, session: Any, writer: _Writer) -> Any:
        """Holding the client id's claim: take it over, then start a clean session or resume a persistent one."""
        for _ in range(3):  # re-check: the connection closed may have been replaced while it ended
            await self._take_over(client_id)
            existing = self._sessions.get(client_id)
            if existing is None or not existing[0].transitions.is_connected():
                break
        if writer.gone:  # the peer left while waiting for its turn
            raise AMQTTError(f"{client_id}: connection closed before the CONNACK")
        existing = self._sessions.get(client_id)
        expiry = self._expiries.pop(client_id, None)
        if expiry is not None:
            expiry.cancel()
        state: v5.V5Connection | None = getattr(session, _V5, None)
        # MQTT 5: Clean Start 1 discards the session, 0 resumes it; amqtt saw Clean Start as clean session
        if session.clean_session or existing is None or existing[0].clean_session:
            # [MQTT-3.1.2-6]: a clean session ends with its connection (amqtt drops it only a second later)
            await self._delete_session(client_id)
            session.parent = 0
        else:
            existing, _ = existing  # resume the persistent session with this CONNECT's will
            for name in ("will_flag", "will_message", "will_topic", "will_qos", "will_retain", "keep_alive",
                         "username", "password"):
                setattr(existing, name, getattr(session, name))
            previous: v5.V5Connection | None = getattr(existing, _V5, None)
            if state is not None and previous is not None:  # subscription options are session state (MQTT 5.0
                state.subscription_options = previous.subscription_options  # section 4.1), No Local included
            setattr(existing, _V5, state)
            session, session.parent = existing, 1
        if state is not None:  # MQTT 5: the session outlives the connection only with a Session Expiry Interval
            session.clean_session = state.session_expiry_s == 0
            setattr(session, _EXPIRY, min(float(state.session_expiry_s), self.limits.session_expiry_max_s))
        elif not session.clean_session:
            setattr(session, _EXPIRY, self.limits.session_expiry_max_s)
        return session

    def connack_properties(self, state: v5.V5Connection) -> Any:
        """The CONNACK properties of an MQTT 5 connection: what the endpoint supports, as AWS IoT Core documents it
        (mqtt.html, "MQTT 5 supported features" and "MQTT 5 properties"; message broker limits)."""
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        properties = Properties(PacketTypes.CONNACK)
        if state.session_expiry_s > self.limits.session_expiry_max_s:
            properties.SessionExpiryInterval = int(self.limits.session_expiry_max_s)
        properties.ReceiveMaximum = self.limits.receive_maximum
        properties.MaximumQoS = 1
        properties.RetainAvailable = 1
        properties.MaximumPacketSize = self.limits.max_packet_bytes
        properties.TopicAliasMaximum = self.limits.topic_alias_maximum
        properties.WildcardSubscriptionAvailable = 1
        properties.SubscriptionIdentifierAvailable = 0  # AWS IoT Core does not support subscription identifiers
        properties.SharedSubscriptionAvailable = 1
        keep_alive = int(self.limits.keep_alive_s(state.keep_alive_requested))
        if keep_alive != state.keep_alive_requested:
            properties.ServerKeepAlive = keep_alive  # [MQTT-3.2.2-21]: the client uses this instead of its own
        return properties

    async def _decide(self, writer: _Writer, session: Any) -> Connection:
        """IoT Core's verdict on a CONNECT (ConnectionRefused says why); nothing in the broker changes here."""
        if self.down:
            raise ConnectionRefused(f"{self.region} is down")
        ssl_object = writer.get_ssl_info()
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            raise ConnectionRefused("TLS handshake without a client certificate")
        client_id = session.client_id or ""
        sessions = sum(1 for other, (s, _) in self._sessions.items()
                       if other != client_id and s.transitions.is_connected())
        if sessions >= self.limits.max_sessions:
            raise ConnectionRefused(f"the endpoint holds {sessions} sessions, its limit (Limits.max_sessions)")
        will = (session.will_topic, bytes(session.will_message or b""), session.will_qos, bool(session.will_retain)) \
            if session.will_flag else None
        return await self.gate.call(self._authorize_connect, ssl.DER_cert_to_PEM_cert(der), client_id, will)

    def _authorize_connect(self, certificate_pem: str, client_id: str,
                           will: tuple[str, bytes, int, bool] | None) -> Connection:
        """On the gate's worker: ``IotCore.connect``, then the will as a publish (QoS, topic, size, retain)."""
        connection = self.core.connect(self.region, certificate_pem, client_id)
        if will is not None:
            topic, message, qos, retain = will
            if qos not in (0, 1):
                raise ConnectionRefused(f"will with QoS {qos}: AWS IoT supports QoS 0 and 1")
            try:
                self.core.check_publish(connection, topic, message)
                if retain:
                    self.core.check_retain(connection, topic)
            except PublishRefused as refused:
                raise ConnectionRefused(f"will on {topic!r} refused: {refused}") from None
        return connection

    async def _take_over(self, client_id: str) -> None:
        """Close the client id's current connection, if any, and wait until the broker has ended it (its will sent):
        "the new client connection is accepted and the previously connected client is disconnected" (AWS)."""
        existing = self._sessions.get(client_id)
        if existing is None or not existing[0].transitions.is_connected():
            return
        old_session, old_handler = existing
        old = getattr(old_session, _CONNECTION, None)
        LOG.info("%s in %s: a newer connection takes the client id over", client_id, self.region)
        if isinstance(old_handler.writer, _Writer):
            old_handler.writer.abort("another connection took the client id over (DUPLICATE_CLIENTID)",
                                     v5.SESSION_TAKEN_OVER)
            try:
                await asyncio.wait_for(old_handler.writer.ended.wait(), timeout=5)
            except TimeoutError:
                LOG.warning("%s: the older connection did not end within 5 s", client_id)
        if old is not None:
            old.open = False

    async def _handle_client_session(self, reader: Any, writer: Any, client_session: Any, handler: Any,
                                     server: Any, listener_name: str) -> None:
        connection: Connection = getattr(client_session, _CONNECTION)
        handler.__class__ = _IotHandler
        handler.iot_gate, handler.iot_core, handler.iot_connection = self.gate, self.core, connection
        handler.iot_order = asyncio.Lock()
        handler.iot_fleet, handler.iot_broker, handler.iot_replies = self.fleet, self, set()
        handler.iot_v5 = getattr(client_session, _V5, None)
        receive_maximum = handler.iot_v5.receive_maximum if handler.iot_v5 is not None else self.limits.max_inflight_qos1
        handler.iot_inflight = asyncio.Semaphore(max(1, min(self.limits.max_inflight_qos1, receive_maximum)))
        claim = getattr(client_session, _CLAIM, None)
        if claim is not None:  # amqtt registers the session before its first await: the next claimant sees it
            delattr(client_session, _CLAIM)
            self._release(claim)
        await super()._handle_client_session(reader, writer, client_session, handler, server, listener_name)

    async def _client_message_loop(self, client_session: Any, handler: Any) -> None:
        """amqtt's loop, and whatever ends it (amqtt leaves it on a delivery it dislikes without handling the
        disconnect), the connection is closed and ended as a connection lost: will, session state."""
        try:
            await super()._client_message_loop(client_session, handler)
        finally:
            registered = self._sessions.get(client_session.client_id, (None, None))[1]
            if registered is handler and client_session.transitions.is_connected():
                if isinstance(handler.writer, _Writer):
                    handler.writer.abort("the client loop ended")
                lost: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                lost.set_result(None)
                await self._handle_disconnect(client_session, handler, lost)

    async def _handle_message_delivery(self, client_session: Any, handler: Any, wait_deliver: Any) -> bool:
        """A publish to a ``$`` topic reaches here only once IoT Core accepted it (iot:Publish, rules run, PUBACK);
        amqtt would refuse it and leave the client loop. Delivered to subscribers like any other (amqtt's matching
        keeps ``+``/``#`` first-level filters off it, [MQTT-4.7.2-1]), except Basic Ingest (``$aws/rules/...``), which
        goes to the rules engine only (https://docs.aws.amazon.com/iot/latest/developerguide/iot-basic-ingest.html)."""
        app_message = wait_deliver.result()
        topic = getattr(app_message, "topic", None) or ""
        if not topic.startswith("$"):
            return await super()._handle_message_delivery(client_session, handler, wait_deliver)
        if not topic.startswith("$aws/rules/"):
            await self._broadcast_message(client_session, topic, app_message.data)
        return True

    async def _handle_disconnect(self, client_session: Any, handler: Any, disconnect_waiter: Any) -> None:
        """Without DISCONNECT the will is sent, through IoT Core first (so the rules run on it); refused, not at all."""
        if client_session.will_flag and not isinstance(disconnect_waiter.result(), DisconnectPacket):
            connection: Connection | None = getattr(client_session, _CONNECTION, None)
            if connection is None or not await self._send_will(connection, client_session):
                client_session.will_flag = False  # amqtt would deliver it to subscribers
        await super()._handle_disconnect(client_session, handler, disconnect_waiter)
        state: v5.V5Connection | None = getattr(client_session, _V5, None)
        if state is not None:  # its DISCONNECT may have changed the Session Expiry Interval
            client_session.clean_session = client_session.clean_session or state.session_expiry_s == 0
            setattr(client_session, _EXPIRY, min(float(state.session_expiry_s), self.limits.session_expiry_max_s))
        if not client_session.clean_session:
            self._expire_later(client_session)

    def _expire_later(self, session: Any) -> None:
        """A persistent session ends ``_EXPIRY`` seconds after its connection closed unless resumed (AWS: one hour by
        default; MQTT 5: the Session Expiry Interval, at most that), its subscriptions and queued messages with it."""
        client_id = session.client_id
        previous = self._expiries.pop(client_id, None)
        if previous is not None:
            previous.cancel()

        def expire() -> None:
            self._expiries.pop(client_id, None)
            current = self._sessions.get(client_id, (None, None))[0]
            if current is session and not session.transitions.is_connected():
                LOG.info("%s in %s: persistent session expired", client_id, self.region)
                task = asyncio.ensure_future(self._delete_session(client_id))
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)

        delay = float(getattr(session, _EXPIRY, self.limits.session_expiry_max_s))
        self._expiries[client_id] = asyncio.get_running_loop().call_later(max(0.0, delay), expire)
        # Judgement (AWS publishes no quota on stored persistent sessions): at most Limits.max_sessions offline
        # persistent sessions per endpoint, like connected ones; one more ends the one that would expire first, as if
        # its expiry had come (a loop of CONNECTs under new client ids cannot grow the broker without limit).
        while len(self._expiries) > max(1, self.limits.max_sessions):
            soonest = min(self._expiries, key=lambda other: self._expiries[other].when())
            self._expiries.pop(soonest).cancel()
            evicted = self._sessions.get(soonest, (None, None))[0]
            if evicted is None or evicted.transitions.is_connected():
                continue
            LOG.info("%s in %s: persistent session ended early: more than %d offline sessions", soonest, self.region,
                     self.limits.max_sessions)
            del self._sessions[soonest]  # at once (a CONNECT under this client id now starts a new session)
            task = asyncio.ensure_future(self._drop_session(evicted))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def _drop_session(self, session: Any) -> None:
        """A session already out of ``_sessions``: its subscriptions and queued messages go too."""
        await self._del_all_subscriptions(session)
        session.clear_queues()

    async def _send_will(self, connection: Connection, session: Any) -> bool:
        will = dataclasses.replace(connection, open=True)  # the connection is gone; the will is its last publish
        topic, message = session.will_topic, bytes(session.will_message or b"")
        try:
            if session.will_retain:
                await self.gate.call(self.core.check_retain, will, topic)
            await self.gate.call(self.core.publish, will, topic, message)
        except PublishRefused as refused:
            LOG.info("%s: will on %s not sent: %s", connection.client_id, topic, refused)
            return False
        return True

    async def _authenticate(self, session: Any, _: Any) -> bool:
        return getattr(session, _CONNECTION, None) is not None

    # subscriptions and delivery -------------------------------------------------------------------
    async def add_subscription(self, subscription: tuple[str, int], session: Any) -> int:
        topic_filter, qos = subscription
        return await super().add_subscription((topic_filter, min(qos, QOS_1)), session)

    async def _handle_subscription(self, client_session: Any, handler: Any, subscribe_waiter: Any) -> None:
        """amqtt's, within AWS's limits: a SUBSCRIBE of more than ``Limits.max_filters_per_subscribe`` filters gets
        0x80 for each; a filter that would make more than ``Limits.max_subscriptions`` gets 0x80."""
        subscriptions = subscribe_waiter.result()
        topics = list(subscriptions.topics)
        client_id = client_session.client_id
        state: v5.V5Connection | None = getattr(client_session, _V5, None)
        options = dict(state.pending_options.pop(subscriptions.packet_id, [])) if state is not None else {}
        if len(topics) > self.limits.max_filters_per_subscribe:
            LOG.info("%s: SUBSCRIBE with %d filters refused (AWS: at most %d)", client_id, len(topics),
                     self.limits.max_filters_per_subscribe)
            code = v5.QUOTA_EXCEEDED if state is not None else 0x80
            await handler.mqtt_acknowledge_subscription(subscriptions.packet_id, [code] * len(topics))
            return
        codes = []
        for topic_filter, qos in topics:
            malformed = _malformed_shared_filter(topic_filter)
            if malformed is not None:
                LOG.info("%s: subscription to %s refused: %s", client_id, topic_filter, malformed)
                codes.append(v5.TOPIC_FILTER_INVALID if state is not None else 0x80)
                continue
            held = {f for f, subscribers in self._subscriptions.items()
                    if any(s is client_session for s, _ in subscribers)}
            if topic_filter not in held and len(held) >= self.limits.max_subscriptions:
                LOG.info("%s: subscription to %s refused: %d held (AWS: at most %d per connection)", client_id,
                         topic_filter, len(held), self.limits.max_subscriptions)
                codes.append(v5.QUOTA_EXCEEDED if state is not None else 0x80)
                continue
            setattr(client_session, _SUB_REFUSAL, v5.TOPIC_FILTER_INVALID)  # amqtt's own wildcard checks say 0x80
            code = await self.add_subscription((topic_filter, qos), client_session)
            if code == 0x80 and state is not None:  # MQTT 5: why (0x87 Not authorized, 0x8F Topic Filter invalid)
                code = getattr(client_session, _SUB_REFUSAL, v5.UNSPECIFIED_ERROR)
            elif state is not None:
                state.subscription_options[topic_filter] = options.get(topic_filter, v5.SubscriptionOptions())
            codes.append(code)
        await handler.mqtt_acknowledge_subscription(subscriptions.packet_id, codes)
        for (topic_filter, qos), code in zip(topics, codes, strict=True):
            option = options.get(topic_filter)
            if code < 0x80 and not (option is not None and option.retain_handling == 2):
                await self._publish_retained_messages_for_subscription((topic_filter, qos), client_session)

    async def _handle_unsubscription(self, client_session: Any, handler: Any, unsubscribe_waiter: Any) -> None:
        """amqtt's; then an MQTT 5 session forgets the options of the filters it no longer holds."""
        await super()._handle_unsubscription(client_session, handler, unsubscribe_waiter)
        state: v5.V5Connection | None = getattr(client_session, _V5, None)
        if state is None:
            return
        for topic_filter in unsubscribe_waiter.result().topics:
            if not any(s is client_session for s, _ in self._subscriptions.get(topic_filter, ())):
                state.subscription_options.pop(topic_filter, None)

    async def _run_broadcast(self, running_tasks: Any) -> None:
        """amqtt's broadcast of one message, plus shared subscriptions and MQTT 5's No Local: a filter
        ``$share/<group>/<filter>`` gets each matching message once per group, sent to one member chosen at random
        among those connected (or, for QoS 1, queued for an offline persistent one) that ``iot:Receive`` allows
        ("shared subscription sends a published message to only one of its subscribers in a random manner", AWS IoT
        blog, "How to get started with the new shared subscriptions in AWS IoT Core"; MQTT 3.1.1 and 5 alike); a
        subscription with No Local is not sent its own client's messages ([MQTT-3.8.3-3])."""
        broadcast = await self._broadcast_queue.get()
        topic, source = broadcast["topic"], broadcast["session"]
        for a_filter, subscriptions in list(self._subscriptions.items()):
            shared = a_filter.startswith("$share/") and a_filter.count("/") >= 2
            real_filter = a_filter.split("/", 2)[2] if shared else a_filter
            if not self._matches(topic, real_filter) or (shared and topic.startswith("$") and
                                                           real_filter.startswith(("+", "#"))):
                continue
            targets = []
            for target, sub_qos in subscriptions:
                state: v5.V5Connection | None = getattr(target, _V5, None)
                option = state.subscription_options.get(a_filter) if state is not None else None
                if option is not None and option.no_local and target is source:
                    continue
                targets.append((target, broadcast.get("qos", sub_qos)))
            if shared:
                random.shuffle(targets)
            for target, qos in targets:
                if not await self._topic_filtering(target, topic=topic, action=Action.RECEIVE):
                    continue
                connected = target.transitions.state == "connected"
                if not connected and not target.clean_session and qos in (QOS_1, 2) and not target.is_anonymous:
                    await self._retain_broadcast_message(broadcast, qos, target)
                elif connected and (handler := self._get_handler(target)) is not None:
                    running_tasks.append(asyncio.ensure_future(
                        handler.mqtt_publish(topic, broadcast["data"], qos, retain=False)))
                else:
                    continue
                if shared:
                    break  # one member of the group

    async def _publish_session_retained_messages(self, session: Any) -> None:
        """Messages queued (QoS 1) while a persistent session was offline, sent once it is resumed: each only if
        ``iot:Receive`` allows it for the connection that resumed it (AWS checks Receive on every delivery), and
        with RETAIN 0, as the ordinary deliveries they are ([MQTT-3.3.1-9]); amqtt sent them unchecked, retained,
        and waited for every PUBACK before serving the client."""
        handler = self._get_handler(session)
        if handler is None:
            return
        while not session.retained_messages.empty():
            queued = session.retained_messages.get_nowait()
            if v5.expired(queued.data):  # MQTT 5 Message Expiry Interval passed while the session was offline
                LOG.info("%s: queued message on %s expired", session.client_id, queued.topic)
                continue
            if not await self._topic_filtering(session, queued.topic, Action.RECEIVE):
                LOG.info("%s: queued message on %s dropped: iot:Receive refused", session.client_id, queued.topic)
                continue
            qos = queued.qos if queued.qos is not None else QOS_0
            task = asyncio.ensure_future(handler.mqtt_publish(queued.topic, queued.data, min(qos, QOS_1), retain=False))
            self._deliveries.add(task)
            task.add_done_callback(self._delivered)

    def _delivered(self, task: asyncio.Task[Any]) -> None:
        self._deliveries.discard(task)
        if not task.cancelled() and task.exception() is not None:
            LOG.info("a queued message was not delivered: %s", task.exception())

    async def _publish_retained_messages_for_subscription(self, subscription: tuple[str, int], session: Any) -> None:
        """The retained message of a subscription whose filter is its exact topic ("Subscription to topic filters
        that contain a wildcard character can't receive retained messages", AWS), to this session only (amqtt also
        calls this, on reconnect, with every filter any client holds), if ``iot:Receive`` allows it."""
        topic_filter, qos = subscription
        retained = self._retained_messages.get(topic_filter)
        if retained is None or not any(s is session for s, _ in self._subscriptions.get(topic_filter, ())):
            return
        if v5.expired(retained.data):  # [MQTT-3.3.2-5]: an expired retained message is not sent
            return
        if not await self._topic_filtering(session, retained.topic, Action.RECEIVE):
            return
        handler = self._get_handler(session)
        if handler is not None:
            retained_qos = retained.qos if retained.qos is not None else qos
            await handler.mqtt_publish(retained.topic, retained.data, min(qos, retained_qos, QOS_1), retain=True)

    async def _topic_filtering(self, session: Any, topic: str, action: Action) -> bool:
        connection: Connection | None = getattr(session, _CONNECTION, None)
        if connection is None:
            return False
        if action == Action.PUBLISH:
            return True  # decided (rules included) before the PUBACK, in _IotHandler
        if action == Action.SUBSCRIBE:
            try:
                await self.gate.call(self.core.subscribe, connection, topic)
                return True
            except PublishRefused as refused:
                LOG.info("%s: subscribe to %s refused: %s", connection.client_id, topic, refused)
                text = str(refused).lower()
                if "no longer active" in text or "is closed" in text:  # the certificate was revoked (or the
                    setattr(session, _SUB_REFUSAL, v5.NOT_AUTHORIZED)  # connection closed): 0x87, and it stays
                    return False  # closed, so its next publish disconnects it
                if "not authorized" in text:  # the policy: IoT Core answers SUBACK 0x80 and keeps the client connected
                    connection.open = True
                    setattr(session, _SUB_REFUSAL, v5.NOT_AUTHORIZED)
                else:
                    setattr(session, _SUB_REFUSAL, v5.TOPIC_FILTER_INVALID)  # MQTT 5: 0x8F, a filter over AWS's limits
                return False
            except iot_sql.IotSqlError as invalid:
                LOG.info("%s: invalid topic filter %s: %s", connection.client_id, topic, invalid)
                setattr(session, _SUB_REFUSAL, v5.TOPIC_FILTER_INVALID)
                return False
        return await self.gate.call(self.core.may_receive, connection, topic)

    def connections(self) -> list[Connection]:
        """Open connections (connected sessions) of this endpoint."""
        found = []
        for session, _ in self._sessions.values():
            connection = getattr(session, _CONNECTION, None)
            if connection is not None and session.transitions.is_connected():
                found.append(connection)
        return found

    async def disconnect_all(self) -> None:
        """Close every client's network connection (the region going down), and every connection not yet a
        session. Closing is one-sided: a peer still sending or already gone makes no difference."""
        for pending in list(self._pending):
            pending.abort()
        for session, handler in list(self._sessions.values()):
            if handler is not None and isinstance(handler.writer, _Writer) and session.transitions.is_connected():
                handler.writer.abort()
