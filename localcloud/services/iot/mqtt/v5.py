"""MQTT 5 on the endpoints: a translating layer in front of amqtt (MQTT 3.1.1), with paho-mqtt's codec for properties.

amqtt 0.12.1 (the newest on PyPI) speaks MQTT 3.1.1 only. Every decision IoT Core takes (TLS, certificate, JITR,
``iot:Connect``/``Publish``/``Subscribe``/``Receive``, rules, wills, retain, limits) is already made through
amqtt's control flow in :mod:`~localcloud.services.iot.mqtt.broker`, so MQTT 5 is added at the edges of a connection
rather than beside it:

* inbound, :class:`~localcloud.services.iot.mqtt.packets.PacketReader` reads each whole MQTT 5 packet and hands
  :meth:`V5Connection.inbound` the body; it returns the MQTT 3.1.1 packet amqtt parses (properties stripped and kept
  here: a PUBLISH's properties ride on its payload as a :class:`V5Payload`, subscription options by filter, the
  CONNECT's session expiry, receive maximum, topic alias maximum), resolves topic aliases, and refuses what AWS IoT
  Core does not support (:class:`V5Refusal`: DISCONNECT with a reason code, then the connection is closed);
* outbound, the broker's handler encodes what amqtt sends (CONNACK, PUBLISH, PUBACK, SUBACK, UNSUBACK) as MQTT 5
  with :func:`connack`, :func:`publish`, :func:`suback`, :func:`unsuback`, :func:`puback`, :func:`disconnect`.

Properties are held in ``paho.mqtt.properties.Properties`` (paho-mqtt 2.2, Eclipse's, pinned for the device tool)
but encoded and decoded here, in one linear pass (:func:`_properties`, :func:`_pack`: paho's codec is quadratic in user
properties and raises KeyError on an unknown identifier); the rest of the MQTT 5 framing is a few lines of struct.
Sources: the MQTT 5.0 specification (OASIS,
https://docs.oasis-open.org/mqtt/mqtt/v5.0/mqtt-v5.0.html, rules quoted as [MQTT-x.y.z-n]) and AWS IoT Core's MQTT 5
support (https://docs.aws.amazon.com/iot/latest/developerguide/mqtt.html#mqtt5, its "MQTT 5 properties" and "MQTT
reason codes" sections, and the message broker limits, https://docs.aws.amazon.com/general/latest/gr/iot-core.html).
docs/emulator.md, "MQTT endpoints", says which feature is modelled, refused as AWS does, or not modelled.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import MQTTException, Properties

# Reason codes (MQTT 5.0 section 2.4) the endpoints send
SUCCESS = 0x00
NO_SUBSCRIPTION_EXISTED = 0x11
UNSPECIFIED_ERROR = 0x80
MALFORMED_PACKET = 0x81
PROTOCOL_ERROR = 0x82
UNSUPPORTED_PROTOCOL_VERSION = 0x84
CLIENT_IDENTIFIER_NOT_VALID = 0x85
BAD_USER_NAME_OR_PASSWORD = 0x86
NOT_AUTHORIZED = 0x87
SERVER_UNAVAILABLE = 0x88
SERVER_SHUTTING_DOWN = 0x8B
BAD_AUTHENTICATION_METHOD = 0x8C
KEEP_ALIVE_TIMEOUT = 0x8D
SESSION_TAKEN_OVER = 0x8E
TOPIC_FILTER_INVALID = 0x8F
TOPIC_NAME_INVALID = 0x90
TOPIC_ALIAS_INVALID = 0x94
PACKET_TOO_LARGE = 0x95
QUOTA_EXCEEDED = 0x97
QOS_NOT_SUPPORTED = 0x9B
SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1

# MQTT 3.1.1 CONNACK return codes amqtt sends, as MQTT 5 reason codes
_CONNACK_V5 = {0: SUCCESS, 1: UNSUPPORTED_PROTOCOL_VERSION, 2: CLIENT_IDENTIFIER_NOT_VALID, 3: SERVER_UNAVAILABLE,
               4: BAD_USER_NAME_OR_PASSWORD, 5: NOT_AUTHORIZED}


class V5Refusal(Exception):
    """A packet the endpoint answers with DISCONNECT ``code`` and closes the connection for."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class DisconnectWithWill(Exception):
    """The client's DISCONNECT asked for its will (reason code 0x04): the connection ends as if lost."""


