"""Red-team tests of the MQTT 5 layer (``localcloud/services/iot/mqtt/v5.py``, ``packets.py``, ``broker.py``): raw
MQTT 5 packets no library sends, authorization bypass attempts, resource exhaustion, protocol-level mismatches, and the
same IoT Core decisions at protocol levels 4 and 5.

Each test states what a careful server does (the MQTT 5.0 specification's rule, AWS IoT Core's documented behaviour,
or docs/emulator.md's own claim): refuse with the right reason code and/or close, never crash the broker task, never
hang, never leak another client's data, never let a device exceed its policy. Tests that fail describe a break;
they are kept so the fix can be checked.
"""

from __future__ import annotations

import json
import ssl
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device.session import Identity
from tests.localcloud.mqtt.conftest import Served
from tests.localcloud.mqtt.wire import (EU, Client5, _remaining_length, _utf8, any_client_id, arn, connect_packet, grant,
                                        lowered, onboard, operator_device, packet, paho5, read_exactly, subscribe_packet,
                                        tls_socket, wait)

THING = "${iot:Connection.Thing.ThingName}"
DISCONNECT, CONNACK, PUBLISH, PUBACK, SUBACK = 0xE0, 0x20, 0x30, 0x40, 0x90


# raw MQTT 5 ---------------------------------------------------------------------------------------------------------
def props(packet_type: int, **values: Any) -> bytes:
    """Encoded MQTT 5 properties (length included) for ``packet_type``."""
    properties = Properties(packet_type)
    for name, value in values.items():
        setattr(properties, name, value)
    return properties.pack()


def raw_props(*encoded: bytes) -> bytes:
    """Properties (length included) from hand-encoded ``identifier + value`` pieces (duplicates, unknown ids)."""
    body = b"".join(encoded)
    return _remaining_length(len(body)) + body


def connect5(client_id: str, *, properties: bytes = b"\x00", flags: int = 0x02, keepalive: int = 60,
             will: tuple[bytes, str, bytes, int, bool] | None = None, username: bytes | None = None,
             password: bytes | None = None, level: int = 5) -> bytes:
    payload = _utf8(client_id)
    if will is not None:
        will_properties, topic, message, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += will_properties + _utf8(topic) + struct.pack("!H", len(message)) + message
    if username is not None:
        flags |= 0x80
        payload += struct.pack("!H", len(username)) + username
    if password is not None:
        flags |= 0x40
        payload += struct.pack("!H", len(password)) + password
    return packet(0x10, _utf8("MQTT") + bytes([level, flags]) + struct.pack("!H", keepalive) + properties + payload)


def publish5(topic: str, payload: bytes, *, qos: int = 1, packet_id: int = 1, properties: bytes = b"\x00",
             retain: bool = False) -> bytes:
    body = _utf8(topic) + (struct.pack("!H", packet_id) if qos else b"") + properties + payload
    return packet(0x30 | (qos << 1) | int(retain), body)


def subscribe5(filters: list[tuple[str, int]], *, packet_id: int = 1, properties: bytes = b"\x00") -> bytes:
    body = struct.pack("!H", packet_id) + properties + b"".join(_utf8(f) + bytes([o]) for f, o in filters)
    return packet(0x82, body)


def puback5(packet_id: int) -> bytes:
    return packet(0x40, struct.pack("!H", packet_id))


def read_packet(sock: ssl.SSLSocket, timeout_s: float = 3) -> bytes:
    """One whole control packet; b"" when the server closed the connection or sent nothing in time."""
    sock.settimeout(timeout_s)
    try:
        first = read_exactly(sock, 1)
        if not first:
            return b""
        header, length, shift = first, 0, 0
        while True:
            more = read_exactly(sock, 1)
            if not more:
                return b""
            header += more
            length += (more[0] & 0x7F) << shift
            shift += 7
            if not more[0] & 0x80:
                break
        return header + read_exactly(sock, length)
    except (TimeoutError, ConnectionError, ssl.SSLError, OSError):
        return b""


def body_of(data: bytes) -> bytes:
    at = 1
    while data[at] & 0x80:
        at += 1
    return data[at + 1:]


@dataclass
class Ending:
    """What the server sent until it closed the connection (or ``timeout_s`` passed)."""

    packets: list[bytes]
    closed: bool

    @property
    def disconnect_code(self) -> int | None:
        for data in self.packets:
            if data[0] == DISCONNECT:
                body = body_of(data)
                return body[0] if body else 0x00
        return None

    @property
    def types(self) -> list[int]:
        return [data[0] & 0xF0 for data in self.packets]


def ending(sock: ssl.SSLSocket, timeout_s: float = 3) -> Ending:
    packets: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            first = sock.recv(1)
        except TimeoutError:
            return Ending(packets, False)
        except (ConnectionError, ssl.SSLError, OSError):
            return Ending(packets, True)
        if not first:
            return Ending(packets, True)
        rest = b""
        length, shift = 0, 0
        try:
            while True:
                more = read_exactly(sock, 1)
                if not more:
                    return Ending(packets, True)
                rest += more
                length += (more[0] & 0x7F) << shift
                shift += 7
                if not more[0] & 0x80:
                    break
            packets.append(first + rest + read_exactly(sock, length))
        except (TimeoutError, ConnectionError, ssl.SSLError, OSError):
            return Ending(packets, True)
    return Ending(packets, False)


def connack_of(data: bytes) -> tuple[int, Properties | None]:
    assert data and data[0] == CONNACK, f"not a CONNACK: {data!r}"
    body = body_of(data)
    properties = None
    if len(body) > 2:
        properties = Properties(PacketTypes.CONNACK)
        properties.unpack(body[2:])
    return body[1], properties


def open5(served: Served, identity: Identity, *, client_id: str | None = None, properties: bytes = b"\x00",
          flags: int = 0x02, will: tuple[bytes, str, bytes, int, bool] | None = None) -> ssl.SSLSocket:
    """A raw TLS MQTT 5 connection whose CONNECT was accepted (CONNACK 0x00)."""
    sock = tls_socket(served, identity)
    sock.sendall(connect5(identity.thing if client_id is None else client_id, properties=properties, flags=flags,
                          will=will))
    code, _ = connack_of(read_packet(sock))
    assert code == 0, f"CONNECT refused: 0x{code:02X}"
    return sock


def connect_answer(served: Served, identity: Identity, data: bytes, timeout_s: float = 3) -> Ending:
    sock = tls_socket(served, identity)
    try:
        sock.sendall(data)
        return ending(sock, timeout_s)
    finally:
        sock.close()


def suback_codes(data: bytes) -> list[int]:
    assert data and data[0] == SUBACK, f"not a SUBACK: {data!r}"
    body = body_of(data)
    properties = Properties(PacketTypes.SUBACK)
    _, used = properties.unpack(body[2:])
    return list(body[2 + used:])


def puback_code(data: bytes) -> int:
    assert data and data[0] == PUBACK, f"not a PUBACK: {data!r}"
    body = body_of(data)
    return body[2] if len(body) > 2 else 0x00


