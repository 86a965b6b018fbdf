"""The local cloud's MQTT endpoints with paho-mqtt (through device.session): JITR, policies, delivery, failover."""

from __future__ import annotations

import json
import socket
import ssl
import threading

import boto3
import pytest

from device import telemetry
from device.session import Refused, connect_with_backoff
from tests.localcloud.mqtt.conftest import Served, sequence_numbers

EU, US = "eu-west-1", "us-west-2"


def onboard(served: Served, name: str, region: str = EU):
    identity = served.device(name)
    session, attempts = connect_with_backoff(lambda: served.direct(identity, region), attempts=10, base_s=0.05,
                                             cap_s=0.3)
    return identity, session, attempts


def test_first_connection_is_closed_then_accepted_after_jitr(served: Served) -> None:
    identity = served.device("paho-jitr-01")
    with pytest.raises(Refused, match="closed before CONNACK"):
        served.direct(identity, EU).open()
    assert any(cid == "paho-jitr-01" and "PENDING_ACTIVATION" in why for cid, why in served.endpoints.brokers[EU].refusals)
    session, attempts = connect_with_backoff(lambda: served.direct(identity, EU), attempts=10, base_s=0.05, cap_s=0.3)
    assert session.connected and attempts >= 1
    session.close()


def test_publish_lands_in_the_regions_data_table_and_reaches_a_subscriber_of_the_same_thing(served: Served) -> None:
    identity, session, _ = onboard(served, "paho-pub-01")
    session.close()
    # An application policy on the device certificate letting the thing read its own telemetry (the shipped
    # device policy allows Subscribe/Receive under e/<thing>/ only): delivery is checked with policy variables.
    with served.endpoints.gate:
        iot = boto3.client("iot", region_name=EU)
        thing = "${iot:Connection.Thing.ThingName}"
        arn = f"arn:aws:iot:{EU}:123456789012"
        iot.create_policy(policyName="read-own-telemetry", policyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": f"{arn}:topicfilter/i/{thing}/*"},
            {"Effect": "Allow", "Action": "iot:Receive", "Resource": f"{arn}:topic/i/{thing}/*"}]}))
        principal = iot.list_thing_principals(thingName="paho-pub-01")["principals"][0]
        iot.attach_policy(policyName="read-own-telemetry", target=principal)
    received: list[tuple[str, bytes]] = []
    session = served.direct(identity, EU, on_message=lambda t, p: received.append((t, p)))
    session.open()
    assert session.subscribe("i/paho-pub-01/+", qos=1) == 1
    session.publish("i/paho-pub-01/m", json.dumps({"message": "through paho"}), qos=1)
    served.wait_for(lambda: received)
    assert received[0][0] == "i/paho-pub-01/m" and json.loads(received[0][1])["message"] == "through paho"
    items = served.wait_for(lambda: served.stored("paho-pub-01", EU))
    assert [i["Message"]["S"] for i in items] == ["through paho"]
    session.close()


def test_subscribing_to_another_things_topic_is_refused(served: Served) -> None:
    _, session, _ = onboard(served, "paho-nosy-01")
    assert session.subscribe("e/someone-else/#") == 0x80
    assert session.subscribe("e/paho-nosy-01/#") == 1
    session.close()


def test_publishing_to_another_things_topic_disconnects_without_puback(served: Served) -> None:
    _, session, _ = onboard(served, "paho-rogue-01")
    with pytest.raises(Exception, match="PUBACK"):
        session.publish("i/someone-else/m", '{"message": "forged"}', qos=1)
    assert session.wait_closed(3)
    assert served.stored("someone-else", EU) == []


def test_a_revoked_certificate_is_refused_at_connect(served: Served) -> None:
    identity, session, _ = onboard(served, "paho-revoked-01")
    session.close()
    with served.endpoints.gate:
        iot = boto3.client("iot", region_name=EU)
        certificate_id = iot.list_thing_principals(thingName="paho-revoked-01")["principals"][0].rsplit("/", 1)[-1]
        iot.update_certificate(certificateId=certificate_id, newStatus="REVOKED")
    with pytest.raises(Refused):
        served.direct(identity, EU).open()
    assert "REVOKED" in served.endpoints.brokers[EU].refusals[-1][1]


def _handshake(served: Served, *, server_name: str | None, cert: str, key: str, ca: str | None = None,
               version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3) -> None:
    context = ssl.create_default_context(cafile=ca or str(served.cloud.pki_dir / "root-ca.crt"))
    context.check_hostname = server_name is not None
    context.minimum_version = context.maximum_version = version
    context.load_cert_chain(cert, key)
    with socket.create_connection(("127.0.0.1", served.endpoints.port(EU)), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            tls.sendall(b"\x10\x00")  # the server's verdict on our certificate arrives after TLS 1.3's Finished
            if tls.recv(1) == b"":
                raise ConnectionResetError("closed")


def test_missing_sni_and_tls_1_2_are_refused_at_the_handshake(served: Served) -> None:
    identity = served.device("paho-tls-01")
    with pytest.raises(ssl.SSLError):  # alert or EOF, depending on where OpenSSL stops the handshake
        _handshake(served, server_name=None, cert=str(identity.cert), key=str(identity.key))
    with pytest.raises(ssl.SSLError):
        _handshake(served, server_name="other.example.com", cert=str(identity.cert), key=str(identity.key))
    with pytest.raises(ssl.SSLError):
        _handshake(served, server_name=served.cloud.domain, cert=str(identity.cert), key=str(identity.key),
                   version=ssl.TLSVersion.TLSv1_2)


def test_foreign_ca_and_expired_certificates_are_refused_at_the_handshake(served: Served, tmp_path) -> None:
    import pki

    foreign = pki.CertificateAuthority.create(org="Foreign Org").issue_device("paho-foreign-01")
    (tmp_path / "f.crt").write_text(foreign.certificate_pem)
    (tmp_path / "f.key").write_text(foreign.private_key_pem)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _handshake(served, server_name=served.cloud.domain, cert=str(tmp_path / "f.crt"), key=str(tmp_path / "f.key"))
    expired = served.device("paho-expired-01", validity=pki.authority.expired_validity())
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _handshake(served, server_name=served.cloud.domain, cert=str(expired.cert), key=str(expired.key))
    with served.endpoints.gate:
        ids = [c["certificateId"] for c in boto3.client("iot", region_name=EU).list_certificates()["certificates"]]
    assert foreign.certificate_id not in ids  # never auto-registered


def test_telemetry_loop_moves_to_the_other_region_when_its_region_is_marked_down_losing_nothing(served: Served) -> None:
    identity = served.device("paho-roamer-01")
    served.wait_for(lambda: served.endpoints.resolve("IE") == EU)

    def fail_region(sequence: int) -> None:
        if sequence == 6:
            threading.Thread(target=served.endpoints.mark_down, args=(EU,)).start()

    try:
        report = telemetry.run(lambda: served.session(identity, location="IE"), "paho-roamer-01", count=14,
                               attempts=15, base_s=0.05, cap_s=0.3, before_each=fail_region)
        assert served.endpoints.resolve("IE") == US
    finally:
        served.endpoints.mark_up(EU)
    assert report.acknowledged == list(range(14))
    assert report.connections >= 2  # EU (after JITR), then US
    stored = served.wait_for(lambda: sequence_numbers(served.stored("paho-roamer-01", EU))
                             | sequence_numbers(served.stored("paho-roamer-01", US)) >= set(range(14)) or None)
    assert stored
    assert sequence_numbers(served.stored("paho-roamer-01", EU)) and sequence_numbers(served.stored("paho-roamer-01", US))