class V5Payload(bytes):
    """A PUBLISH payload with the MQTT 5 properties it arrived with (passed through to MQTT 5 subscribers; MQTT 3.1.1
    subscribers get the bytes alone, as AWS describes cross-version delivery) and when it arrived (message expiry)."""

    properties: Properties
    received_at: float

    def __new__(cls, data: bytes, properties: Properties, received_at: float | None = None) -> V5Payload:
        payload = super().__new__(cls, data)
        payload.properties = properties
        payload.received_at = time.monotonic() if received_at is None else received_at
        return payload

    def __bytes__(self) -> bytes:
        """Itself: amqtt copies a payload with ``bytes(data)`` on its way to each subscriber (ApplicationMessage.
        build_publish_packet); a bytes subclass whose ``__bytes__`` returns itself keeps its properties through that."""
        return self

    def expiry_left(self, now: float | None = None) -> int | None:
        """Seconds of the Message Expiry Interval left (None: it has none); 0 or less: expired."""
        interval = getattr(self.properties, "MessageExpiryInterval", None)
        if interval is None:
            return None
        elapsed = (time.monotonic() if now is None else now) - self.received_at
        return int(interval - elapsed)


def expired(data: Any, now: float | None = None) -> bool:
    """Whether a message's Message Expiry Interval has passed ([MQTT-3.3.2-5]: not delivered then)."""
    left = data.expiry_left(now) if isinstance(data, V5Payload) else None
    return left is not None and left <= 0


@dataclass
class SubscriptionOptions:
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0