def sub5(sock: ssl.SSLSocket, topic_filter: str, options: int = 1, packet_id: int = 1) -> int:
    sock.sendall(subscribe5([(topic_filter, options)], packet_id=packet_id))
    return suback_codes(read_packet(sock))[0]


def publishes(packets: list[bytes]) -> list[tuple[str, bytes, int | None]]:
    """(topic, payload, packet id) of each PUBLISH among ``packets`` (MQTT 5 framing)."""
    found = []
    for data in packets:
        if data[0] & 0xF0 != PUBLISH:
            continue
        body = body_of(data)
        (n,) = struct.unpack("!H", body[:2])
        topic = body[2:2 + n].decode()
        at = 2 + n
        packet_id = None
        if (data[0] >> 1) & 0x03:
            (packet_id,) = struct.unpack("!H", body[at:at + 2])
            at += 2
        properties = Properties(PacketTypes.PUBLISH)
        _, used = properties.unpack(body[at:])
        found.append((topic, body[at + used:], packet_id))
    return found


def broker_alive(served: Served, name: str) -> None:
    """The endpoint still serves: a fresh MQTT 5 client connects, subscribes and gets its SUBACK."""
    identity = onboard(served, name)
    sock = open5(served, identity)
    try:
        assert sub5(sock, f"e/{name}/alive") == 1
    finally:
        sock.close()


@contextmanager
def watcher(served: Served, name: str) -> Iterator[Client5]:
    """An operator (may subscribe to and receive every ``i/`` topic) watching ``i/#``."""
    client = paho5(served, operator_device(served, name))
    assert client.connected.is_set()
    assert client.subscribe("i/#") == 1
    try:
        yield client
    finally:
        client.close()


def certificate_id(thing: str) -> str:
    iot = boto3.client("iot", region_name=EU)
    return iot.list_thing_principals(thingName=thing)["principals"][0].rsplit("/", 1)[-1]


def revoke(served: Served, thing: str) -> None:
    with served.endpoints.gate:
        boto3.client("iot", region_name=EU).update_certificate(certificateId=certificate_id(thing),
                                                               newStatus="REVOKED")


def broker(served: Served) -> Any:
    return served.endpoints.brokers[EU]


# 1. malformed MQTT 5 packets ---------------------------------------------------------------------------------------
def test_a_property_length_larger_than_the_packet_is_disconnect_0x81(served: Served) -> None:
    name = "v5x-proplen-01"
    sock = open5(served, onboard(served, name))
    try:
        lying = b"\x32" + b"\x01\x01"  # property length 50; one property (2 bytes), then the 18-byte payload
        sock.sendall(publish5(f"i/{name}/m", b'{"message": "lie"}', properties=lying))
        end = ending(sock)
        assert end.closed and end.disconnect_code == 0x81, end
    finally:
        sock.close()
    assert served.stored(name, EU) == []


def test_a_duplicated_single_occurrence_publish_property_is_protocol_error_0x82(served: Served) -> None:
    """MQTT 5.0 section 3.3.2.3: "It is a Protocol Error to include the Content Type more than once" (likewise Response
    Topic, Correlation Data, Payload Format Indicator, Message Expiry Interval, Topic Alias): DISCONNECT 0x82."""
    name = "v5x-dup-01"
    sock = open5(served, onboard(served, name))
    try:
        content_type = b"\x03" + _utf8("a/b")
        sock.sendall(publish5(f"i/{name}/m", b'{"message": "dup"}', properties=raw_props(content_type, content_type)))
        end = ending(sock)
        assert end.closed and end.disconnect_code == 0x82, end
    finally:
        sock.close()


def test_a_duplicated_session_expiry_in_connect_is_connack_0x82(served: Served) -> None:
    """MQTT 5.0 section 3.1.2.11.2: "It is a Protocol Error to include the Session Expiry Interval more than once"."""
    identity = onboard(served, "v5x-dup-02")
    expiry = b"\x11" + struct.pack("!L", 60)
    end = connect_answer(served, identity, connect5("v5x-dup-02", properties=raw_props(expiry, expiry)))
    assert end.closed and end.packets and end.packets[0][0] == CONNACK, end
    assert connack_of(end.packets[0])[0] == 0x82


def test_an_unknown_property_identifier_after_connect_gets_disconnect_0x81_and_the_broker_serves_on(
        served: Served) -> None:
    """MQTT 5.0 section 2.2.2.2: an identifier not valid for the packet is a Malformed Packet; section 4.13: the server
    SHOULD send DISCONNECT 0x81 before closing (docs/emulator.md: "Server DISCONNECT: modelled for ... malformed
    packets (0x81)")."""
    name = "v5x-unknown-01"
    sock = open5(served, onboard(served, name))
    try:
        sock.sendall(publish5(f"i/{name}/m", b'{"message": "x"}', properties=raw_props(b"\x7f\x00")))
        end = ending(sock)
        assert end.closed, "an unknown property identifier must close the connection"
        assert end.disconnect_code == 0x81, f"closed without DISCONNECT 0x81: {end}"
    finally:
        sock.close()
    broker_alive(served, "v5x-unknown-02")


def test_an_unknown_property_identifier_in_connect_is_closed_without_a_session(served: Served) -> None:
    identity = onboard(served, "v5x-unknown-03")
    end = connect_answer(served, identity, connect5("v5x-unknown-03", properties=raw_props(b"\x7f\x00")))
    assert end.closed
    # [MQTT-4.13.1-1]: a CONNACK is optional; if one is sent, it is a refusal (0x81), never a success
    assert all(p[0] == CONNACK and connack_of(p)[0] == 0x81 for p in end.packets), end
    assert not any(s.client_id == "v5x-unknown-03" and s.transitions.is_connected()
                   for s, _ in broker(served)._sessions.values())


@pytest.mark.parametrize("where", ["connect", "publish"])
def test_a_five_byte_variable_byte_integer_property_length_is_malformed(served: Served, where: str) -> None:
    name = f"v5x-vbi-{where}"
    identity = onboard(served, name)
    five = b"\xff\xff\xff\xff\x01"
    if where == "connect":
        end = connect_answer(served, identity, connect5(name, properties=five))
        assert end.closed and all(p[0] == CONNACK and connack_of(p)[0] == 0x81 for p in end.packets), end
        return
    sock = open5(served, identity)
    try:
        sock.sendall(publish5(f"i/{name}/m", b"x", properties=five))
        end = ending(sock)
        assert end.closed and end.disconnect_code == 0x81, end
    finally:
        sock.close()


def test_a_five_byte_remaining_length_after_an_mqtt5_connect_is_disconnect_0x81(served: Served) -> None:
    name = "v5x-vbi-fixed"
    sock = open5(served, onboard(served, name))
    try:
        sock.sendall(b"\x30\xff\xff\xff\xff\x01")
        end = ending(sock)
        assert end.closed and end.disconnect_code == 0x81, end
    finally:
        sock.close()


