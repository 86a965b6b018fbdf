"""Sessions at the endpoints: IoT Core decides on a CONNECT before the broker changes anything, one client id is one
connection (the newer one wins), client ids are at most 128 bytes. Real paho clients; docs/emulator.md, MQTT
endpoints."""

from __future__ import annotations

import json
import time

from tests.localcloud.mqtt.conftest import Served
from tests.localcloud.mqtt.wire import (EU, accepted_connect, any_client_id, arn, closed_within, connect_packet, grant,
                                        onboard, operator_device, paho_connect, publish_packet, raw_connect,
                                        read_exactly, tls_socket)


def test_a_refused_connect_with_a_victims_client_id_leaves_its_clean_session_and_subscriptions(served: Served) -> None:
    victim, intruder = onboard(served, "sess-victim-01"), onboard(served, "sess-intruder-01")
    operator = paho_connect(served, operator_device(served, "sess-operator-01"))
    listening = paho_connect(served, victim)
    try:
        assert listening.connected.is_set()
        assert listening.subscribe("e/sess-victim-01/cmd") == 1
        stolen = paho_connect(served, intruder, client_id="sess-victim-01")  # its policy: client/<own thing> only
        assert not stolen.connected.is_set()
        assert "not authorized" in served.endpoints.brokers[EU].refusals[-1][1]
        assert operator.publish("e/sess-victim-01/cmd", json.dumps({"do": "blink"}))
        assert listening.wait_message("e/sess-victim-01/cmd") is not None, "the victim lost its subscription"
        assert not listening.closed.is_set()
    finally:
        listening.close()
        operator.close()


def test_a_refused_connect_leaves_a_persistent_sessions_will_and_subscriptions(served: Served) -> None:
    victim, intruder = onboard(served, "sess-victim-02"), onboard(served, "sess-intruder-02")
    watcher = paho_connect(served, operator_device(served, "sess-operator-02"))
    try:
        assert watcher.subscribe("i/sess-victim-02/status") == 1
        victim_client = paho_connect(served, victim, clean_session=False,
                                     will=("i/sess-victim-02/status", '{"state": "lost"}', 1, False))
        assert victim_client.connected.is_set()
        assert victim_client.subscribe("e/sess-victim-02/cmd") == 1
        stolen = paho_connect(served, intruder, client_id="sess-victim-02", clean_session=False,
                              will=("i/sess-victim-02/status", '{"state": "forged"}', 1, False))
        assert not stolen.connected.is_set()
        victim_client.drop()  # lost without DISCONNECT: the broker publishes the victim's own will
        will = watcher.wait_message("i/sess-victim-02/status")
        assert will is not None and json.loads(will[1]) == {"state": "lost"}
        again = paho_connect(served, victim, clean_session=False)
        assert again.connected.is_set() and again.session_present  # the persistent session survived the intruder
        again.close()
    finally:
        watcher.close()


def test_a_second_connection_with_the_same_client_id_disconnects_the_first(served: Served) -> None:
    device = onboard(served, "sess-twice-01")
    watcher = paho_connect(served, operator_device(served, "sess-operator-03"))
    first = paho_connect(served, device, will=("i/sess-twice-01/status", '{"state": "replaced"}', 0, False))
    try:
        assert watcher.subscribe("i/sess-twice-01/status") == 1
        assert first.connected.is_set()
        second = paho_connect(served, device)
        assert second.connected.is_set()
        assert first.closed.wait(5), "the older connection stayed connected"
        assert not second.closed.is_set()
        assert second.publish("i/sess-twice-01/m", json.dumps({"message": "from the newer connection"}))
        # DUPLICATE_CLIENTID is a disconnect for which AWS sends the older connection's will (life-cycle-events)
        assert watcher.wait_message("i/sess-twice-01/status") is not None
        connected = [c.client_id for c in served.endpoints.brokers[EU].connections() if c.client_id == "sess-twice-01"]
        assert connected == ["sess-twice-01"]
        second.close()
    finally:
        first.close()
        watcher.close()


def test_a_client_id_over_128_bytes_is_refused_and_changes_nothing(served: Served) -> None:
    device = onboard(served, "sess-long-01")
    grant(served, "sess-long-01", [{"Effect": "Allow", "Action": "iot:Connect", "Resource": arn("client/*")}])
    assert paho_connect(served, device, client_id="x" * 128).connected.is_set()  # 128 bytes: AWS's limit, allowed
    refused = paho_connect(served, device, client_id="é" * 65)  # 130 bytes of UTF-8
    assert not refused.connected.is_set()
    assert "128" in served.endpoints.brokers[EU].refusals[-1][1]


