"""Whole MQTT 3.1.1 control packets, read against a deadline, for amqtt to parse.

amqtt reads a connection byte by byte with no deadline inside a packet, and when it cannot decode one (a
remaining length of five bytes, a PUBLISH to a wildcard topic) it logs "Message discarded" and reads on from
wherever that left the stream. MQTT 3.1.1 says otherwise: a malformed packet closes the network connection
(section 4.8 and [MQTT-2.2.2-2], [MQTT-3.1.0-1], [MQTT-3.1.0-2], [MQTT-3.3.1-4], [MQTT-3.3.2-2], [MQTT-3.8.1-1]),
and a server closes a client silent for 1.5 times its keep-alive (section 3.1.2.10; AWS: MQTT_KEEP_ALIVE_TIMEOUT).
:class:`PacketReader` is the amqtt ``ReaderAdapter`` every endpoint connection is read through: it reads one whole
packet (fixed header, then body) within ``timeout_s`` (the CONNECT deadline, then 1.5 times the keep-alive),
checks its framing (type, flags, remaining length, size), for a PUBLISH its topic and for an MQTT 3.1.1 CONNECT its
flags and fields (which must fill its remaining length exactly: bytes after the payload would otherwise be served to
amqtt as an unchecked next packet), and only then hands the bytes to amqtt, which still does all the parsing. A
violation or a missed deadline closes the connection and reads as end of stream, which amqtt handles as a connection
lost without DISCONNECT (so the will is sent).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable

from localcloud.services.iot.mqtt import v5
from localcloud.services.iot.mqtt.limits import Limits

CONNECT, CONNACK, PUBLISH, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGRESP = 1, 2, 3, 8, 9, 10, 11, 13
# Fixed-header flags a client must send (MQTT 3.1.1 section 2.2.2; PUBLISH's are DUP/QoS/RETAIN, checked apart)
_FLAGS = {1: 0, 4: 0, 5: 0, 6: 2, 7: 0, 8: 2, 10: 2, 12: 0, 14: 0}
_LENGTHS = {4: 2, 5: 2, 6: 2, 7: 2, 12: 0, 14: 0}  # PUBACK, PUBREC, PUBREL, PUBCOMP, PINGREQ, DISCONNECT
_SERVER_ONLY = {CONNACK: "CONNACK", SUBACK: "SUBACK", UNSUBACK: "UNSUBACK", PINGRESP: "PINGRESP"}


class MalformedPacket(Exception):
    """What MQTT 3.1.1 calls a malformed packet or a protocol violation; the message names the rule."""


class UnsupportedProtocolLevel(MalformedPacket):
    """A CONNECT of a protocol level the endpoint does not serve: answered with CONNACK 0x01, then closed."""


def _protocol_level(body: bytes) -> int | None:
    """The CONNECT's protocol level (None: no readable protocol name and level)."""
    if len(body) < 2:
        return None
    (length,) = struct.unpack("!H", body[:2])
    if len(body) < 2 + length + 1 or body[2:2 + length] not in (b"MQTT", b"MQIsdp"):
        return None
    return body[2 + length]


def _varint_size(packet: bytes, at: int) -> int:
    size = 1
    while packet[at + size - 1] & 0x80:
        size += 1
    return size


