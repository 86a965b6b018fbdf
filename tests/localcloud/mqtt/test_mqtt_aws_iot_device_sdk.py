"""The AWS IoT Device SDK v2 for Python (awsiotsdk on awscrt), unchanged, against the served endpoints: it gets the
custom domain as its endpoint (so TLS 1.3 carries the domain as SNI) and reaches the region through the local DNS
answer's HTTP CONNECT proxy, the proxy kind the SDK supports. Skips, naming the package, where it is not installed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.localcloud.mqtt.conftest import Served

awscrt_mqtt = pytest.importorskip("awscrt.mqtt", reason="pip install awsiotsdk (the AWS IoT Device SDK v2)")
from awscrt import exceptions as awscrt_exceptions  # noqa: E402 - after the importorskip above
from awsiot import mqtt_connection_builder  # noqa: E402 - after the importorskip above

if TYPE_CHECKING:
    from awscrt.mqtt import Connection

EU = "eu-west-1"


def sdk_connection(served: Served, identity, location: str) -> Connection:
    proxy = served.sdk_proxy(location)
    return mqtt_connection_builder.mtls_from_path(
        endpoint=served.cloud.domain, port=8883, cert_filepath=str(identity.cert), pri_key_filepath=str(identity.key),
        ca_filepath=str(identity.ca), client_id=identity.thing, clean_session=True, keep_alive_secs=30,
        http_proxy_options=proxy)


def test_the_aws_iot_device_sdk_is_refused_first_then_onboarded_and_its_telemetry_stored(served: Served) -> None:
    identity = served.device("sdk-sensor-0001")
    refused = sdk_connection(served, identity, "IE")
    with pytest.raises(awscrt_exceptions.AwsCrtError):
        refused.connect().result(10)  # auto-registration: the connection is closed while JITR runs

    def connected() -> Connection | None:
        connection = sdk_connection(served, identity, "IE")
        try:
            connection.connect().result(10)
            return connection
        except awscrt_exceptions.AwsCrtError:
            return None

    connection = served.wait_for(connected, timeout_s=20)
    try:
        published, _ = connection.publish(topic="i/sdk-sensor-0001/m", payload=json.dumps({"message": "from the SDK"}),
                                          qos=awscrt_mqtt.QoS.AT_LEAST_ONCE)
        published.result(10)  # PUBACK: the rules engine has the message
    finally:
        connection.disconnect().result(10)
    items = served.wait_for(lambda: served.stored("sdk-sensor-0001", EU))
    assert [i["Message"]["S"] for i in items] == ["from the SDK"]
    assert (None if not served.endpoints.resolver.answers else served.endpoints.resolver.answers[-1]) == ("IE", EU)


def sdk5_client(served: Served, identity, location: str, **callbacks):
    """The SDK's MQTT 5 client (``awsiot.mqtt5_client_builder``, what AWS's current samples use), through the same
    HTTP CONNECT proxy, with the SDK's AWS IoT Core flow control and validation on (its default)."""
    from awsiot import mqtt5_client_builder

    proxy = served.sdk_proxy(location)
    return mqtt5_client_builder.mtls_from_path(
        endpoint=served.cloud.domain, port=8883, cert_filepath=str(identity.cert), pri_key_filepath=str(identity.key),
        ca_filepath=str(identity.ca), client_id=identity.thing, http_proxy_options=proxy, **callbacks)


def test_the_sdks_mqtt5_client_is_refused_first_then_publishes_telemetry_and_receives_on_its_topic(
        served: Served) -> None:
    import concurrent.futures
    import threading

    from awscrt import mqtt5

    thing = "sdk5-sensor-0001"
    identity = served.device(thing)

    def attempt(on_publish_received=None):
        """Start the client; return it once connected, or None when its first connection attempt fails."""
        outcome: concurrent.futures.Future = concurrent.futures.Future()
        client = sdk5_client(
            served, identity, "IE",
            on_lifecycle_connection_success=lambda data: outcome.done() or outcome.set_result(data),
            on_lifecycle_connection_failure=lambda data: outcome.done() or outcome.set_result(None),
            on_publish_received=on_publish_received)
        client.start()
        try:
            connected = outcome.result(15)
        except concurrent.futures.TimeoutError:
            connected = None
        if connected is None:
            client.stop()
            return None, None
        return client, connected

    first, _ = attempt()
    assert first is None  # the connection is closed while JITR registers the certificate
    received: list = []
    got = threading.Event()

    def on_publish_received(data) -> None:
        received.append(data.publish_packet)
        got.set()

    client = connack = None
    for _ in range(20):
        client, connack = attempt(on_publish_received)
        if client is not None:
            break
    assert client is not None, "the SDK's MQTT 5 client never connected"
    try:
        settings = connack.negotiated_settings
        assert settings.maximum_qos == mqtt5.QoS.AT_LEAST_ONCE and settings.topic_alias_maximum_to_server == 8
        assert settings.shared_subscriptions_available and not settings.subscription_identifiers_available
        # its own command topic (the shipped device policy allows Subscribe/Receive under e/<thing>/)
        suback = client.subscribe(mqtt5.SubscribePacket(subscriptions=[
            mqtt5.Subscription(topic_filter=f"e/{thing}/#", qos=mqtt5.QoS.AT_LEAST_ONCE)])).result(10)
        assert suback.reason_codes == [mqtt5.SubackReasonCode.GRANTED_QOS_1]
        refused = client.subscribe(mqtt5.SubscribePacket(subscriptions=[
            mqtt5.Subscription(topic_filter="e/someone-else/#", qos=mqtt5.QoS.AT_LEAST_ONCE)])).result(10)
        assert refused.reason_codes == [mqtt5.SubackReasonCode.NOT_AUTHORIZED]
        puback = client.publish(mqtt5.PublishPacket(
            topic=f"i/{thing}/m", payload=json.dumps({"message": "from the SDK over MQTT 5"}),
            qos=mqtt5.QoS.AT_LEAST_ONCE, user_properties=[mqtt5.UserProperty("source", "sdk")])).result(10)
        assert puback.puback.reason_code == mqtt5.PubackReasonCode.SUCCESS
        forged = client.publish(mqtt5.PublishPacket(topic="i/someone-else/m", payload="{}",
                                                    qos=mqtt5.QoS.AT_LEAST_ONCE)).result(10)
        assert forged.puback.reason_code == mqtt5.PubackReasonCode.NOT_AUTHORIZED
        items = served.wait_for(lambda: served.stored(thing, EU))
        assert [i["Message"]["S"] for i in items] == ["from the SDK over MQTT 5"]
        # another device (MQTT 3.1.1, an application's policy) sends a command on the SDK device's own topic
        from tests.localcloud.mqtt.wire import arn, grant, onboard, paho_connect

        sender = onboard(served, "sdk5-commander-01")
        grant(served, "sdk5-commander-01", [{"Effect": "Allow", "Action": "iot:Publish",
                                             "Resource": arn(f"topic/e/{thing}/cmd")}])
        commander = paho_connect(served, sender)
        assert commander.publish(f"e/{thing}/cmd", json.dumps({"command": "blink"}))
        commander.close()
        assert got.wait(10)
        assert received[0].topic == f"e/{thing}/cmd" and json.loads(received[0].payload) == {"command": "blink"}
    finally:
        client.stop()
