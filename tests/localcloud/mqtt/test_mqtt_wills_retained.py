"""Wills and retained messages at the endpoints, with paho: a will is a publish the device asks for at CONNECT, so
IoT Core checks it there (``iot:Publish`` on its topic, ``iot:RetainPublish`` when retained, QoS 0 or 1) and runs the
rules on it when it is sent; a retained PUBLISH needs ``iot:RetainPublish``; a retained message reaches only a
subscriber whose filter is its exact topic and who may receive it. docs/emulator.md, MQTT endpoints."""

from __future__ import annotations

import json

from tests.localcloud.mqtt.conftest import Served
from tests.localcloud.mqtt.wire import EU, arn, grant, onboard, paho_connect


def _watcher(served: Served, name: str):
    identity = onboard(served, name)
    grant(served, name, [
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": arn("topicfilter/*")},
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": arn("topic/*")}])
    return identity


def test_a_will_to_a_topic_the_policy_does_not_allow_is_refused_at_connect(served: Served) -> None:
    device = onboard(served, "will-rogue-01")
    watcher = paho_connect(served, _watcher(served, "will-watch-01"))
    try:
        assert watcher.subscribe("e/will-victim-01/cmd") == 1
        rogue = paho_connect(served, device, will=("e/will-victim-01/cmd", '{"do": "unlock"}', 1, False))
        assert not rogue.connected.is_set()
        assert "iot:Publish" in served.endpoints.brokers[EU].refusals[-1][1]
        rogue.drop()
        assert watcher.wait_message("e/will-victim-01/cmd", timeout_s=1.5) is None
    finally:
        watcher.close()


def test_a_retained_will_needs_iot_retain_publish_and_a_will_needs_qos_0_or_1(served: Served) -> None:
    device = onboard(served, "will-retain-01")
    refused = paho_connect(served, device, will=("i/will-retain-01/status", "gone", 1, True))
    assert not refused.connected.is_set()
    assert "iot:RetainPublish" in served.endpoints.brokers[EU].refusals[-1][1]
    qos2 = paho_connect(served, device, will=("i/will-retain-01/status", "gone", 2, False))
    assert not qos2.connected.is_set()
    grant(served, "will-retain-01", [{"Effect": "Allow", "Action": "iot:RetainPublish",
                                      "Resource": arn("topic/i/will-retain-01/status")}])
    allowed = paho_connect(served, device, will=("i/will-retain-01/status", "gone", 1, True))
    assert allowed.connected.is_set()
    allowed.drop()
    stored = served.wait_for(lambda: served.endpoints.brokers[EU].retained_messages.get("i/will-retain-01/status"))
    assert bytes(stored.data) == b"gone"


def test_a_will_on_the_devices_own_telemetry_topic_reaches_the_rules_engine(served: Served) -> None:
    device = onboard(served, "will-rules-01")
    client = paho_connect(served, device, will=("i/will-rules-01/m", json.dumps({"message": "lost power"}), 1, False))
    assert client.connected.is_set()
    client.drop()
    items = served.wait_for(lambda: served.stored("will-rules-01", EU))
    assert [i["Message"]["S"] for i in items] == ["lost power"]


def test_a_clean_disconnect_sends_no_will(served: Served) -> None:
    device = onboard(served, "will-clean-01")
    client = paho_connect(served, device, will=("i/will-clean-01/m", json.dumps({"message": "should not"}), 1, False))
    assert client.connected.is_set()
    client.close()  # DISCONNECT first: CLIENT_INITIATED_DISCONNECT, no will (life-cycle-events)
    again = paho_connect(served, device)
    assert again.publish("i/will-clean-01/m", json.dumps({"message": "marker"}))
    again.close()
    items = served.wait_for(lambda: served.stored("will-clean-01", EU))
    assert [i["Message"]["S"] for i in items] == ["marker"]


def test_a_retained_publish_without_iot_retain_publish_is_refused_and_not_kept(served: Served) -> None:
    device = onboard(served, "retain-pub-01")
    client = paho_connect(served, device)
    assert client.connected.is_set()
    assert not client.publish("i/retain-pub-01/m", json.dumps({"message": "kept?"}), retain=True)
    assert client.closed.wait(3)
    assert "i/retain-pub-01/m" not in served.endpoints.brokers[EU].retained_messages
    assert served.stored("retain-pub-01", EU) == []  # refused before the rules engine, like any refused publish


def test_a_retained_message_reaches_exact_subscribers_who_may_receive_it_and_nobody_else(served: Served) -> None:
    device = onboard(served, "retain-ok-01")
    grant(served, "retain-ok-01", [{"Effect": "Allow", "Action": "iot:RetainPublish",
                                    "Resource": arn("topic/i/retain-ok-01/*")}])
    publisher = paho_connect(served, device)
    assert publisher.publish("i/retain-ok-01/config", json.dumps({"interval": 5}), retain=True)
    publisher.close()
    exact = paho_connect(served, _watcher(served, "retain-exact-01"))
    wildcard = paho_connect(served, _watcher(served, "retain-wild-01"))
    bystander = onboard(served, "retain-nosy-01")  # the device policy: no iot:Receive on i/...
    grant(served, "retain-nosy-01", [{"Effect": "Allow", "Action": "iot:Subscribe", "Resource": arn("topicfilter/*")}])
    nosy = paho_connect(served, bystander)
    try:
        assert exact.subscribe("i/retain-ok-01/config") == 1
        message = exact.wait_message("i/retain-ok-01/config")
        assert message is not None and message[2] is True and json.loads(message[1]) == {"interval": 5}
        assert wildcard.subscribe("i/retain-ok-01/#") == 1  # AWS: wildcard filters get no retained message
        assert nosy.subscribe("i/retain-ok-01/config") == 1  # subscribing is allowed, receiving is not
        late = paho_connect(served, _watcher(served, "retain-late-01"))  # subscribed to nothing
        assert wildcard.wait_message("i/retain-ok-01/config", timeout_s=1) is None
        assert nosy.wait_message("i/retain-ok-01/config", timeout_s=0.2) is None
        assert late.wait_message("i/retain-ok-01/config", timeout_s=0.2) is None
        late.close()
    finally:
        for client in (exact, wildcard, nosy):
            client.close()


def test_an_empty_retained_publish_deletes_the_retained_message(served: Served) -> None:
    device = onboard(served, "retain-del-01")
    grant(served, "retain-del-01", [{"Effect": "Allow", "Action": "iot:RetainPublish",
                                     "Resource": arn("topic/i/retain-del-01/*")}])
    client = paho_connect(served, device)
    try:
        assert client.publish("i/retain-del-01/config", "v1", retain=True)
        assert "i/retain-del-01/config" in served.endpoints.brokers[EU].retained_messages
        assert client.publish("i/retain-del-01/config", b"", retain=True)  # acknowledged at once, and deletes it
        assert "i/retain-del-01/config" not in served.endpoints.brokers[EU].retained_messages
    finally:
        client.close()