class PacketReader:
    """An amqtt ``ReaderAdapter`` serving whole, checked packets; ``close(reason)`` is called on a violation."""

    def __init__(self, reader: asyncio.StreamReader, limits: Limits, close: Callable[[str], None],
                 timeout_s: float, answer: Callable[[bytes], None] | None = None) -> None:
        self._reader = reader
        self._limits = limits
        self._close = close
        self._answer = answer  # writes a last packet (a refusing CONNACK or DISCONNECT) before ``close``
        self.v5: v5.V5Connection | None = None  # the CONNECT was MQTT 5: every packet is translated for amqtt
        self.v5_refusal: v5.V5Refusal | None = None  # why an MQTT 5 CONNECT was refused by its framing
        self._buffer = bytearray()
        self.timeout_s = timeout_s  # for the next whole packet, its first byte included
        self.connected = False  # True once the CONNECT is accepted: another CONNECT is then a violation
        self.closed_because: str | None = None
        self.connect_client_id: str | None = None  # as sent (amqtt invents one for a zero-length client id)

    async def read(self, n: int = -1) -> bytes:
        if n == 0:  # an empty field (a 0-byte payload) is not the start of the next packet
            return b""
        if not self._buffer:
            await self._next_packet(n)
        if n < 0:
            n = len(self._buffer)
        if n > len(self._buffer):  # amqtt's parse runs past the packet's remaining length: the packet lied
            self._violation("a field runs past the packet's remaining length [MQTT-1.5.3]", n)
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    @property
    def pending_bytes(self) -> int:
        """Bytes of the current packet amqtt has not read (after a CONNECT: a malformed CONNECT)."""
        return len(self._buffer)

    def feed_eof(self) -> None:
        self._reader.feed_eof()

    async def _next_packet(self, n: int) -> None:
        if self.closed_because is not None:
            raise asyncio.IncompleteReadError(b"", n)
        try:
            self._buffer += await asyncio.wait_for(self._read_packet(), self.timeout_s)
        except TimeoutError:
            what = "packet" if self.connected else "CONNECT"
            if self.connected and self.v5 is not None:  # MQTT 5: DISCONNECT 0x8D Keep Alive timeout
                self._answer_and_close(v5.disconnect(v5.KEEP_ALIVE_TIMEOUT), f"no complete {what} within "
                                                                             f"{self.timeout_s:g} s", n)
            self._violation(f"no complete {what} within {self.timeout_s:g} s", n)
        except UnsupportedProtocolLevel as unsupported:
            self._answer_and_close(b"\x20\x02\x00\x01", str(unsupported), n)  # [MQTT-3.1.2-2]: CONNACK 0x01
        except v5.V5Refusal as refusal:
            max_size = self.v5.maximum_packet_size if self.v5 is not None else None
            if self.connected:
                self._answer_and_close(v5.disconnect(refusal.code, refusal.reason, max_size), refusal.reason, n)
            self.v5_refusal = refusal
            self._answer_and_close(v5.refusal_connack(refusal.code, refusal.reason, max_size), refusal.reason, n)
        except v5.DisconnectWithWill as will:
            self._violation(str(will), n)
        except MalformedPacket as malformed:
            if self.v5 is not None:  # MQTT 5 section 4.13: DISCONNECT 0x81 (0x82 for a protocol error), then close;
                max_size = self.v5.maximum_packet_size  # a malformed CONNECT: CONNACK 0x81 ([MQTT-3.2.0-1]: first)
                answer = (v5.disconnect(v5.MALFORMED_PACKET, str(malformed), max_size) if self.connected
                          else v5.refusal_connack(v5.MALFORMED_PACKET, str(malformed), max_size))
                self._answer_and_close(answer, str(malformed), n)
            self._violation(str(malformed), n)
        except (ConnectionError, OSError) as error:
            raise asyncio.IncompleteReadError(b"", n) from error

    def _answer_and_close(self, packet: bytes, reason: str, n: int) -> None:
        if self._answer is not None:
            try:
                self._answer(packet)
            except Exception:  # noqa: BLE001 - the peer may be gone already; the connection is closed either way
                pass
        self._violation(reason, n)

    def _violation(self, reason: str, n: int) -> None:
        self.closed_because = reason
        self._buffer.clear()
        self._close(reason)
        raise asyncio.IncompleteReadError(b"", n)  # amqtt reads this as the end of the stream

    async def _read_packet(self) -> bytes:
        header = bytearray(await self._reader.readexactly(1))
        packet_type, flags = header[0] >> 4, header[0] & 0x0F
        self._check_type(packet_type, flags)
        length, multiplier = 0, 1
        for _ in range(4):
            byte = (await self._reader.readexactly(1))[0]
            header.append(byte)
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            if not byte & 0x80:
                break
        else:
            raise MalformedPacket("remaining length longer than 4 bytes [MQTT-2.2.3]")
        if self.v5 is not None:  # MQTT 5 after its CONNECT: its own framing, translated to MQTT 3.1.1 for amqtt
            if length > self._limits.max_packet_bytes:
                raise v5.V5Refusal(v5.PACKET_TOO_LARGE, f"packet of {length} bytes (at most "
                                                        f"{self._limits.max_packet_bytes}, the CONNACK's Maximum Packet Size)")
            if packet_type == 12 and length:  # MQTT 5.0 section 3.12: PINGREQ has no variable header and no payload
                raise MalformedPacket(f"PINGREQ with remaining length {length}, not 0")
            body = await self._reader.readexactly(length)
            translated = self.v5.inbound(packet_type, flags, body)
            if translated[0] >> 4 == PUBLISH:
                _check_publish(flags, translated[1 + _varint_size(translated, 1):])
            elif translated[0] >> 4 in (SUBSCRIBE, UNSUBSCRIBE) and len(body) < 5:
                raise MalformedPacket("SUBSCRIBE/UNSUBSCRIBE without a topic filter")
            return translated
        if packet_type in _LENGTHS and length != _LENGTHS[packet_type]:
            raise MalformedPacket(f"packet type {packet_type} with remaining length {length}, not "
                                  f"{_LENGTHS[packet_type]} [MQTT-2.2.3]")
        if length > self._limits.max_packet_bytes:
            raise MalformedPacket(f"packet of {length} bytes (at most {self._limits.max_packet_bytes} are read; "
                                  "AWS IoT's payload limit is 128 KB)")
        body = await self._reader.readexactly(length)
        if packet_type == PUBLISH:
            _check_publish(flags, body)
        elif packet_type == CONNECT:
            level = _protocol_level(body)
            if level == 5:  # MQTT 5: amqtt parses the MQTT 3.1.1 equivalent; the rest is kept in self.v5
                translated, self.v5 = v5.translate_connect(body)
                self.v5.topic_alias_maximum = self._limits.topic_alias_maximum
                header, body = bytearray(translated[:1 + _varint_size(translated, 1)]), translated[1 + _varint_size(translated, 1):]
            elif level is not None and level != 4:
                raise UnsupportedProtocolLevel(f"CONNECT with protocol level {level}: this endpoint serves MQTT 3.1.1 "
                                               "(4) and MQTT 5 (5)")
            self.connect_client_id = _check_connect(body)
        elif packet_type in (SUBSCRIBE, UNSUBSCRIBE) and len(body) < 5:
            raise MalformedPacket("SUBSCRIBE/UNSUBSCRIBE without a topic filter [MQTT-3.8.3-3], [MQTT-3.10.3-2]")
        return bytes(header) + body

    def _check_type(self, packet_type: int, flags: int) -> None:
        if packet_type == 0 or (packet_type == 15 and self.v5 is None):  # 15 is AUTH in MQTT 5
            raise MalformedPacket(f"reserved packet type {packet_type} [MQTT-2.2.1]")
        if packet_type == 15:
            return  # MQTT 5 AUTH: refused by v5.V5Connection.inbound with DISCONNECT 0x82
        if not self.connected and packet_type != CONNECT:
            raise MalformedPacket("the first packet must be CONNECT [MQTT-3.1.0-1]")
        if self.connected and packet_type == CONNECT:
            if self.v5 is not None:  # [MQTT-3.1.0-2]: a Protocol Error in MQTT 5, DISCONNECT 0x82
                raise v5.V5Refusal(v5.PROTOCOL_ERROR, "a second CONNECT [MQTT-3.1.0-2]")
            raise MalformedPacket("a second CONNECT [MQTT-3.1.0-2]")
        if packet_type in _SERVER_ONLY:
            raise MalformedPacket(f"{_SERVER_ONLY[packet_type]} is sent by servers only")
        if packet_type == PUBLISH:
            if flags & 0x06 == 0x06:
                raise MalformedPacket("PUBLISH with QoS 3 [MQTT-3.3.1-4]")
        elif flags != _FLAGS[packet_type]:
            raise MalformedPacket(f"packet type {packet_type} with flags {flags:04b} [MQTT-2.2.2-2]")