def test_a_zero_length_topic_without_an_alias_is_protocol_error_0x82(served: Served) -> None:
    name = "v5x-empty-01"
    sock = open5(served, onboard(served, name))
    try:
        sock.sendall(publish5("", b'{"message": "nowhere"}'))
        end = ending(sock)
        assert end.closed and end.disconnect_code == 0x82, end
    finally:
        sock.close()


def test_topic_alias_0_is_disconnect_0x94(served: Served) -> None:
    """MQTT 5.0 section 3.3.2.3.4: "A Topic Alias value of 0 ... is a Protocol Error, the receiver uses DISCONNECT with
    Reason Code of 0x94 (Topic Alias invalid)"; docs/emulator.md: "alias 0 or over 8 is DISCONNECT 0x94"."""
    name = "v5x-alias-0"
    sock = open5(served, onboard(served, name))
    try:
        sock.sendall(publish5(f"i/{name}/m", b'{"message": "a"}', properties=raw_props(b"\x23\x00\x00")))
        end = ending(sock)
        assert end.closed and end.disconnect_code == 0x94, end
    finally:
        sock.close()


def test_topic_alias_over_the_maximum_is_disconnect_0x94(served: Served) -> None:
    name = "v5x-alias-9"
    sock = open5(served, onboard(served, name))
    try:
        sock.sendall(publish5(f"i/{name}/m", b'{"message": "a"}', properties=props(PacketTypes.PUBLISH, TopicAlias=9)))
        end = ending(sock)
        assert end.closed and end.disconnect_code == 0x94, end
    finally:
        sock.close()


def test_a_topic_alias_used_before_it_is_set_is_refused(served: Served) -> None:
    name = "v5x-alias-unset"
    sock = open5(served, onboard(served, name))
    try:
        sock.sendall(publish5("", b'{"message": "a"}', properties=props(PacketTypes.PUBLISH, TopicAlias=2)))
        end = ending(sock)
        assert end.closed and end.disconnect_code in (0x82, 0x94), end
    finally:
        sock.close()
    assert served.stored(name, EU) == []


def test_a_topic_alias_cannot_carry_a_publish_to_a_denied_topic(served: Served) -> None:
    """The policy is checked on the resolved topic: an alias set for the device's own topic, re-pointed at a victim's
    topic (refused), then used alone, publishes nothing to the victim."""
    name, victim = "v5x-alias-atk", "v5x-alias-victim"
    identity = onboard(served, name)
    with watcher(served, "v5x-alias-watch") as watch:
        sock = open5(served, identity)
        try:
            alias = props(PacketTypes.PUBLISH, TopicAlias=1)
            sock.sendall(publish5(f"i/{name}/m", b'{"message": "mine"}', packet_id=1, properties=alias))
            assert puback_code(read_packet(sock)) == 0x00
            sock.sendall(publish5("", b'{"message": "mine again"}', packet_id=2, properties=alias))
            assert puback_code(read_packet(sock)) == 0x00
            sock.sendall(publish5(f"i/{victim}/m", b'{"message": "forged 1"}', packet_id=3, properties=alias))
            assert puback_code(read_packet(sock)) == 0x87
            sock.sendall(publish5("", b'{"message": "forged 2"}', packet_id=4, properties=alias))
            assert puback_code(read_packet(sock)) == 0x87
            sock.sendall(publish5("", b'{"message": "forged 3"}', qos=0, properties=alias))  # QoS 0: disconnected
            end = ending(sock)
            assert end.closed and end.disconnect_code == 0x87, end
        finally:
            sock.close()
        time.sleep(0.5)
        assert f"i/{victim}/m" not in watch.topics()
    assert served.stored(victim, EU) == []

    def both() -> list[dict] | None:
        stored = served.stored(name, EU)
        return stored if len(stored) == 2 else None

    assert sorted(i["Message"]["S"] for i in served.wait_for(both)) == ["mine", "mine again"]


def test_topic_aliases_do_not_survive_the_connection_or_cross_to_another(served: Served) -> None:
    """[MQTT-3.3.2-7]: Topic Alias mappings exist only within a Network Connection."""
    name = "v5x-alias-conn"
    identity = onboard(served, name)
    expiry = props(PacketTypes.CONNECT, SessionExpiryInterval=60)
    sock = open5(served, identity, properties=expiry)
    sock.sendall(publish5(f"i/{name}/m", b'{"message": "set"}', properties=props(PacketTypes.PUBLISH, TopicAlias=5)))
    assert puback_code(read_packet(sock)) == 0x00
    sock.sendall(packet(0xE0, b"\x00\x00"))
    sock.close()
    again = open5(served, identity, properties=expiry, flags=0x00)  # resumes the session, not the aliases
    try:
        again.sendall(publish5("", b'{"message": "stale"}', properties=props(PacketTypes.PUBLISH, TopicAlias=5)))
        end = ending(again)
        assert end.closed and end.disconnect_code in (0x82, 0x94), end
    finally:
        again.close()


def test_huge_user_properties_are_bounded_by_the_packet_limit_and_the_broker_serves_on(served: Served) -> None:
    name = "v5x-userprops-01"
    identity = onboard(served, name)
    over = [("k" * 60, "v" * 1000)] * 200  # ~210 KB of properties: over the CONNACK's Maximum Packet Size
    sock = open5(served, identity)
    try:
        try:
            sock.sendall(publish5(f"i/{name}/m", b'{"message": "big"}', properties=props(PacketTypes.PUBLISH,
                                                                                           UserProperty=over)))
            cut_off = False
        except OSError:  # the broker may close as soon as the fixed header shows the size, before the rest arrives
            cut_off = True
        end = ending(sock, 5)
        assert end.closed and (end.disconnect_code == 0x95 or (cut_off and end.disconnect_code in (None, 0x95))), end
    finally:
        sock.close()
    many = [("k", "v")] * 20000  # 20,000 tiny pairs, ~160 KB: under the packet limit
    sock = open5(served, identity)
    try:
        started = time.monotonic()
        sock.sendall(publish5(f"i/{name}/m", b'{"message": "many"}', properties=props(PacketTypes.PUBLISH,
                                                                                        UserProperty=many)))
        answer = read_packet(sock, 10)
        # the stall itself is test_tens_of_thousands_of_user_properties_do_not_stall_every_other_client's
        assert time.monotonic() - started < 10, "20,000 user properties took the broker over 10 s"
        assert answer and (answer[0] == PUBACK or answer[0] == DISCONNECT), answer
    finally:
        sock.close()
    broker_alive(served, "v5x-userprops-02")


def _many_user_properties(n: int = 39000) -> bytes:
    """``n`` empty user properties (5 bytes each): ~195 KB, just under the CONNACK's Maximum Packet Size."""
    return raw_props(*([b"\x26\x00\x00\x00\x00"] * n))


def _ping_rtt(sock: ssl.SSLSocket) -> float:
    started = time.monotonic()
    sock.sendall(b"\xc0\x00")
    answer = read_packet(sock, 30)
    assert answer == b"\xd0\x00", answer
    return time.monotonic() - started


