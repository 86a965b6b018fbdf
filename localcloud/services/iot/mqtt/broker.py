"""One region's MQTT endpoint: amqtt's broker, with every decision taken by the emulated IoT Core.

``amqtt`` (https://github.com/Yakifo/amqtt) parses MQTT 3.1.1, keeps sessions and subscriptions, delivers
QoS 0/1 and does client-id take-over. :class:`RegionBroker` subclasses its ``Broker`` at four documented
points of its control flow and asks :class:`localcloud.services.iot.core.IotCore` (through the
:class:`~localcloud.services.iot.mqtt.gate.EngineGate`) every time:

* after the TLS handshake and the CONNECT packet: ``IotCore.connect(region, peer certificate, client id)``,
  i.e. auto-registration and the JITR event, certificate status, ``iot:Connect`` with policy variables. A
  refusal closes the connection without a CONNACK, as AWS IoT closes the TLS session;
* each incoming PUBLISH, before its PUBACK: ``IotCore.publish`` (``iot:Publish``, then the region's topic
  rules, queued as AWS runs them asynchronously). A refused publish disconnects the client and is never
  acknowledged, so a QoS 1 message is acknowledged only once the rules engine has it. QoS 2 is refused
  (AWS IoT Core supports QoS 0 and 1);
* each SUBSCRIBE filter: ``IotCore.subscribe`` (``iot:Subscribe`` on ``topicfilter/...``), failure code 0x80;
* each delivery to a subscriber: ``IotCore.may_receive`` (``iot:Receive`` on ``topic/...``);
* a PUBLISH to the fleet provisioning MQTT API's request topics (``$aws/certificates/create-from-csr/json``,
  ``$aws/provisioning-templates/<template>/provision/json``) goes to
  :meth:`localcloud.services.iot.fleet.FleetProvisioning.answer` instead of the rules engine: the same publish checks
  (a refusal disconnects), then the PUBACK, then the reply (``.../accepted`` or ``.../rejected``) is delivered to the
  requesting client only, if it subscribed to that reply topic and may receive it, as AWS answers "through the same
  MQTT connection used to publish the API request"
  (https://docs.aws.amazon.com/iot/latest/developerguide/fleet-provision-api.html).

Which amqtt internals this relies on (amqtt 0.12.1, pinned): ``Broker._create_ssl_context``,
``Broker._handle_client_session``, ``Broker._authenticate``, ``Broker._topic_filtering`` and the handler's
``_handle_qos{0,1,2}_message_flow``; ``tests/localcloud/mqtt`` fails if they change.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.mqtt.constants import QOS_1
from amqtt.mqtt.puback import PubackPacket
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.session import INCOMING

from localcloud.services.iot import sql as iot_sql
from localcloud.services.iot.core import Connection, ConnectionRefused, IotCore, PublishRefused
from localcloud.services.iot.fleet import FleetProvisioning
from localcloud.services.iot.mqtt.gate import EngineGate

LOG = logging.getLogger("localcloud.mqtt")
_CONNECTION = "_localcloud_connection"


class _IotHandler(BrokerProtocolHandler):
    """amqtt's broker-side protocol handler, asking IoT Core about each incoming PUBLISH before acknowledging it."""

    iot_gate: EngineGate
    iot_core: IotCore
    iot_connection: Connection
    iot_order: asyncio.Lock  # publishes of one connection reach the rules engine in the order they arrived
    iot_fleet: FleetProvisioning | None  # the fleet provisioning MQTT API (None: its topics go to the rules engine)
    iot_broker: RegionBroker
    iot_replies: set[asyncio.Task[Any]]

    async def _accept(self, app_message: Any) -> bool | tuple[str, dict[str, Any]]:
        """True: the rules engine has it; False: refused (disconnected); a pair: the fleet provisioning reply."""
        if app_message.direction != INCOMING:
            return True
        async with self.iot_order:
            try:
                if self.iot_fleet is not None and self.iot_fleet.is_request(app_message.topic):
                    return await self.iot_gate.call(self.iot_fleet.answer, self.iot_connection, app_message.topic,
                                                    bytes(app_message.data or b""))
                await self.iot_gate.call(self.iot_core.publish, self.iot_connection, app_message.topic,
                                         bytes(app_message.data or b""))
                return True
            except PublishRefused as refused:
                reason = str(refused)
        LOG.info("%s: publish to %s refused, disconnecting: %s", self.iot_connection.client_id,
                 app_message.topic, reason)
        if self.writer is not None:
            await self.writer.close()
        return False

    async def _handle_qos0_message_flow(self, app_message: Any) -> None:
        verdict = await self._accept(app_message)
        if isinstance(verdict, tuple):
            await self._reply(*verdict)
        elif verdict:
            await super()._handle_qos0_message_flow(app_message)

    async def _handle_qos1_message_flow(self, app_message: Any) -> None:
        verdict = await self._accept(app_message)
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
            if self.writer is not None:
                await self.writer.close()
            return
        await super()._handle_qos2_message_flow(app_message)