def _check_publish(flags: int, body: bytes) -> None:
    if len(body) < 2:
        raise MalformedPacket("PUBLISH without a topic name")
    (topic_length,) = struct.unpack("!H", body[:2])
    qos = (flags >> 1) & 0x03
    if 2 + topic_length + (2 if qos else 0) > len(body):
        raise MalformedPacket("PUBLISH topic name runs past the packet [MQTT-1.5.3]")
    try:
        topic = body[2:2 + topic_length].decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPacket("PUBLISH topic name is not UTF-8 [MQTT-1.5.3-1]") from None
    if not topic or "+" in topic or "#" in topic or "\x00" in topic:
        raise MalformedPacket(f"PUBLISH to {topic!r}: empty, wildcard or NUL [MQTT-4.7.3-1], [MQTT-3.3.2-2]")
    if qos and body[2 + topic_length:4 + topic_length] == b"\x00\x00":
        raise MalformedPacket("PUBLISH with packet identifier 0 [MQTT-2.3.1-1]")


def _string(body: bytes, at: int, what: str) -> tuple[str, int]:
    """An MQTT UTF-8 string at ``at``: well-formed UTF-8 (no surrogates) without U+0000 ([MQTT-1.5.3-1],
    [MQTT-1.5.3-2]); returns it and the offset after it."""
    raw, at = _binary(body, at, what)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPacket(f"CONNECT {what} is not well-formed UTF-8 [MQTT-1.5.3-1]") from None
    if "\x00" in text:
        raise MalformedPacket(f"CONNECT {what} contains U+0000 [MQTT-1.5.3-2]")
    return text, at


