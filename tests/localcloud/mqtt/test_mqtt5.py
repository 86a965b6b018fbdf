"""MQTT 5 on the local endpoints (issue 24), with paho-mqtt's MQTTv5 client: the same IoT Core decisions as MQTT 3.1.1
(JITR, policies, rules), answered with AWS's reason codes, and the MQTT 5 features AWS IoT Core documents
(docs/emulator.md, "MQTT endpoints", lists each as modelled / refused as AWS does / not modelled)."""

from __future__ import annotations

import json
import struct
import time

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.localcloud.mqtt.conftest import Served
from tests.localcloud.mqtt.wire import (EU, _utf8, arn, closed_within, grant, onboard, packet, paho5, read_exactly,
                                        tls_socket, wait)

THING = "${iot:Connection.Thing.ThingName}"


def test_first_mqtt5_connection_is_closed_while_jitr_runs_then_accepted_with_aws_connack_properties(
        served: Served) -> None:
    identity = served.device("v5-jitr-01")
    first = paho5(served, identity)
    assert not first.connected.is_set() and first.connack is None  # closed without CONNACK, as for MQTT 3.1.1
    assert any(cid == "v5-jitr-01" and "PENDING_ACTIVATION" in why for cid, why in served.endpoints.brokers[EU].refusals)
    client = None
    for _ in range(20):
        client = paho5(served, identity)
        if client.connected.is_set():
            break
        time.sleep(0.1)
    assert client is not None and client.connected.is_set()
    props = client.connack_properties
    assert (props.MaximumQoS, props.RetainAvailable, props.TopicAliasMaximum, props.ReceiveMaximum) == (1, 1, 8, 100)
    assert (props.SharedSubscriptionAvailable, props.SubscriptionIdentifierAvailable,
            props.WildcardSubscriptionAvailable) == (1, 0, 1)
    client.close()


def test_mqtt5_publish_is_stored_and_properties_reach_subscribers_of_either_protocol(served: Served) -> None:
    name = "v5-pub-01"
    identity = onboard(served, name)
    grant(served, name, [{"Effect": "Allow", "Action": "iot:Subscribe", "Resource": arn(f"topicfilter/i/{THING}/*")},
                         {"Effect": "Allow", "Action": "iot:Receive", "Resource": arn(f"topic/i/{THING}/*")}])
    client = paho5(served, identity)
    assert client.connected.is_set()
    assert client.subscribe(f"i/{name}/+") == 1  # granted QoS 1
    properties = Properties(PacketTypes.PUBLISH)
    properties.UserProperty = [("trace", "abc"), ("trace", "def")]
    properties.ResponseTopic = f"i/{name}/reply"
    properties.CorrelationData = b"\x01\x02"
    properties.ContentType = "application/json"
    properties.MessageExpiryInterval = 300
    assert client.publish(f"i/{name}/m", json.dumps({"message": "mqtt5"}), properties=properties) == 0
    message = client.wait_message(f"i/{name}/m")
    assert message is not None and json.loads(message.payload)["message"] == "mqtt5"
    got = message.properties
    assert got.UserProperty == [("trace", "abc"), ("trace", "def")]
    assert (got.ResponseTopic, got.CorrelationData, got.ContentType) == (f"i/{name}/reply", b"\x01\x02",
                                                                          "application/json")
    assert 0 < got.MessageExpiryInterval <= 300
    items = served.wait_for(lambda: served.stored(name, EU))
    assert [i["Message"]["S"] for i in items] == ["mqtt5"]
    client.close()


def test_a_policy_refused_subscription_and_publish_get_0x87_and_the_client_stays_connected(served: Served) -> None:
    name = "v5-nosy-01"
    client = paho5(served, onboard(served, name))
    assert client.subscribe("e/someone-else/#") == 0x87  # Not authorized
    assert client.subscribe(f"e/{name}/#") == 1
    assert client.publish("i/someone-else/m", '{"message": "forged"}') == 0x87  # PUBACK: Not authorized
    assert not client.closed.is_set()
    assert client.publish(f"i/{name}/m", '{"message": "mine"}') == 0  # still connected, still publishing
    assert served.stored("someone-else", EU) == []
    served.wait_for(lambda: served.stored(name, EU))
    client.close()