@dataclass
class V5Connection:
    """What one MQTT 5 connection negotiated, and what its packets need between inbound and outbound."""

    session_expiry_s: int = 0
    clean_start: bool = True
    receive_maximum: int = 65535  # the client's: outbound QoS 1 in flight at most
    topic_alias_maximum_client: int = 0  # aliases the client accepts (the endpoints send none)
    maximum_packet_size: int | None = None  # the client's
    request_problem_information: bool = True
    keep_alive_requested: int = 0
    topic_alias_maximum: int = 8  # the endpoint's (Limits.topic_alias_maximum)
    aliases: dict[int, str] = field(default_factory=dict)
    subscription_options: dict[str, SubscriptionOptions] = field(default_factory=dict)
    pending_options: dict[int, list[tuple[str, SubscriptionOptions]]] = field(default_factory=dict)
    unsubscribe_counts: dict[int, list[str]] = field(default_factory=dict)
    will_properties: Properties | None = None

    # inbound ------------------------------------------------------------------------------------------
    def inbound(self, packet_type: int, flags: int, body: bytes) -> bytes:
        """An MQTT 5 packet's fixed header byte and body -> the MQTT 3.1.1 packet for amqtt (whole, with header)."""
        try:
            if packet_type == 3:
                return self._publish(flags, body)
            if packet_type in (4, 5, 6, 7):  # PUBACK/PUBREC/PUBREL/PUBCOMP: packet id [reason code [properties]]
                if len(body) < 2:
                    raise V5Refusal(MALFORMED_PACKET, "acknowledgement without a packet identifier")
                return _packet(packet_type, flags, body[:2])
            if packet_type == 8:
                return self._subscribe(flags, body)
            if packet_type == 10:
                return self._unsubscribe(flags, body)
            if packet_type == 12:
                return _packet(12, 0, b"")
            if packet_type == 14:
                return self._disconnect(body)
            if packet_type == 15:
                raise V5Refusal(PROTOCOL_ERROR, "AUTH without an authentication method in CONNECT (AWS IoT Core "
                                                "does not support enhanced authentication)")
        except (MQTTException, IndexError, KeyError, ValueError, struct.error) as error:
            raise V5Refusal(MALFORMED_PACKET, f"malformed MQTT 5 packet type {packet_type}: {error}") from None
        raise V5Refusal(PROTOCOL_ERROR, f"packet type {packet_type} from a client")

    def _publish(self, flags: int, body: bytes) -> bytes:
        qos = (flags >> 1) & 0x03
        topic_raw, at = _binary(body, 0)
        topic = topic_raw.decode("utf-8")
        packet_id = body[at:at + 2] if qos else b""
        at += len(packet_id)
        properties, at = _properties(PacketTypes.PUBLISH, body, at)
        alias = getattr(properties, "TopicAlias", None)
        if alias is not None:
            if alias == 0 or alias > self.topic_alias_maximum:
                raise V5Refusal(TOPIC_ALIAS_INVALID, f"topic alias {alias} (the endpoint accepts 1 to "
                                                     f"{self.topic_alias_maximum}) (MQTT 5.0 section 3.3.2.3.4)")
            if topic:
                self.aliases[alias] = topic
            elif alias in self.aliases:
                topic = self.aliases[alias]
            else:
                raise V5Refusal(PROTOCOL_ERROR, f"empty topic with unknown topic alias {alias}")
            del properties.TopicAlias
        elif not topic:
            raise V5Refusal(PROTOCOL_ERROR, "PUBLISH with an empty topic and no topic alias")
        if getattr(properties, "SubscriptionIdentifier", None) is not None:
            raise V5Refusal(PROTOCOL_ERROR, "PUBLISH from a client with a subscription identifier")
        _check_response_topic(properties)
        self.pending_publish = V5Payload(body[at:], properties)
        encoded_topic = topic.encode("utf-8")
        return _packet(3, flags, struct.pack("!H", len(encoded_topic)) + encoded_topic + packet_id + body[at:])

    pending_publish: V5Payload | None = None

    def take_publish(self, data: bytes) -> bytes:
        """The payload amqtt parsed from the last translated PUBLISH, with that PUBLISH's properties."""
        pending, self.pending_publish = self.pending_publish, None
        if pending is None or bytes(pending) != bytes(data):
            return data
        return pending

    def _subscribe(self, flags: int, body: bytes) -> bytes:
        packet_id = body[:2]
        properties, at = _properties(PacketTypes.SUBSCRIBE, body, 2)
        if getattr(properties, "SubscriptionIdentifier", None) is not None:
            raise V5Refusal(SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED,
                            "subscription identifiers are not supported (CONNACK said so)")
        out = bytearray(packet_id)
        options: list[tuple[str, SubscriptionOptions]] = []
        while at < len(body):
            raw, at = _binary(body, at)
            topic_filter = raw.decode("utf-8")
            byte = body[at]
            at += 1
            if byte & 0xC0:
                raise V5Refusal(MALFORMED_PACKET, "SUBSCRIBE options with reserved bits set")
            retain_handling = (byte >> 4) & 0x03
            if retain_handling == 3 or byte & 0x03 == 3:
                raise V5Refusal(PROTOCOL_ERROR, "SUBSCRIBE with QoS 3 or Retain Handling 3")
            option = SubscriptionOptions(bool(byte & 0x04), bool(byte & 0x08), retain_handling)
            if option.no_local and topic_filter.startswith("$share/"):
                raise V5Refusal(PROTOCOL_ERROR, "No Local on a shared subscription")
            options.append((topic_filter, option))
            out += struct.pack("!H", len(raw)) + raw + bytes([byte & 0x03])
        self.pending_options[int.from_bytes(packet_id, "big")] = options
        return _packet(8, flags, bytes(out))

    def _unsubscribe(self, flags: int, body: bytes) -> bytes:
        packet_id = body[:2]
        _, at = _properties(PacketTypes.UNSUBSCRIBE, body, 2)
        filters = []
        rest = bytearray(packet_id)
        while at < len(body):
            raw, at = _binary(body, at)
            filters.append(raw.decode("utf-8"))
            rest += struct.pack("!H", len(raw)) + raw
        self.unsubscribe_counts[int.from_bytes(packet_id, "big")] = filters
        return _packet(10, flags, bytes(rest))

    def _disconnect(self, body: bytes) -> bytes:
        code = body[0] if body else SUCCESS
        if len(body) > 1:
            properties, _ = _properties(PacketTypes.DISCONNECT, body, 1)
            expiry = getattr(properties, "SessionExpiryInterval", None)
            if expiry is not None:
                if self.session_expiry_s == 0 and expiry != 0:
                    raise V5Refusal(PROTOCOL_ERROR, "DISCONNECT setting a session expiry on a CONNECT that had none "
                                                    "[MQTT-3.14.2-2]")
                self.session_expiry_s = expiry
        if code == 0x04:
            raise DisconnectWithWill("DISCONNECT with reason code 0x04: the will is sent")
        return _packet(14, 0, b"")