def _binary(body: bytes, at: int, what: str) -> tuple[bytes, int]:
    if at + 2 > len(body):
        raise MalformedPacket(f"CONNECT without its {what} [MQTT-3.1.3-1]")
    (length,) = struct.unpack("!H", body[at:at + 2])
    if at + 2 + length > len(body):
        raise MalformedPacket(f"CONNECT {what} runs past the packet [MQTT-1.5.3]")
    return body[at + 2:at + 2 + length], at + 2 + length


def _check_connect(body: bytes) -> str | None:
    """An MQTT 3.1.1 CONNECT's flags and payload (MQTT 3.1.1 sections 3.1.2 and 3.1.3); returns its client id. Other
    protocol names or levels are left to amqtt (CONNACK 0x01 and close)."""
    try:
        name, at = _binary(body, 0, "protocol name")
    except MalformedPacket:
        return None
    if name != b"MQTT" or at + 4 > len(body) or body[at] != 4:
        return None
    flags = body[at + 1]
    at += 4  # level, flags, keep-alive
    will, will_qos, will_retain = bool(flags & 0x04), (flags >> 3) & 0x03, bool(flags & 0x20)
    username, password = bool(flags & 0x80), bool(flags & 0x40)
    if flags & 0x01:
        raise MalformedPacket("CONNECT reserved flag is 1 [MQTT-3.1.2-3]")
    if not will and (will_qos or will_retain):
        raise MalformedPacket("CONNECT will QoS or will RETAIN set without the will flag [MQTT-3.1.2-13], "
                              "[MQTT-3.1.2-15]")
    if will_qos == 3:
        raise MalformedPacket("CONNECT will QoS 3 [MQTT-3.1.2-14]")
    if password and not username:
        raise MalformedPacket("CONNECT password flag without the user name flag [MQTT-3.1.2-22]")
    client_id, at = _string(body, at, "client id")
    if will:
        _, at = _string(body, at, "will topic")
        _, at = _binary(body, at, "will message")
    if username:
        _, at = _string(body, at, "user name")
    if password:
        _, at = _binary(body, at, "password")
    if at != len(body):
        raise MalformedPacket(f"{len(body) - at} bytes after the CONNECT payload [MQTT-3.1.3-1]")
    return client_id