@pytest.mark.parametrize("how", ["publish by an accepted device", "connect by a revoked certificate"])
def test_tens_of_thousands_of_user_properties_do_not_stall_every_other_client(served: Served, how: str) -> None:
    """One packet of ~39,000 empty user properties (under the 192 KB packet limit) is decoded by paho's Properties,
    whose list concatenation per UserProperty is quadratic: seconds of CPU on the single event loop that serves every
    region's endpoint and the resolver. Another device's PINGREQ, in the other region, must still be answered
    promptly. The CONNECT case needs no accepted identity: any certificate the CA signed, even REVOKED, is parsed
    before IoT Core decides."""
    attacker = f"v5x-dos-{how.split()[0]}"
    identity = onboard(served, attacker)
    if how.startswith("connect"):
        revoke(served, attacker)
    other = next(r for r in served.cloud.regions if r != EU)
    victim_name = f"v5x-dos-victim-{how.split()[0]}"
    victim_identity = onboard(served, victim_name, region=other)
    victim = tls_socket(served, victim_identity, region=other)
    victim.sendall(connect_packet(victim_name))
    assert read_exactly(victim, 4) == b"\x20\x02\x00\x00"
    assert _ping_rtt(victim) < 0.5
    attackers = []
    try:
        flood = _many_user_properties()
        if how.startswith("publish"):
            sock = open5(served, identity)
            attackers.append(sock)
            for n in range(3):
                sock.sendall(publish5(f"i/{attacker}/m", b'{"message": "x"}', packet_id=n + 1, properties=flood))
        else:
            for _ in range(3):
                sock = tls_socket(served, identity)
                attackers.append(sock)
                sock.sendall(connect5(attacker, properties=flood))
        time.sleep(0.3)
        rtt = _ping_rtt(victim)
        assert rtt < 1.5, f"another region's client waited {rtt:.1f} s for PINGRESP"
    finally:
        for sock in attackers:
            sock.close()
        victim.close()


def test_payload_format_indicator_1_with_invalid_utf8_is_passed_unaltered_or_refused_with_0x99(served: Served) -> None:
    """[MQTT-3.3.2-4]: the Payload Format Indicator goes unaltered to subscribers; the receiver MAY validate the payload
    (PUBACK or DISCONNECT 0x99). Either way the broker carries on."""
    name = "v5x-pfi-01"
    identity = onboard(served, name)
    with watcher(served, "v5x-pfi-watch") as watch:
        sock = open5(served, identity)
        try:
            sock.sendall(publish5(f"i/{name}/m", b"\xff\xfe\xc3(", properties=props(PacketTypes.PUBLISH,
                                                                                    PayloadFormatIndicator=1)))
            answer = read_packet(sock)
            assert answer, "no answer to the PUBLISH"
            if answer[0] == PUBACK and puback_code(answer) == 0x00:
                wait(lambda: f"i/{name}/m" in watch.topics())
                message = next(m for m in watch.messages if m.topic == f"i/{name}/m")
                assert message.properties.PayloadFormatIndicator == 1 and message.payload == b"\xff\xfe\xc3("
            else:
                code = puback_code(answer) if answer[0] == PUBACK else body_of(answer)[0]
                assert code == 0x99, answer
        finally:
            sock.close()
    broker_alive(served, "v5x-pfi-02")


def test_a_response_topic_with_wildcards_is_protocol_error(served: Served) -> None:
    """[MQTT-3.3.2-14]: "The Response Topic MUST NOT contain wildcard characters": a Protocol Error (DISCONNECT 0x82);
    the message is not relayed to subscribers."""
    name = "v5x-resp-01"
    identity = onboard(served, name)
    with watcher(served, "v5x-resp-watch") as watch:
        sock = open5(served, identity)
        try:
            sock.sendall(publish5(f"i/{name}/m", b'{"message": "reply to everyone"}',
                                  properties=props(PacketTypes.PUBLISH, ResponseTopic="e/#")))
            end = ending(sock)
            assert end.closed and end.disconnect_code == 0x82, end
        finally:
            sock.close()
        time.sleep(0.5)
        assert f"i/{name}/m" not in watch.topics()


def test_huge_correlation_data_is_passed_through_and_a_second_one_is_refused(served: Served) -> None:
    name = "v5x-corr-01"
    identity = onboard(served, name)
    with watcher(served, "v5x-corr-watch") as watch:
        sock = open5(served, identity)
        try:
            big = bytes(range(256)) * 255  # 65,280 bytes, near the 65,535 a Binary Data field holds
            sock.sendall(publish5(f"i/{name}/m", b'{"message": "corr"}',
                                  properties=props(PacketTypes.PUBLISH, CorrelationData=big)))
            assert puback_code(read_packet(sock)) == 0x00
            wait(lambda: f"i/{name}/m" in watch.topics())
            message = next(m for m in watch.messages if m.topic == f"i/{name}/m")
            assert message.properties.CorrelationData == big
            twice = b"\x09" + struct.pack("!H", 2) + b"ab"
            sock.sendall(publish5(f"i/{name}/n", b'{"message": "twice"}', packet_id=2, properties=raw_props(twice, twice)))
            end = ending(sock)
            assert end.closed and end.disconnect_code in (0x81, 0x82), end
        finally:
            sock.close()


def test_a_subscription_identifier_is_disconnect_0xa1_and_in_a_publish_0x82(served: Served) -> None:
    name = "v5x-subid-01"
    identity = onboard(served, name)
    sock = open5(served, identity)
    try:
        sock.sendall(subscribe5([(f"e/{name}/c", 1)], properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=7)))
        end = ending(sock)
        assert end.closed and end.disconnect_code == 0xA1, end
    finally:
        sock.close()
    sock = open5(served, identity)
    try:
        sock.sendall(publish5(f"i/{name}/m", b"{}", properties=raw_props(b"\x0b\x07")))  # subscription identifier 7
        end = ending(sock)
        assert end.closed and end.disconnect_code in (0x81, 0x82), end
    finally:
        sock.close()


def test_a_pingreq_with_a_body_is_malformed(served: Served) -> None:
    """MQTT 5.0 section 3.12: PINGREQ has no variable header and no payload (remaining length 0), as in MQTT 3.1.1,
    where the endpoint closes such a packet."""
    name = "v5x-ping-01"
    sock = open5(served, onboard(served, name))
    try:
        sock.sendall(packet(0xC0, b"\x00\x01\x02"))
        end = ending(sock)
        assert end.closed and end.disconnect_code == 0x81, end
    finally:
        sock.close()


def test_no_local_on_a_shared_subscription_and_a_session_expiry_set_at_disconnect_are_protocol_errors(
        served: Served) -> None:
    name = "v5x-proto-01"
    identity = onboard(served, name)
    grant(served, name, [{"Effect": "Allow", "Action": "iot:Subscribe", "Resource": arn("topicfilter/$share/*")}])
    sock = open5(served, identity)
    try:
        sock.sendall(subscribe5([(f"$share/g/e/{name}/c", 0x04 | 1)]))  # No Local on a shared subscription
        end = ending(sock)
        assert end.closed and end.disconnect_code == 0x82, end  # [MQTT-3.8.3-4]
    finally:
        sock.close()
    sock = open5(served, identity)  # Session Expiry Interval 0 at CONNECT
    try:
        sock.sendall(packet(0xE0, b"\x00" + props(PacketTypes.DISCONNECT, SessionExpiryInterval=3600)))
        end = ending(sock)
        assert end.closed and end.disconnect_code == 0x82, end  # [MQTT-3.14.2-2]
    finally:
        sock.close()
    assert name not in broker(served)._sessions or broker(served)._sessions[name][0].clean_session