def translate_connect(body: bytes) -> tuple[bytes, V5Connection]:
    """An MQTT 5 CONNECT body -> the MQTT 3.1.1 CONNECT (whole packet) amqtt parses, and the connection's MQTT 5 state.
    Raises :class:`V5Refusal` for what the endpoint answers with a CONNACK reason code."""
    try:
        return _translate_connect(body)
    except (MQTTException, IndexError, KeyError, ValueError, struct.error) as error:
        raise V5Refusal(MALFORMED_PACKET, f"malformed MQTT 5 CONNECT: {error}") from None


def _translate_connect(body: bytes) -> tuple[bytes, V5Connection]:
    name, at = _binary(body, 0)
    flags = body[at + 1]  # body[at] is the protocol level, 5
    # MQTT 5.0 section 3.1.2.3: a malformed CONNECT is answered with CONNACK 0x81 (never DISCONNECT before CONNACK)
    if flags & 0x01:
        raise V5Refusal(MALFORMED_PACKET, "CONNECT reserved flag is 1 [MQTT-3.1.2-3]")
    if (flags >> 3) & 0x03 == 3:
        raise V5Refusal(MALFORMED_PACKET, "CONNECT will QoS 3 [MQTT-3.1.2-12]")
    if not flags & 0x04 and flags & 0x38:
        raise V5Refusal(MALFORMED_PACKET, "CONNECT will QoS or Will Retain without the will flag [MQTT-3.1.2-11], "
                                          "[MQTT-3.1.2-13]")
    (keep_alive,) = struct.unpack("!H", body[at + 2:at + 4])
    at += 4
    properties, at = _properties(PacketTypes.CONNECT, body, at)
    state = V5Connection(
        session_expiry_s=getattr(properties, "SessionExpiryInterval", 0) or 0,
        clean_start=bool(flags & 0x02),
        receive_maximum=getattr(properties, "ReceiveMaximum", 65535),
        topic_alias_maximum_client=getattr(properties, "TopicAliasMaximum", 0),
        maximum_packet_size=getattr(properties, "MaximumPacketSize", None),
        request_problem_information=bool(getattr(properties, "RequestProblemInformation", 1)),
        keep_alive_requested=keep_alive,
    )
    if state.receive_maximum == 0 or state.maximum_packet_size == 0:
        raise V5Refusal(PROTOCOL_ERROR, "Receive Maximum or Maximum Packet Size of 0")
    if getattr(properties, "AuthenticationMethod", None) is not None:
        raise V5Refusal(BAD_AUTHENTICATION_METHOD, "enhanced authentication (Authentication Method) is not supported "
                                                   "by AWS IoT Core")
    client_id, at = _binary(body, at)
    payload = struct.pack("!H", len(client_id)) + client_id
    if flags & 0x04:
        will_properties, at = _properties(PacketTypes.WILLMESSAGE, body, at)
        _check_response_topic(will_properties)
        state.will_properties = will_properties
        will_topic, at = _binary(body, at)
        will_message, at = _binary(body, at)
        payload += struct.pack("!H", len(will_topic)) + will_topic + struct.pack("!H", len(will_message)) + will_message
    if flags & 0x80:
        user, at = _binary(body, at)
        payload += struct.pack("!H", len(user)) + user
    if flags & 0x40:
        password, at = _binary(body, at)
        if flags & 0x80:
            payload += struct.pack("!H", len(password)) + password
        else:  # MQTT 5.0 section 3.1.2.9 allows a password without a user name (MQTT 3.1.1 does not): AWS IoT
            flags &= ~0x40  # authenticates the certificate and ignores it, so amqtt's MQTT 3.1.1 CONNECT goes without
    if at != len(body):
        raise V5Refusal(MALFORMED_PACKET, f"{len(body) - at} bytes after the CONNECT payload")
    variable = struct.pack("!H", len(name)) + name + bytes([4, flags]) + struct.pack("!H", keep_alive)
    return _packet(1, 0, variable + payload), state