class RegionBroker(Broker):
    """amqtt's broker for one region's endpoint; see the module docstring for what it asks IoT Core."""

    def __init__(self, *, region: str, port: int, ssl_context: ssl.SSLContext, core: IotCore, gate: EngineGate,
                 host: str = "127.0.0.1", fleet: FleetProvisioning | None = None) -> None:
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "ssl": True}},
            "plugins": {},  # no amqtt plugins: IoT Core decides (and no $SYS topics, which IoT Core lacks)
        }
        super().__init__(config)
        self.region = region
        self.ssl_context = ssl_context
        self.core = core
        self.gate = gate
        self.fleet = fleet
        self.refusals: list[tuple[str, str]] = []  # (client id, reason), newest last
        self.down = False  # the region is marked down: every connection is closed at once

    def _create_ssl_context(self, listener: Any) -> ssl.SSLContext:  # type: ignore[override]
        return self.ssl_context

    async def _handle_client_session(self, reader: Any, writer: Any, client_session: Any, handler: Any,
                                     server: Any, listener_name: str) -> None:
        ssl_object = writer.get_ssl_info()
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        client_id = client_session.client_id or ""
        try:
            if self.down:
                raise ConnectionRefused(f"{self.region} is down")
            if not der:
                raise ConnectionRefused("TLS handshake without a client certificate")
            connection = await self.gate.call(self.core.connect, self.region, ssl.DER_cert_to_PEM_cert(der),
                                              client_id)
        except ConnectionRefused as refused:
            self.refusals.append((client_id, refused.reason))
            LOG.info("%s in %s: connection closed: %s", client_id, self.region, refused.reason)
            await writer.close()
            return
        setattr(client_session, _CONNECTION, connection)
        handler.__class__ = _IotHandler
        handler.iot_gate, handler.iot_core, handler.iot_connection = self.gate, self.core, connection
        handler.iot_order = asyncio.Lock()
        handler.iot_fleet, handler.iot_broker, handler.iot_replies = self.fleet, self, set()
        await super()._handle_client_session(reader, writer, client_session, handler, server, listener_name)

    async def _authenticate(self, session: Any, _: Any) -> bool:
        return getattr(session, _CONNECTION, None) is not None

    async def add_subscription(self, subscription: tuple[str, int], session: Any) -> int:
        topic_filter, qos = subscription
        return await super().add_subscription((topic_filter, min(qos, QOS_1)), session)

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
                connection.open = True  # IoT Core answers SUBACK 0x80 and keeps the client connected
                return False
            except iot_sql.IotSqlError as invalid:
                LOG.info("%s: invalid topic filter %s: %s", connection.client_id, topic, invalid)
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
        """Close every client's network connection (the region going down). Closing is one-sided: a TLS peer still
        sending (``APPLICATION_DATA_AFTER_CLOSE_NOTIFY``) or already gone makes no difference to the outcome."""
        for session, handler in list(self._sessions.values()):
            if handler is not None and handler.writer is not None and session.transitions.is_connected():
                try:
                    await handler.writer.close()
                except (OSError, ConnectionError):  # ssl.SSLError is an OSError
                    LOG.debug("closing %s's connection: the peer was already gone or still talking",
                              session.client_id)