# 2. authorization ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("topic_filter", ["$share/g/e/v5x-share-victim/#", "$share/g/i/v5x-share-victim/#",
                                          "$share/g/#", "$share/g/+/+/+"])
def test_a_shared_subscription_to_a_filter_the_policy_denies_is_0x87(served: Served, topic_filter: str) -> None:
    name = "v5x-share-atk"
    identity = onboard(served, name) if not _onboarded.get(name) else _onboarded[name]
    _onboarded[name] = identity
    sock = open5(served, identity)
    try:
        assert sub5(sock, topic_filter) == 0x87
        assert sub5(sock, f"e/{name}/c", packet_id=2) == 1  # still connected
    finally:
        sock.close()


_onboarded: dict[str, Identity] = {}


@pytest.mark.parametrize("topic_filter", ["$share//e/x", "$share/g", "$share/g/", "$share/g+/e/x", "$share/#/e/x",
                                          "$share/+/e/x"])
def test_a_malformed_shared_subscription_is_refused_even_when_the_policy_allows_it(served: Served,
                                                                                    topic_filter: str) -> None:
    """MQTT 5.0 section 4.8.2 ([MQTT-4.8.2-1], [MQTT-4.8.2-2]): a ShareName is at least one character, without "/",
    "+" or "#", followed by "/" and a Topic Filter; anything else is not a valid filter (SUBACK 0x8F, or DISCONNECT)."""
    name = "v5x-share-bad"
    identity = _onboarded.get(name)
    if identity is None:
        identity = _onboarded[name] = onboard(served, name)
        grant(served, name, [{"Effect": "Allow", "Action": "iot:Subscribe", "Resource": arn("topicfilter/*")},
                             {"Effect": "Allow", "Action": "iot:Receive", "Resource": arn("topic/*")}])
    sock = open5(served, identity)
    try:
        sock.sendall(subscribe5([(topic_filter, 1)]))
        answer = read_packet(sock)
        if answer and answer[0] == SUBACK:
            assert suback_codes(answer) == [0x8F], f"{topic_filter!r} was granted: {answer!r}"
        else:
            assert answer and answer[0] == DISCONNECT and body_of(answer)[0] in (0x81, 0x82, 0x8F), answer
    finally:
        sock.close()


def test_retained_messages_are_not_sent_to_shared_subscriptions(served: Served) -> None:
    publisher, member = "v5x-ret-pub", "v5x-ret-member"
    pub_identity = onboard(served, publisher)
    grant(served, publisher, [{"Effect": "Allow", "Action": "iot:RetainPublish", "Resource": arn(f"topic/i/{THING}/*")}])
    member_identity = onboard(served, member)
    grant(served, member, [{"Effect": "Allow", "Action": "iot:Subscribe", "Resource": arn("topicfilter/$share/*")},
                           {"Effect": "Allow", "Action": "iot:Receive", "Resource": arn("topic/i/*")}])
    pub = paho5(served, pub_identity)
    assert pub.publish(f"i/{publisher}/r", '{"message": "retained"}', retain=True) == 0
    pub.close()
    sock = open5(served, member_identity)
    try:
        assert sub5(sock, f"$share/g/i/{publisher}/r") == 1
        end = ending(sock, 1.5)
        assert publishes(end.packets) == [], end
    finally:
        sock.close()


def test_a_shared_subscription_never_delivers_to_a_member_without_iot_receive(served: Served) -> None:
    """A member may subscribe to ``$share/g/i/#`` (topicfilter/$share/*) but receive only its own topics: a message
    on another thing's topic goes to the member that may receive it, never to this one."""
    nosy, good, source = "v5x-sharerx-nosy", "v5x-sharerx-good", "v5x-sharerx-src"
    nosy_identity = onboard(served, nosy)
    grant(served, nosy, [{"Effect": "Allow", "Action": "iot:Subscribe", "Resource": arn("topicfilter/$share/*")},
                         {"Effect": "Allow", "Action": "iot:Receive", "Resource": arn(f"topic/i/{THING}/*")}])
    good_identity = onboard(served, good)
    grant(served, good, [{"Effect": "Allow", "Action": "iot:Subscribe", "Resource": arn("topicfilter/$share/*")},
                         {"Effect": "Allow", "Action": "iot:Receive", "Resource": arn("topic/i/*")}])
    nosy_sock = open5(served, nosy_identity)
    good_client = paho5(served, good_identity)
    source_client = paho5(served, onboard(served, source))
    try:
        assert sub5(nosy_sock, "$share/g/i/#") == 1
        assert good_client.subscribe("$share/g/i/#") == 1
        for n in range(10):
            assert source_client.publish(f"i/{source}/m", json.dumps({"message": f"secret {n}"})) == 0
        wait(lambda: len(good_client.messages) >= 10)
        end = ending(nosy_sock, 1)
        assert publishes(end.packets) == [], f"a member without iot:Receive got {publishes(end.packets)}"
    finally:
        nosy_sock.close()
        good_client.close()
        source_client.close()


def test_a_will_with_properties_to_a_denied_topic_is_connack_0x87(served: Served) -> None:
    name = "v5x-will-01"
    identity = onboard(served, name)
    will_props = props(PacketTypes.WILLMESSAGE, WillDelayInterval=0, UserProperty=[("k", "v")],
                       ContentType="application/json", MessageExpiryInterval=10)
    with watcher(served, "v5x-will-watch") as watch:
        end = connect_answer(served, identity, connect5(name, will=(will_props, "i/v5x-will-victim/w",
                                                                    b'{"message": "will"}', 1, False)))
        assert end.closed and end.packets and connack_of(end.packets[0])[0] == 0x87, end
        # an allowed will with properties: accepted, and sent when the connection is lost
        sock = open5(served, identity, will=(will_props, f"i/{name}/w", b'{"message": "my will"}', 1, False))
        sock.close()
        wait(lambda: f"i/{name}/w" in watch.topics())
        assert "i/v5x-will-victim/w" not in watch.topics()


def test_session_expiry_0xffffffff_is_capped_at_one_hour_in_connack_and_in_the_session(served: Served) -> None:
    name = "v5x-expiry-01"
    identity = onboard(served, name)
    sock = tls_socket(served, identity)
    sock.sendall(connect5(name, properties=props(PacketTypes.CONNECT, SessionExpiryInterval=0xFFFFFFFF)))
    code, properties = connack_of(read_packet(sock))
    assert code == 0 and properties is not None and properties.SessionExpiryInterval == 3600
    # DISCONNECT asking for "never expires" again: still capped
    sock.sendall(packet(0xE0, b"\x00" + props(PacketTypes.DISCONNECT, SessionExpiryInterval=0xFFFFFFFF)))
    sock.close()
    session = None

    def offline() -> Any:
        nonlocal session
        entry = broker(served)._sessions.get(name)
        if entry is not None and not entry[0].transitions.is_connected():
            session = entry[0]
        return session

    wait(offline)
    assert session._localcloud_session_expiry_s <= 3600
    handle = broker(served)._expiries.get(name)
    assert handle is not None and handle.when() - time.monotonic() <= 3600 + 1