# outbound -------------------------------------------------------------------------------------------
# CONNACK properties in the order they are kept when the client's Maximum Packet Size cannot hold them all: what
# restricts the client first (a client assumes the default of an absent property: QoS 2, no receive limit, its own
# keep-alive and session expiry, no packet limit), then what only repeats a default; Reason String and User Property
# last ([MQTT-3.2.2-19], [MQTT-3.2.2-20]: not sent if they would make the CONNACK too large).
_CONNACK_PRIORITY = ("MaximumQoS", "SubscriptionIdentifierAvailable", "ReceiveMaximum", "ServerKeepAlive",
                     "SessionExpiryInterval", "MaximumPacketSize", "TopicAliasMaximum", "AssignedClientIdentifier",
                     "RetainAvailable", "WildcardSubscriptionAvailable", "SharedSubscriptionAvailable",
                     "ResponseInformation", "ServerReference", "AuthenticationMethod", "AuthenticationData",
                     "ReasonString", "UserProperty")


def connack(session_present: bool, return_code: int, properties: Properties | None = None,
            max_size: int | None = None) -> bytes | None:
    """An MQTT 5 CONNACK for amqtt's (MQTT 3.1.1) one, with the server's properties. With the client's Maximum Packet
    Size ``max_size`` ([MQTT-3.1.2-24]: nothing larger is sent), properties are left out, the least restrictive
    first, until it fits (every CONNACK property is optional); None when not even a CONNACK without properties fits."""
    code = _CONNACK_V5.get(return_code, return_code)
    body = bytes([1 if session_present and code == SUCCESS else 0, code])
    properties = properties or Properties(PacketTypes.CONNACK)
    data = _packet(2, 0, body + _pack(properties))
    if max_size is None or len(data) <= max_size:
        return data
    fitted = Properties(PacketTypes.CONNACK)
    data = _packet(2, 0, body + _pack(fitted))
    if len(data) > max_size:
        return None
    for name in _CONNACK_PRIORITY:
        value = properties.__dict__.get(name)
        if value is None:
            continue
        object.__setattr__(fitted, name, value)
        candidate = _packet(2, 0, body + _pack(fitted))
        if len(candidate) > max_size:
            object.__delattr__(fitted, name)
        else:
            data = candidate
    return data