def test_two_connects_racing_to_take_over_one_client_id_leave_one_connection(served: Served) -> None:
    """A is connected (with a will, so its end goes through the gate); B and C CONNECT with A's client id back to back.
    AWS: one client id, one connection. Both B and C are accepted while both wait for A to end; the second one to
    resume then deletes the first one's session entry (clean session) and both stay connected."""
    device = onboard(served, "rt-race-01")
    broker = served.endpoints.brokers[EU]
    outcomes = []
    for _attempt in range(3):
        a = raw_connect(served, device, will=("i/rt-race-01/m", b'{"message": "a lost"}', 1, False))
        b, c = tls_socket(served, device), tls_socket(served, device)
        try:
            connect = connect_packet("rt-race-01")
            b.sendall(connect)
            c.sendall(connect)
            accepted = [accepted_connect(s) for s in (b, c)]
            time.sleep(1.0)  # every take-over has had time to close its victim
            still_open = [closed_within(s, 0.3) is None for s in (b, c)]
            live = [x.client_id for x in broker.connections() if x.client_id == "rt-race-01"]
            working = []
            for n, s in enumerate((b, c)):  # each publishes (QoS 1) on the device's own topic and reads its PUBACK
                try:
                    s.sendall(publish_packet("i/rt-race-01/m", json.dumps({"message": f"via {n}"}).encode(),
                                             qos=1, packet_id=10 + n))
                    working.append(read_exactly(s, 4) == b"\x40\x02\x00" + bytes([10 + n]))
                except OSError:
                    working.append(False)
            survives_mark_down = None
            if all(accepted) and all(still_open):  # the one the broker lost track of escapes disconnect_all too
                served.endpoints.mark_down(EU, dns=False)
                try:
                    survives_mark_down = [closed_within(s, 1) is None for s in (b, c)]
                finally:
                    served.endpoints.mark_up(EU)
            outcomes.append((accepted, still_open, working, len(live), survives_mark_down))
            if all(accepted) and all(still_open):
                break
        finally:
            for s in (a, b, c):
                s.close()
        served.wait_for(lambda: not [x for x in broker.connections() if x.client_id == "rt-race-01"], timeout_s=5)
    assert not any(all(acc) and all(op) for acc, op, *_ in outcomes), \
        f"two connections with one client id stay connected (accepted, open, publishing, listed, survive mark_down): " \
        f"{outcomes}"


def test_two_simultaneous_first_connects_with_one_client_id_leave_one_connection(served: Served) -> None:
    """Regression guard: with no earlier connection, the first accepted CONNECT is a session before the second
    resumes (no await between the take-over check and amqtt's session table), so the second takes it over."""
    device = onboard(served, "rt-race-02")
    b, c = tls_socket(served, device), tls_socket(served, device)
    try:
        connect = connect_packet("rt-race-02")
        b.sendall(connect)
        c.sendall(connect)
        accepted = [accepted_connect(s) for s in (b, c)]
        time.sleep(1.0)
        still_open = [closed_within(s, 0.3) is None for s in (b, c)]
        assert not (all(accepted) and all(still_open)), (accepted, still_open)
    finally:
        b.close()
        c.close()


def test_a_clean_sessions_subscriptions_are_not_resumed_by_a_persistent_connect(served: Served) -> None:
    """[MQTT-3.1.2-6]: a clean session ends with its connection. amqtt drops disconnected clean sessions only when its
    1 s session monitor runs, and RegionBroker resumes whatever is in the session table: a CONNECT with clean session
    0 right after a clean one gets session present = 1 and the clean session's subscriptions."""
    name = "rt-clean-01"
    device = onboard(served, name)
    first = paho_connect(served, device, clean_session=True)
    assert first.subscribe(f"e/{name}/cmd") == 1
    first.close()
    again = paho_connect(served, device, clean_session=False)
    present = again.session_present
    again.close()
    assert not present, "a persistent CONNECT resumed the clean session that had just ended"