def test_a_takeover_with_another_certificate_is_refused_and_leaves_the_victim_connected(served: Served) -> None:
    victim, attacker = "v5x-take-victim", "v5x-take-atk"
    victim_client = paho5(served, onboard(served, victim), session_expiry=600)
    attacker_identity = onboard(served, attacker)
    try:
        assert victim_client.subscribe(f"e/{victim}/cmd") == 1
        for clean_start in (True, False):
            end = connect_answer(served, attacker_identity, connect5(victim, flags=0x02 if clean_start else 0x00,
                                 properties=props(PacketTypes.CONNECT, SessionExpiryInterval=600)))
            assert end.closed and end.packets and connack_of(end.packets[0])[0] == 0x87, end
        time.sleep(0.3)
        assert victim_client.connected.is_set() and not victim_client.closed.is_set()
    finally:
        victim_client.close()


def test_resuming_another_identitys_session_does_not_leak_its_messages(served: Served) -> None:
    """A gateway whose policy allows any client id resumes a device's persistent session (clean start 0): the queued
    and the live messages on the device's topics are not delivered to it (its iot:Receive is its own e/<thing>/*)."""
    victim, gateway, operator = "v5x-resume-victim", "v5x-resume-gw", "v5x-resume-op"
    victim_identity = onboard(served, victim)
    gateway_identity = any_client_id(served, gateway)
    op = paho5(served, operator_device(served, operator))
    client = paho5(served, victim_identity, session_expiry=600)
    assert client.subscribe(f"e/{victim}/cmd") == 1
    client.close()
    time.sleep(0.2)
    assert op.publish(f"e/{victim}/cmd", '{"secret": "queued"}') == 0
    sock = open5(served, gateway_identity, client_id=victim, flags=0x00,
                 properties=props(PacketTypes.CONNECT, SessionExpiryInterval=600))
    try:
        time.sleep(0.3)
        assert op.publish(f"e/{victim}/cmd", '{"secret": "live"}') == 0
        end = ending(sock, 1.5)
        leaked = publishes(end.packets)
        assert leaked == [], f"the gateway got the device's messages: {leaked}"
    finally:
        sock.close()
        op.close()


# 3. resource exhaustion ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("prop", ["ReceiveMaximum", "MaximumPacketSize"])
def test_receive_maximum_or_maximum_packet_size_0_is_connack_0x82(served: Served, prop: str) -> None:
    """MQTT 5.0 sections 3.1.2.11.3 and 3.1.2.11.4: "It is a Protocol Error to include the Receive Maximum value ... 0"
    / "for the value to be set to zero" (the Maximum Packet Size): CONNACK 0x82."""
    name = f"v5x-zero-{prop}"
    identity = onboard(served, name)
    identifier = {"ReceiveMaximum": b"\x21\x00\x00", "MaximumPacketSize": b"\x27\x00\x00\x00\x00"}[prop]
    end = connect_answer(served, identity, connect5(name, properties=raw_props(identifier)))
    assert end.closed and end.packets and connack_of(end.packets[0])[0] == 0x82, end


def test_a_maximum_packet_size_smaller_than_the_connack_still_gets_an_answer(served: Served) -> None:
    """Every CONNACK property is optional ([MQTT-3.2.2-19]/[MQTT-3.1.2-24]: nothing over the client's Maximum Packet
    Size is sent): a client allowing 16-byte packets gets a CONNACK that fits (the restrictive properties first), or is
    closed; it is not left waiting with its session accepted and no CONNACK ever coming."""
    name = "v5x-mps-connack"
    identity = onboard(served, name)
    sock = tls_socket(served, identity)
    try:
        sock.sendall(connect5(name, properties=props(PacketTypes.CONNECT, MaximumPacketSize=16)))
        end = ending(sock, 2)
        assert end.closed or (end.packets and end.packets[0][0] == CONNACK and len(end.packets[0]) <= 16), \
            f"no CONNACK and still open: {end}"
    finally:
        sock.close()


def test_many_subscribe_unsubscribe_rounds_do_not_grow_the_connections_state(served: Served) -> None:
    """50 subscriptions per connection (AWS); subscribing and unsubscribing 200 distinct filters must not leave 200
    filters' options behind on the connection."""
    name = "v5x-manysubs-01"
    sock = open5(served, onboard(served, name))
    try:
        for n in range(200):
            topic_filter = f"e/{name}/f{n}"
            assert sub5(sock, topic_filter, packet_id=(2 * n) % 65000 + 1) == 1
            body = struct.pack("!H", (2 * n + 1) % 65000 + 1) + b"\x00" + _utf8(topic_filter)
            sock.sendall(packet(0xA2, body))
            assert read_packet(sock)[0] == 0xB0
        state = broker(served)._sessions[name][0]._localcloud_v5
        assert len(state.subscription_options) <= served.endpoints.limits.max_subscriptions, \
            f"{len(state.subscription_options)} filters' options kept for a connection holding none"
    finally:
        sock.close()


def _slow_subscriber(served: Served, name: str, **connect: Any) -> ssl.SSLSocket:
    sock = open5(served, onboard(served, name), properties=props(PacketTypes.CONNECT, **connect))
    assert sub5(sock, f"e/{name}/cmd") == 1
    return sock


def test_a_message_too_large_for_the_client_does_not_hold_its_in_flight_slot(served: Served) -> None:
    """[MQTT-3.1.2-25]: a packet over the client's Maximum Packet Size is discarded "and then behave as if it had
    completed sending that Application Message": with Receive Maximum 1, the next message is sent at once (not after
    the 5 s amqtt waits for a PUBACK that cannot come)."""
    name = "v5x-mps-01"
    sock = _slow_subscriber(served, name, ReceiveMaximum=1, MaximumPacketSize=256)
    op = paho5(served, operator_device(served, "v5x-mps-op"))
    try:
        assert op.publish(f"e/{name}/cmd", "x" * 1000) == 0  # discarded for this client
        assert op.publish(f"e/{name}/cmd", "small") == 0
        started = time.monotonic()
        got = read_packet(sock, 8)
        waited = time.monotonic() - started
        assert got and publishes([got])[0][1] == b"small"
        assert waited < 2, f"the next message waited {waited:.1f} s behind a discarded one"
    finally:
        sock.close()
        op.close()