def refusal_connack(code: int, reason: str | None = None, max_size: int | None = None) -> bytes:
    """A refusing CONNACK; its Reason String left out if it would exceed the client's Maximum Packet Size
    ([MQTT-3.2.2-19]). The packet without it is 5 bytes, within any Maximum Packet Size (the smallest is 1, but a
    client allowing fewer than 5 bytes could never be sent a CONNACK at all)."""
    properties = Properties(PacketTypes.CONNACK)
    if reason and _with_reason_fits(2, bytes([0, code]), reason[:200], max_size):
        properties.ReasonString = reason[:200]
    return _packet(2, 0, bytes([0, code]) + _pack(properties))


def _with_reason_fits(packet_type: int, head: bytes, reason: str, max_size: int | None) -> bool:
    if max_size is None:
        return True
    properties = Properties(PacketTypes.CONNACK if packet_type == 2 else PacketTypes.DISCONNECT)
    properties.ReasonString = reason
    return len(_packet(packet_type, 0, head + _pack(properties))) <= max_size


def publish(flags: int, topic: str, packet_id: int | None, data: bytes, *, retain_published: bool | None = None,
            now: float | None = None) -> bytes:
    """An MQTT 5 PUBLISH to a subscriber: the publisher's properties (a remaining Message Expiry Interval; no topic
    alias or subscription identifier), or none."""
    properties = Properties(PacketTypes.PUBLISH)
    if isinstance(data, V5Payload):
        for name in ("PayloadFormatIndicator", "ContentType", "ResponseTopic", "CorrelationData", "UserProperty"):
            value = getattr(data.properties, name, None)
            if value is not None:
                setattr(properties, name, value)
        left = data.expiry_left(now)
        if left is not None:
            properties.MessageExpiryInterval = max(1, left)
    if retain_published is not None:
        flags = (flags & ~0x01) | int(retain_published)
    encoded = topic.encode("utf-8")
    variable = struct.pack("!H", len(encoded)) + encoded + (struct.pack("!H", packet_id) if packet_id else b"")
    return _packet(3, flags, variable + _pack(properties) + bytes(data))


def puback(packet_id: int, code: int = SUCCESS, reason: str | None = None) -> bytes:
    if code == SUCCESS and not reason:
        return _packet(4, 0, struct.pack("!H", packet_id))
    properties = Properties(PacketTypes.PUBACK)
    if reason:
        properties.ReasonString = reason[:200]
    return _packet(4, 0, struct.pack("!H", packet_id) + bytes([code]) + _pack(properties))


def suback(packet_id: int, codes: list[int]) -> bytes:
    return _packet(9, 0, struct.pack("!H", packet_id) + b"\x00" + bytes(codes))


def unsuback(packet_id: int, codes: list[int]) -> bytes:
    return _packet(11, 0, struct.pack("!H", packet_id) + b"\x00" + bytes(codes))


def disconnect(code: int, reason: str | None = None, max_size: int | None = None) -> bytes:
    """A server DISCONNECT; its Reason String left out if it would exceed the client's Maximum Packet Size
    ([MQTT-3.14.2-3])."""
    properties = Properties(PacketTypes.DISCONNECT)
    if reason and _with_reason_fits(14, bytes([code]), reason[:200], max_size):
        properties.ReasonString = reason[:200]
    return _packet(14, 0, bytes([code]) + _pack(properties))


def _check_response_topic(properties: Properties) -> None:
    """[MQTT-3.3.2-14]: a Response Topic is a Topic Name, without wildcards: a Protocol Error otherwise."""
    response_topic = getattr(properties, "ResponseTopic", None)
    if response_topic is not None and ("+" in response_topic or "#" in response_topic or not response_topic):
        raise V5Refusal(PROTOCOL_ERROR, f"Response Topic {response_topic!r} is not a topic name [MQTT-3.3.2-14]")


# framing ---------------------------------------------------------------------------------------------
def _packet(packet_type: int, flags: int, body: bytes) -> bytes:
    return bytes([(packet_type << 4) | flags]) + _varint(len(body)) + body


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _binary(body: bytes, at: int) -> tuple[bytes, int]:
    if at + 2 > len(body):
        raise IndexError("field runs past the packet")
    (length,) = struct.unpack("!H", body[at:at + 2])
    if at + 2 + length > len(body):
        raise IndexError("field runs past the packet")
    return body[at + 2:at + 2 + length], at + 2 + length