def test_topic_aliases_as_aws_allows_them(served: Served) -> None:
    name = "v5-alias-01"
    client = paho5(served, onboard(served, name))
    properties = Properties(PacketTypes.PUBLISH)
    properties.TopicAlias = 3
    assert client.publish(f"i/{name}/m", '{"message": "aliased 1"}', properties=properties) == 0
    assert client.publish("", '{"message": "aliased 2"}', properties=properties) == 0  # the alias alone

    def both() -> list[dict] | None:
        stored = served.stored(name, EU)
        return stored if len(stored) == 2 else None

    items = served.wait_for(both)
    assert sorted(i["Message"]["S"] for i in items) == ["aliased 1", "aliased 2"]
    over = Properties(PacketTypes.PUBLISH)
    over.TopicAlias = 9  # over the CONNACK's Topic Alias Maximum (8): DISCONNECT 0x94
    client.paho.publish(f"i/{name}/m", '{"message": "no"}', qos=1, properties=over)
    wait(client.closed.is_set)
    assert client.disconnect_reason is not None and client.disconnect_reason.value == 0x94
    client.paho.loop_stop()


def test_a_shared_subscription_delivers_each_message_to_one_member_of_the_group(served: Served) -> None:
    publisher_name, members = "v5-share-pub-01", ["v5-share-a-01", "v5-share-b-01"]
    statements = [{"Effect": "Allow", "Action": "iot:Subscribe", "Resource": arn("topicfilter/$share/workers/i/*")},
                  {"Effect": "Allow", "Action": "iot:Receive", "Resource": arn("topic/i/*")}]
    clients = []
    for member in members:
        identity = onboard(served, member)
        grant(served, member, statements)
        client = paho5(served, identity)
        assert client.subscribe(f"$share/workers/i/{publisher_name}/m") == 1
        clients.append(client)
    publisher = paho5(served, onboard(served, publisher_name))
    for n in range(12):
        assert publisher.publish(f"i/{publisher_name}/m", json.dumps({"message": f"job {n}"})) == 0
    wait(lambda: sum(len(c.messages) for c in clients) >= 12)
    time.sleep(0.3)
    jobs = sorted(json.loads(m.payload)["message"] for c in clients for m in c.messages)
    assert jobs == sorted(f"job {n}" for n in range(12))  # each once
    for client in (*clients, publisher):
        client.close()


def test_session_expiry_resumes_within_the_interval_and_ends_after_it(served: Served) -> None:
    name = "v5-session-01"
    identity = onboard(served, name)
    client = paho5(served, identity, clean_start=True, session_expiry=60)
    assert client.subscribe(f"e/{name}/cmd") == 1
    client.close()
    again = paho5(served, identity, clean_start=False, session_expiry=60)
    assert again.connected.is_set() and again.session_present
    again.close()
    served.endpoints.limits.session_expiry_max_s = 0.3  # AWS's account limit, lowered for the test
    try:
        client = paho5(served, identity, clean_start=False, session_expiry=60)
        assert client.connack_properties.SessionExpiryInterval == 0  # the endpoint's maximum, told in CONNACK
        client.close()
        time.sleep(1.0)
        after = paho5(served, identity, clean_start=False, session_expiry=60)
        assert after.connected.is_set() and not after.session_present
        after.close()
    finally:
        served.endpoints.limits.session_expiry_max_s = 3600