def test_an_expired_message_does_not_hold_the_in_flight_slot(served: Served) -> None:
    """[MQTT-3.3.2-5]: an expired message is not sent; it must not then wait for a PUBACK either (Receive Maximum 1)."""
    name = "v5x-exp-01"
    sock = _slow_subscriber(served, name, ReceiveMaximum=1)
    op = paho5(served, operator_device(served, "v5x-exp-op"))
    try:
        assert op.publish(f"e/{name}/cmd", "first") == 0
        first = publishes([read_packet(sock)])
        assert first and first[0][1] == b"first"
        assert op.publish(f"e/{name}/cmd", "expires", properties=_expiry(1)) == 0  # waits for the in-flight slot
        time.sleep(1.6)
        sock.sendall(puback5(first[0][2] or 0))  # the slot frees; "expires" has expired: not sent
        assert op.publish(f"e/{name}/cmd", "third") == 0
        started = time.monotonic()
        got = read_packet(sock, 8)
        waited = time.monotonic() - started
        assert got and publishes([got])[0][1] == b"third", got
        assert waited < 2, f"the next message waited {waited:.1f} s behind an expired one"
    finally:
        sock.close()
        op.close()


def _expiry(seconds: int) -> Properties:
    properties = Properties(PacketTypes.PUBLISH)
    properties.MessageExpiryInterval = seconds
    return properties


def test_a_subscriber_that_never_acknowledges_does_not_slow_the_publisher(served: Served) -> None:
    name = "v5x-slow-01"
    sock = _slow_subscriber(served, name, ReceiveMaximum=1)
    op = paho5(served, operator_device(served, "v5x-slow-op"))
    try:
        started = time.monotonic()
        for n in range(30):
            assert op.publish(f"e/{name}/cmd", f"m{n}") == 0
        assert time.monotonic() - started < 5
        end = ending(sock, 1)
        assert len(publishes(end.packets)) == 1  # Receive Maximum 1: one unacknowledged at a time
    finally:
        sock.close()
        op.close()
    broker_alive(served, "v5x-slow-02")


def test_persistent_sessions_from_rapid_connects_are_bounded(served: Served) -> None:
    """A device allowed any client id connects and disconnects with a Session Expiry Interval under 30 new client ids:
    each leaves an offline session for an hour. Ours (judgement): offline sessions are bounded like connected ones
    (``Limits.max_sessions``), or a loop of CONNECTs grows the broker's memory without limit."""
    name = "v5x-pile-01"
    identity = any_client_id(served, name)
    ids = [f"v5x-pile-{n:03d}" for n in range(30)]
    with lowered(served, max_sessions=10):
        for client_id in ids:
            sock = open5(served, identity, client_id=client_id,
                         properties=props(PacketTypes.CONNECT, SessionExpiryInterval=3600))
            sock.sendall(packet(0xE0, b"\x00\x00"))
            sock.close()
        time.sleep(0.5)
        held = [c for c in ids if c in broker(served)._sessions]
        assert len(held) <= served.endpoints.limits.max_sessions, f"{len(held)} offline sessions kept"
    # the same client id connecting again and again leaves one session
    for _ in range(10):
        sock = open5(served, identity, client_id="v5x-pile-same",
                     properties=props(PacketTypes.CONNECT, SessionExpiryInterval=3600), flags=0x00)
        sock.close()
    assert sum(1 for c in broker(served)._sessions if c == "v5x-pile-same") == 1


# 4. protocol-level mismatches -----------------------------------------------------------------------------------------
def test_mqtt_3_1_1_packets_after_an_mqtt5_connect_are_refused_without_subscribing(served: Served) -> None:
    name = "v5x-mix-01"
    identity = onboard(served, name)
    sock = open5(served, identity)
    try:
        sock.sendall(subscribe_packet([(f"e/{name}/cmd", 1)]))  # no properties: misread as MQTT 5
        end = ending(sock)
        assert end.closed and end.disconnect_code in (0x81, 0x82), end
        assert SUBACK not in end.types
    finally:
        sock.close()
    sock = open5(served, identity)
    try:
        sock.sendall(packet(0x32, _utf8(f"i/{name}/m") + b"\x00\x01" + b'{"message": "3.1.1"}'))
        end = ending(sock)
        assert end.closed and end.disconnect_code in (0x81, 0x82), end
    finally:
        sock.close()


def test_an_mqtt_3_1_1_client_sending_mqtt5_subscribe_properties_subscribes_to_nothing(served: Served) -> None:
    name = "v5x-mix-02"
    identity = onboard(served, name)
    sock = tls_socket(served, identity)
    try:
        sock.sendall(connect_packet(name))
        assert read_exactly(sock, 4) == b"\x20\x02\x00\x00"
        sock.sendall(subscribe5([(f"e/{name}/cmd", 1)]))  # a property length byte: read as an empty filter
        end = ending(sock)
        assert end.closed or (end.packets and end.packets[0][0] == SUBACK and body_of(end.packets[0])[2] == 0x80), end
        held = [f for f, subs in broker(served)._subscriptions.items()
                if any(s.client_id == name for s, _ in subs)]
        assert held == [], held
    finally:
        sock.close()


def test_an_mqtt5_connect_with_a_3_1_1_variable_header_is_refused(served: Served) -> None:
    identity = onboard(served, "v5x-mix-03")
    data = connect_packet("v5x-mix-03")
    level5 = data.replace(b"MQTT\x04", b"MQTT\x05", 1)
    end = connect_answer(served, identity, level5)
    assert end.closed and all(p[0] == CONNACK and connack_of(p)[0] in (0x81, 0x82) for p in end.packets), end


def test_a_second_connect_on_an_mqtt5_connection_is_protocol_error_0x82(served: Served) -> None:
    """[MQTT-3.1.0-2]: "The Server MUST process a second CONNECT packet sent from a Client as a Protocol Error"."""
    name = "v5x-second-01"
    sock = open5(served, onboard(served, name))
    try:
        sock.sendall(connect5(name))
        end = ending(sock)
        assert end.closed and end.disconnect_code == 0x82, end
    finally:
        sock.close()


@pytest.mark.parametrize("case", ["reserved flag", "will qos 3", "nul in client id"])
def test_a_malformed_mqtt5_connect_is_never_answered_with_disconnect_before_connack(served: Served, case: str) -> None:
    """[MQTT-3.2.0-1]: the server sends CONNACK before any other packet; a malformed CONNECT gets CONNACK 0x81/0x82 or
    is closed, never DISCONNECT (a client waiting for CONNACK does not expect it)."""
    name = "v5x-badconn-" + case.replace(" ", "-")
    identity = onboard(served, name)
    data = {"reserved flag": connect5(name, flags=0x03),
            "will qos 3": packet(0x10, _utf8("MQTT") + bytes([5, 0x02 | 0x04 | 0x18]) + struct.pack("!H", 60) + b"\x00" +
                   _utf8(name) + b"\x00" + _utf8(f"i/{name}/w") + _utf8("x")),
            "nul in client id": connect5(name + "\x00x")}[case]
    end = connect_answer(served, identity, data)
    assert end.closed, end
    assert all(p[0] == CONNACK and connack_of(p)[0] >= 0x80 for p in end.packets), \
        f"answered with {[hex(t) for t in end.types]}, not CONNACK"