# Properties (MQTT 5.0 section 2.2.2): decoded and encoded here in one linear pass. paho's Properties stays the
# container (its attribute names, UserProperty as a list of pairs), but not its codec: paho's unpack concatenates the
# UserProperty list once per pair (quadratic: ~39,000 empty pairs in one 195 KB packet took seconds of the one event
# loop every region's endpoint shares), raises KeyError on an unknown identifier, and accepts a repeated
# single-occurrence property. Here every byte of a property block is looked at a bounded number of times, so the work
# per packet is bounded by its size (Limits.max_packet_bytes).
_BYTE, _TWO, _FOUR, _VBI, _BINARY, _STRING, _PAIR = range(7)
_REPEATABLE = frozenset({11, 38})  # Subscription Identifier, User Property: the only ones allowed more than once
_ZERO_OR_ONE = frozenset({1, 23, 25})  # Payload Format Indicator, Request Problem/Response Information


def _property_table() -> dict[int, tuple[str, int, frozenset[int]]]:
    """identifier -> (paho's attribute name, data type, packet types it is valid in), from paho's own table."""
    reference = Properties(PacketTypes.CONNECT)
    names = {ident: name.replace(" ", "") for name, ident in reference.names.items()}
    return {ident: (names[ident], kind, frozenset(packets)) for ident, (kind, packets) in sorted(reference.properties.items())}


_PROPERTIES = _property_table()


def _vbi(body: bytes, at: int, end: int) -> tuple[int, int]:
    """A Variable Byte Integer at ``at`` (at most four bytes, within ``end``) and the offset after it."""
    value, multiplier = 0, 1
    for n in range(4):
        if at + n >= end:
            raise V5Refusal(MALFORMED_PACKET, "a Variable Byte Integer runs past its field [MQTT-1.5.5]")
        byte = body[at + n]
        value += (byte & 0x7F) * multiplier
        if not byte & 0x80:
            return value, at + n + 1
        multiplier *= 128
    raise V5Refusal(MALFORMED_PACKET, "a Variable Byte Integer longer than four bytes [MQTT-1.5.5]")


def _field(body: bytes, at: int, end: int) -> tuple[bytes, int]:
    """Two-byte length-prefixed Binary Data within ``end``."""
    if at + 2 > end:
        raise V5Refusal(MALFORMED_PACKET, "a property runs past the property length")
    length = (body[at] << 8) | body[at + 1]
    if at + 2 + length > end:
        raise V5Refusal(MALFORMED_PACKET, "a property runs past the property length")
    return body[at + 2:at + 2 + length], at + 2 + length


def _text(body: bytes, at: int, end: int) -> tuple[str, int]:
    """A UTF-8 Encoded String: well-formed, without U+0000 ([MQTT-1.5.4-1], [MQTT-1.5.4-2]: else malformed)."""
    raw, at = _field(body, at, end)
    if not raw:
        return "", at
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise V5Refusal(MALFORMED_PACKET, "a property string is not well-formed UTF-8 [MQTT-1.5.4-1]") from None
    if "\x00" in text:
        raise V5Refusal(MALFORMED_PACKET, "a property string contains U+0000 [MQTT-1.5.4-2]")
    return text, at