def test_messages_queued_for_a_persistent_session_are_not_delivered_without_iot_receive(served: Served) -> None:
    """The victim subscribes in a persistent session and disconnects; a command is queued for it. Another certificate
    that may connect with any client id (but has no iot:Receive on the victim's topics) resumes the session: AWS checks
    iot:Receive on every delivery, so it must not get the queued command."""
    victim = onboard(served, "rt-pers-01")
    operator = paho_connect(served, operator_device(served, "rt-pers-op-01"))
    intruder = any_client_id(served, "rt-pers-intr-01")
    try:
        first = paho_connect(served, victim, clean_session=False)
        assert first.connected.is_set()
        assert first.subscribe("e/rt-pers-01/cmd") == 1
        first.close()  # clean DISCONNECT: the persistent session stays, offline
        time.sleep(0.3)
        assert operator.publish("e/rt-pers-01/cmd", json.dumps({"do": "unlock"}))
        time.sleep(0.5)
        resumed = paho_connect(served, intruder, client_id="rt-pers-01", clean_session=False)
        assert resumed.connected.is_set()
        got = resumed.wait_message("e/rt-pers-01/cmd", timeout_s=2)
        resumed.close()
        assert got is None, f"queued message delivered without iot:Receive: {got}"
    finally:
        operator.close()


def test_a_message_queued_for_a_persistent_session_is_delivered_with_retain_0(served: Served) -> None:
    """A QoS 1 message queued for an offline persistent session is an ordinary delivery: RETAIN must be 0 (MQTT 3.1.1
    [MQTT-3.3.1-9]); the device would otherwise take a one-off command for the topic's retained state."""
    victim = onboard(served, "rt-pers-02")
    operator = paho_connect(served, operator_device(served, "rt-pers-op-02"))
    try:
        first = paho_connect(served, victim, clean_session=False)
        assert first.subscribe("e/rt-pers-02/cmd") == 1
        first.close()
        time.sleep(0.3)
        assert operator.publish("e/rt-pers-02/cmd", json.dumps({"do": "once"}))
        time.sleep(0.5)
        again = paho_connect(served, victim, clean_session=False)
        got = again.wait_message("e/rt-pers-02/cmd", timeout_s=3)
        again.close()
        assert got is not None, "the queued QoS 1 message was lost"
        assert got[2] is False, "a queued (not retained) message was delivered with RETAIN=1"
    finally:
        operator.close()


def test_a_permitted_publish_to_a_dollar_topic_keeps_the_connection_and_its_session_state_right(served: Served) -> None:
    """A device whose policy allows a shadow update publishes to ``$aws/things/<thing>/shadow/update``: IoT Core accepts
    it (rules run, PUBACK), then amqtt's delivery loop refuses any ``$`` topic and leaves: the socket is closed, no will
    is sent, and the session stays "connected" in the broker (counted against max_sessions, listed by connections())."""
    name = "rt-dollar-01"
    device = onboard(served, name)
    grant(served, name, [{"Effect": "Allow", "Action": "iot:Publish",
                          "Resource": arn(f"topic/$aws/things/{name}/shadow/update")}])
    watcher = paho_connect(served, operator_device(served, "rt-dollar-op-01"))
    try:
        assert watcher.subscribe(f"i/{name}/status") == 1
        client = paho_connect(served, device, will=(f"i/{name}/status", '{"state": "lost"}', 1, False))
        assert client.connected.is_set()
        assert client.publish(f"$aws/things/{name}/shadow/update", json.dumps({"state": {"reported": {"on": 1}}}))
        closed = client.closed.wait(2)
        broker = served.endpoints.brokers[EU]
        listed = [c.client_id for c in broker.connections() if c.client_id == name]
        will = watcher.wait_message(f"i/{name}/status", timeout_s=1) if closed else None
        client.close()
        facts = {"closed": closed, "still listed as connected": bool(closed and listed),
                 "no will": bool(closed and will is None)}
        assert not any(facts.values()), f"after an accepted, acknowledged publish: {facts}"
    finally:
        watcher.close()


def test_a_refused_connect_with_a_victims_client_id_and_a_retained_will_changes_nothing(served: Served) -> None:
    """The intruder may not connect as the victim, and asks for a retained will on the victim's command topic: no
    CONNACK, the victim keeps its connection and subscription, nothing retained."""
    victim, intruder = onboard(served, "rt-keep-01"), onboard(served, "rt-keep-intr-01")
    operator = paho_connect(served, operator_device(served, "rt-keep-op-01"))
    listening = paho_connect(served, victim)
    try:
        assert listening.subscribe("e/rt-keep-01/cmd") == 1
        sock = tls_socket(served, intruder)
        sock.sendall(connect_packet("rt-keep-01", clean=True, will=("e/rt-keep-01/cmd", b"forged", 1, True)))
        assert not accepted_connect(sock)
        sock.close()
        assert "e/rt-keep-01/cmd" not in served.endpoints.brokers[EU].retained_messages
        assert operator.publish("e/rt-keep-01/cmd", json.dumps({"do": "blink"}))
        assert listening.wait_message("e/rt-keep-01/cmd") is not None
        assert not listening.closed.is_set()
    finally:
        listening.close()
        operator.close()
