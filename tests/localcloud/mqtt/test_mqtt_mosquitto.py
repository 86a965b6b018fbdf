"""The endpoints with Debian's mosquitto_pub/mosquitto_sub (package mosquitto-clients), through the resolver."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.localcloud.mqtt.conftest import Served

pytestmark = pytest.mark.skipif(shutil.which("mosquitto_pub") is None,
                                reason="mosquitto_pub missing: apt-get install -y mosquitto-clients")
EU = "eu-west-1"


def mosquitto(served: Served, tool: str, thing: str, *args: str, location: str = "IE") -> subprocess.CompletedProcess:
    if not (served.folder / f"{thing}.crt").exists():
        served.device(thing)
    cert, key = served.folder / f"{thing}.crt", served.folder / f"{thing}.key"
    command = [tool, "--proxy", f"socks5h://{location}:x@127.0.0.1:{served.endpoints.resolver.port}",
               "-h", served.cloud.domain, "-p", "8883", "--cafile", str(served.cloud.pki_dir / "root-ca.crt"),
               "--cert", str(cert), "--key", str(key), "--tls-version", "tlsv1.3", "-i", thing, "-V", "mqttv311",
               *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=15)


def test_mosquitto_pub_is_refused_first_then_its_message_lands_in_the_data_table(served: Served) -> None:
    first = mosquitto(served, "mosquitto_pub", "mosq-pub-01", "-t", "i/mosq-pub-01/m", "-m", '{"message": "m1"}', "-q", "1")
    assert first.returncode != 0  # the TLS session is closed while JITR runs
    served.wait_for(lambda: mosquitto(served, "mosquitto_pub", "mosq-pub-01", "-t", "i/mosq-pub-01/m",
                                      "-m", '{"message": "from mosquitto"}', "-q", "1").returncode == 0)
    items = served.wait_for(lambda: served.stored("mosq-pub-01", EU))
    assert "from mosquitto" in [i["Message"]["S"] for i in items]


def test_mosquitto_sub_to_another_things_topic_is_refused(served: Served) -> None:
    served.wait_for(lambda: mosquitto(served, "mosquitto_pub", "mosq-sub-01", "-t", "i/mosq-sub-01/m",
                                      "-m", "{}", "-q", "1").returncode == 0)
    refused = mosquitto(served, "mosquitto_sub", "mosq-sub-01", "-t", "e/other-thing/#", "-q", "1", "-W", "2", "-d")
    assert "Subscribed (mid: 1): 128" in refused.stdout + refused.stderr
    allowed = mosquitto(served, "mosquitto_sub", "mosq-sub-01", "-t", "e/mosq-sub-01/#", "-q", "1", "-W", "2", "-d")
    assert "Subscribed (mid: 1): 1" in allowed.stdout + allowed.stderr


def test_mosquitto_pub_to_another_things_topic_gets_no_puback(served: Served) -> None:
    served.wait_for(lambda: mosquitto(served, "mosquitto_pub", "mosq-rogue-01", "-t", "i/mosq-rogue-01/m",
                                      "-m", "{}", "-q", "1").returncode == 0)
    forged = mosquitto(served, "mosquitto_pub", "mosq-rogue-01", "-t", "i/other-thing/m", "-m", "{}", "-q", "1", "-d")
    assert "PUBACK" not in forged.stdout + forged.stderr
    assert served.stored("other-thing", EU) == []
