"""The AWS IoT Device SDK v2 for Python (awsiotsdk on awscrt), unchanged, against the served endpoints: it gets the
custom domain as its endpoint (so TLS 1.3 carries the domain as SNI) and reaches the region through the local DNS
answer's HTTP CONNECT proxy, the proxy kind the SDK supports. Skips, naming the package, where it is not installed."""

from __future__ import annotations

import json

import pytest

from tests.localcloud.mqtt.conftest import Served

awscrt_mqtt = pytest.importorskip("awscrt.mqtt", reason="pip install awsiotsdk (the AWS IoT Device SDK v2)")
from awscrt import exceptions as awscrt_exceptions  # noqa: E402
from awscrt import http as awscrt_http  # noqa: E402
from awsiot import mqtt_connection_builder  # noqa: E402

EU = "eu-west-1"


def sdk_connection(served: Served, identity, location: str) -> awscrt_mqtt.Connection:
    proxy = awscrt_http.HttpProxyOptions(
        host_name="127.0.0.1", port=served.endpoints.resolver.port,
        auth_type=awscrt_http.HttpProxyAuthenticationType.Basic, auth_username=location, auth_password="-",
        connection_type=awscrt_http.HttpProxyConnectionType.Tunneling)
    return mqtt_connection_builder.mtls_from_path(
        endpoint=served.cloud.domain, port=8883, cert_filepath=str(identity.cert), pri_key_filepath=str(identity.key),
        ca_filepath=str(identity.ca), client_id=identity.thing, clean_session=True, keep_alive_secs=30,
        http_proxy_options=proxy)


def test_the_aws_iot_device_sdk_is_refused_first_then_onboarded_and_its_telemetry_stored(served: Served) -> None:
    identity = served.device("sdk-sensor-0001")
    refused = sdk_connection(served, identity, "IE")
    with pytest.raises(awscrt_exceptions.AwsCrtError):
        refused.connect().result(10)  # auto-registration: the connection is closed while JITR runs

    def connected() -> awscrt_mqtt.Connection | None:
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