def _properties(packet_type: int, body: bytes, at: int) -> tuple[Properties, int]:
    """The property block at ``at`` of a ``packet_type`` packet, and the offset after it. Raises :class:`V5Refusal`:
    0x81 for a length running past the packet, an identifier not valid for the packet type (section 2.2.2.2) or a
    value not of its type; 0x82 for a single-occurrence property given twice, or a value the specification calls a
    Protocol Error (0 for a Subscription Identifier, not 0 or 1 for the indicators)."""
    length, at = _vbi(body, at, len(body))
    end = at + length
    if end > len(body):
        raise V5Refusal(MALFORMED_PACKET, "the property length runs past the packet")
    properties = Properties(packet_type)
    values: dict[str, Any] = {}
    pairs: list[tuple[str, str]] = []
    identifiers: list[int] = []
    while at < end:
        ident = body[at]
        at += 1
        spec = _PROPERTIES.get(ident)
        if spec is None or packet_type not in spec[2]:
            raise V5Refusal(MALFORMED_PACKET, f"property identifier {ident} is not valid in a "
                                              f"{PacketTypes.Names[packet_type]} packet [MQTT-2.2.2]")
        name, kind, _ = spec
        value: Any
        if kind == _PAIR:
            key, at = _text(body, at, end)
            text, at = _text(body, at, end)
            pairs.append((key, text))
            continue
        if kind == _BYTE:
            if at + 1 > end:
                raise V5Refusal(MALFORMED_PACKET, "a property runs past the property length")
            value, at = body[at], at + 1
        elif kind == _TWO:
            if at + 2 > end:
                raise V5Refusal(MALFORMED_PACKET, "a property runs past the property length")
            value, at = (body[at] << 8) | body[at + 1], at + 2
        elif kind == _FOUR:
            if at + 4 > end:
                raise V5Refusal(MALFORMED_PACKET, "a property runs past the property length")
            (value,), at = struct.unpack_from("!L", body, at), at + 4
        elif kind == _VBI:
            value, at = _vbi(body, at, end)
        elif kind == _BINARY:
            value, at = _field(body, at, end)
        else:
            value, at = _text(body, at, end)
        if ident in _ZERO_OR_ONE and value not in (0, 1):
            raise V5Refusal(PROTOCOL_ERROR, f"{name} of {value} (0 or 1)")
        if ident == 11:  # Subscription Identifier: [MQTT-3.8.2.1.2] 1 to 268,435,455
            if value == 0:
                raise V5Refusal(PROTOCOL_ERROR, "a Subscription Identifier of 0")
            identifiers.append(value)
            continue
        if name in values:
            raise V5Refusal(PROTOCOL_ERROR, f"{name} more than once in a {PacketTypes.Names[packet_type]} packet "
                                            "(MQTT 5.0 section 3)")
        values[name] = value
    for name, value in values.items():  # paho's __setattr__ would re-check names and concatenate lists: bypassed
        object.__setattr__(properties, name, value)
    if pairs:
        object.__setattr__(properties, "UserProperty", pairs)
    if identifiers:
        object.__setattr__(properties, "SubscriptionIdentifier", identifiers)
    return properties, end


def _encode_property(ident: int, kind: int, value: Any) -> bytes:
    if kind == _BYTE:
        return bytes([ident, value])
    if kind == _TWO:
        return struct.pack("!BH", ident, value)
    if kind == _FOUR:
        return struct.pack("!BL", ident, value)
    if kind == _VBI:
        return bytes([ident]) + _varint(value)
    if kind == _BINARY:
        data = bytes(value)
        return struct.pack("!BH", ident, len(data)) + data
    if kind == _STRING:
        data = value.encode("utf-8")
        return struct.pack("!BH", ident, len(data)) + data
    key, text = (part.encode("utf-8") for part in value)
    return struct.pack("!BH", ident, len(key)) + key + struct.pack("!H", len(text)) + text


def _pack(properties: Properties) -> bytes:
    """Properties (length included), in one linear pass (paho's pack concatenates bytes once per property)."""
    present = properties.__dict__
    parts = []
    for ident, (name, kind, _) in _PROPERTIES.items():
        value = present.get(name)
        if value is None:
            continue
        if ident in _REPEATABLE:
            parts.extend(_encode_property(ident, kind, one) for one in value)
        else:
            parts.append(_encode_property(ident, kind, value))
    data = b"".join(parts)
    return _varint(len(data)) + data