def test_a_newer_connection_takes_the_client_id_over_with_disconnect_0x8e(served: Served) -> None:
    name = "v5-takeover-01"
    identity = onboard(served, name)
    first = paho5(served, identity)
    second = paho5(served, identity)
    assert second.connected.is_set()
    wait(first.closed.is_set)
    assert first.disconnect_reason is not None and first.disconnect_reason.value == 0x8E  # Session taken over
    first.paho.loop_stop()
    second.close()


def test_a_not_authorized_connect_gets_connack_0x87(served: Served) -> None:
    identity = onboard(served, "v5-conn-01")
    client = paho5(served, identity, client_id="v5-someone-else-01")  # iot:Connect allows only its own thing name
    assert client.connack is not None and client.connack.value == 0x87


def _v5_connect(client_id: str, properties: bytes = b"\x00") -> bytes:
    body = _utf8("MQTT") + bytes([5, 0x02]) + struct.pack("!H", 60) + properties + _utf8(client_id)
    return packet(0x10, body)


def test_an_mqtt5_connect_is_answered_at_once_and_auth_is_refused(served: Served) -> None:
    """Before issue 24 an MQTT 5 CONNECT got no CONNACK at all (the client waited 20 s)."""
    identity = onboard(served, "v5-raw-01")
    sock = tls_socket(served, identity)
    try:
        started = time.monotonic()
        sock.sendall(_v5_connect("v5-raw-01"))
        sock.settimeout(1)
        header = read_exactly(sock, 2)
        assert header[0] == 0x20 and time.monotonic() - started < 1
        body = read_exactly(sock, header[1])
        assert body[:2] == b"\x00\x00"  # session present 0, reason code Success
        sock.sendall(b"\xf0\x00")  # AUTH: AWS IoT Core has no enhanced authentication
        header = read_exactly(sock, 2)
        reason = read_exactly(sock, header[1])
        assert header[0] == 0xE0 and reason[0] == 0x82  # DISCONNECT: Protocol Error
        assert closed_within(sock, 1) is not None
    finally:
        sock.close()


def test_an_enhanced_authentication_connect_gets_connack_0x8c(served: Served) -> None:
    identity = onboard(served, "v5-raw-02")
    method = b"\x15" + _utf8("SCRAM-SHA-1")
    properties = bytes([len(method)]) + method
    sock = tls_socket(served, identity)
    try:
        sock.sendall(_v5_connect("v5-raw-02", properties))
        sock.settimeout(1)
        header = read_exactly(sock, 2)
        body = read_exactly(sock, header[1])
        assert header[0] == 0x20 and body[1] == 0x8C  # Bad authentication method
        assert closed_within(sock, 1) is not None
    finally:
        sock.close()


def test_the_device_tool_speaks_mqtt5_and_reports_reason_codes(served: Served, capsys: pytest.CaptureFixture) -> None:
    from device import cli

    name = "v5-tool-01"
    identity = onboard(served, name)
    common = ["--endpoint", f"127.0.0.1:{served.endpoints.port(EU)}", "--sni", served.cloud.domain,
              "--ca", str(identity.ca), "--thing", name, "--cert", str(identity.cert), "--key", str(identity.key),
              "--mqtt", "5", "--attempts", "3"]
    assert cli.main(["publish", *common, "--message", '{"message": "from the tool over MQTT 5"}']) == 0
    served.wait_for(lambda: served.stored(name, EU))
    capsys.readouterr()
    assert cli.main(["publish", *common, "--topic", "i/someone-else/m"]) == 1
    assert "PUBACK for i/someone-else/m: Not authorized (0x87)" in capsys.readouterr().err
    assert cli.main(["listen", *common, "--topic", "e/someone-else/#", "--timeout", "1"]) == 1
    assert "SUBACK 0x87" in capsys.readouterr().err
    wrong = [*common]
    wrong[wrong.index("--thing") + 1] = "v5-tool-someone-else"  # iot:Connect allows only its own client id
    assert cli.main(["connect", *wrong, "--attempts", "1"]) == 1
    assert "CONNACK refused: Not authorized (0x87)" in capsys.readouterr().err