def test_an_mqtt5_connect_with_a_password_and_no_user_name_is_accepted(served: Served) -> None:
    """MQTT 5.0 section 3.1.2.9: unlike MQTT 3.1.1, "a Password [may be sent] without a User Name"; AWS IoT Core
    authenticates this connection by its certificate and ignores the password."""
    name = "v5x-pass-01"
    identity = onboard(served, name)
    sock = tls_socket(served, identity)
    try:
        sock.sendall(connect5(name, password=b"token"))
        answer = read_packet(sock)
        assert answer and answer[0] == CONNACK and connack_of(answer)[0] == 0x00, answer
    finally:
        sock.close()


def test_no_local_survives_a_resumed_session(served: Served) -> None:
    """Subscription options are part of the session state (MQTT 5.0 section 4.1): a No Local subscription resumed with
    Clean Start 0 still does not send the client its own messages."""
    name = "v5x-nolocal-01"
    identity = onboard(served, name)
    grant(served, name, [{"Effect": "Allow", "Action": "iot:Subscribe", "Resource": arn(f"topicfilter/i/{THING}/*")},
                         {"Effect": "Allow", "Action": "iot:Receive", "Resource": arn(f"topic/i/{THING}/*")}])
    client = paho5(served, identity, session_expiry=600)
    assert client.subscribe(f"i/{name}/m", noLocal=True) == 1
    assert client.publish(f"i/{name}/m", '{"message": "own 1"}') == 0
    time.sleep(0.5)
    assert client.messages == []
    client.close()
    again = paho5(served, identity, clean_start=False, session_expiry=600)
    try:
        assert again.session_present
        assert again.publish(f"i/{name}/m", '{"message": "own 2"}') == 0
        time.sleep(0.7)
        assert [m.payload for m in again.messages] == [], "No Local was lost when the session was resumed"
    finally:
        again.close()


# 5. the same IoT Core decisions at levels 4 and 5 ---------------------------------------------------------------------
def _v4_refused(served: Served, identity: Identity, data: bytes) -> Ending:
    return connect_answer(served, identity, data)


def test_an_iot_connect_refusal_is_the_same_decision_at_levels_4_and_5(served: Served) -> None:
    attacker = onboard(served, "v5x-diff-atk")
    v4 = _v4_refused(served, attacker, connect_packet("v5x-diff-someone"))
    v5 = connect_answer(served, attacker, connect5("v5x-diff-someone"))
    assert v4.closed and v5.closed
    assert all(p[:4] != b"\x20\x02\x00\x00" for p in v4.packets), v4  # not accepted at level 4
    assert v5.packets and connack_of(v5.packets[0])[0] == 0x87, v5  # not accepted at level 5 (0x87)
    refusals = [why for cid, why in broker(served).refusals if cid == "v5x-diff-someone"]
    assert len(refusals) == 2 and all(why.startswith("not authorized") for why in refusals)


def test_a_pending_jitr_certificate_is_refused_alike_at_levels_4_and_5(served: Served) -> None:
    four, five = served.device("v5x-diff-jitr4"), served.device("v5x-diff-jitr5")
    v4 = _v4_refused(served, four, connect_packet("v5x-diff-jitr4"))
    v5 = connect_answer(served, five, connect5("v5x-diff-jitr5"))
    assert v4.closed and v4.packets == [], v4  # closed without CONNACK
    assert v5.closed and v5.packets == [], v5  # likewise (docs: "still close without CONNACK")
    reasons = {cid: why for cid, why in broker(served).refusals if cid in ("v5x-diff-jitr4", "v5x-diff-jitr5")}
    assert all("PENDING_ACTIVATION" in why for why in reasons.values()) and len(reasons) == 2


def test_a_revoked_certificate_is_refused_alike_at_levels_4_and_5(served: Served) -> None:
    name = "v5x-diff-revoked"
    identity = onboard(served, name)
    revoke(served, name)
    v4 = _v4_refused(served, identity, connect_packet(name))
    v5 = connect_answer(served, identity, connect5(name))
    assert v4.closed and v4.packets == [] and v5.closed and v5.packets == [], (v4, v5)
    assert sum(1 for cid, why in broker(served).refusals if cid == name and "REVOKED" in why) == 2


def test_a_certificate_revoked_while_connected_is_refused_alike_for_subscribe_and_publish(served: Served) -> None:
    """After UpdateCertificate REVOKED, neither a subscribe nor a publish goes through at either level; MQTT 5 must not
    report the refusal as 0x8F "Topic Filter invalid" (the filter is the device's own and valid)."""
    name = "v5x-diff-rev2"
    identity = onboard(served, name)
    sock = open5(served, identity)
    try:
        revoke(served, name)
        sock.sendall(subscribe5([(f"e/{name}/cmd", 1)]))
        answer = read_packet(sock)
        if answer and answer[0] == SUBACK:
            assert suback_codes(answer) == [0x87], f"SUBACK {suback_codes(answer)} for a revoked certificate"
        else:
            assert not answer or answer[0] == DISCONNECT, answer
        sock.sendall(publish5(f"i/{name}/m", b'{"message": "after revoke"}', packet_id=3))
        end = ending(sock)
        assert end.closed, end
        assert all(puback_code(p) != 0x00 for p in end.packets if p[0] == PUBACK), end
    finally:
        sock.close()
    assert served.stored(name, EU) == []


def test_a_policy_refused_publish_is_stored_nowhere_at_levels_4_and_5(served: Served) -> None:
    name, victim = "v5x-diff-pub", "v5x-diff-pubvictim"
    identity = onboard(served, name)
    with watcher(served, "v5x-diff-pubwatch") as watch:
        sock = tls_socket(served, identity)
        sock.sendall(connect_packet(name))
        assert read_exactly(sock, 4) == b"\x20\x02\x00\x00"
        sock.sendall(packet(0x32, _utf8(f"i/{victim}/m") + b"\x00\x01" + b'{"message": "v4 forged"}'))
        end4 = ending(sock)
        sock.close()
        assert end4.closed and PUBACK not in end4.types  # MQTT 3.1.1: disconnected, no PUBACK
        sock = open5(served, identity)
        try:
            sock.sendall(publish5(f"i/{victim}/m", b'{"message": "v5 forged"}'))
            assert puback_code(read_packet(sock)) == 0x87  # MQTT 5: PUBACK 0x87, connected
        finally:
            sock.close()
        time.sleep(0.5)
        assert f"i/{victim}/m" not in watch.topics()
    assert served.stored(victim, EU) == []


def test_a_denied_will_is_refused_alike_at_levels_4_and_5(served: Served) -> None:
    name = "v5x-diff-will"
    identity = onboard(served, name)
    v4 = _v4_refused(served, identity, connect_packet(name, will=("i/someone/w", b"x", 0, False)))
    v5 = connect_answer(served, identity, connect5(name, will=(b"\x00", "i/someone/w", b"x", 0, False)))
    assert v4.closed and all(p[:4] != b"\x20\x02\x00\x00" for p in v4.packets), v4
    assert v5.closed and v5.packets and connack_of(v5.packets[0])[0] == 0x87, v5
