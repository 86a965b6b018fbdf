"""The endpoints with Debian's mosquitto_pub/mosquitto_sub (package mosquitto-clients), through the resolver."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.localcloud.mqtt.conftest import Served
from tests.localcloud.mqtt.wire import onboard

pytestmark = pytest.mark.skipif(shutil.which("mosquitto_pub") is None,
                                reason="mosquitto_pub missing: apt-get install -y mosquitto-clients")
EU = "eu-west-1"


def mosquitto(served: Served, tool: str, thing: str, *args: str, location: str = "IE",
              version: str = "mqttv311") -> subprocess.CompletedProcess:
    if not (served.folder / f"{thing}.crt").exists():
        served.device(thing)
    cert, key = served.folder / f"{thing}.crt", served.folder / f"{thing}.key"
    command = [tool, "--proxy", f"socks5h://{location}:x@127.0.0.1:{served.endpoints.resolver.port}",
               "-h", served.cloud.domain, "-p", "8883", "--cafile", str(served.cloud.pki_dir / "root-ca.crt"),
               "--cert", str(cert), "--key", str(key), "--tls-version", "tlsv1.3", "-i", thing, "-V", version,
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


def _run_as_printed(command: str) -> subprocess.CompletedProcess:
    """Run a printed command line the way a user pastes it into bash (it uses ``<(...)``)."""
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=15)


def _not_crashed(run: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    # Debian 12's mosquitto 2.0.11 dies with SIGSEGV on --proxy socks5h://USER@ (a user without a password)
    assert run.returncode not in (-11, 139) and "Segmentation" not in run.stderr, (run.returncode, run.stderr)
    return run


def test_the_mosquitto_command_up_serve_prints_works_as_printed(served: Served) -> None:
    import pki

    thing, folder = "mosq-hint-01", served.cloud.pki_dir
    pki.issue_device_certificates(folder, [thing])  # as localcloud/serve.py does for its demo thing
    command = served.endpoints.connect_hint(thing, str(folder / "devices" / f"{thing}.crt"),
                                            str(folder / "devices" / f"{thing}.key"),
                                            intermediate=str(folder / "intermediate-ca.crt"))
    first = _not_crashed(_run_as_printed(command))
    assert first.returncode != 0  # the first connection is closed while JITR runs, as the output says
    served.wait_for(lambda: _not_crashed(_run_as_printed(command)).returncode == 0)
    items = served.wait_for(lambda: served.stored(thing, EU))
    assert "hello" in [i["Message"]["S"] for i in items]


def test_the_mosquitto_command_in_the_docs_works_as_printed(served: Served) -> None:
    """docs/offline.md's command with this test cloud's resolver port, PKI folder and a thing of its own put in: everything
    else (the proxy URL above all) exactly as printed."""
    import pki

    readme = (Path(__file__).resolve().parents[3] / "docs" / "offline.md").read_text(encoding="utf-8")
    lines = readme.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("mosquitto_pub --proxy"))
    end = start
    while lines[end].endswith("\\"):
        end += 1
    printed = "\n".join(lines[start:end + 1])
    thing = "mosq-readme-01"
    pki.issue_device_certificates(served.cloud.pki_dir, [thing])
    command = (printed.replace("127.0.0.1:1080", f"127.0.0.1:{served.endpoints.resolver.port}")
               .replace(".localcloud/pki", str(served.cloud.pki_dir)).replace("sensor-0001", thing)
               .replace("iot.example.com", served.cloud.domain))
    _not_crashed(_run_as_printed(command))
    served.wait_for(lambda: _not_crashed(_run_as_printed(command)).returncode == 0)
    assert "hello" in [i["Message"]["S"] for i in served.wait_for(lambda: served.stored(thing, EU))]


def test_the_printed_mosquitto_command_survives_a_state_dir_with_a_space(served: Served, tmp_path) -> None:
    """``up --serve`` prints ``endpoints.connect_hint(...)`` for the user to paste; ``--state-dir`` is any folder. With a
    space in it the paths are split into separate arguments (nothing is quoted)."""
    from localcloud.services.iot.mqtt.endpoints import MqttEndpoints

    class _Cloud:
        pki_dir = tmp_path / "my state" / "pki"

    hint = MqttEndpoints.__new__(MqttEndpoints)
    hint.cloud, hint.domain, hint.resolver = _Cloud(), served.cloud.domain, served.endpoints.resolver
    key = str(_Cloud.pki_dir / "devices" / "sensor-0001.key")
    words = shlex.split(hint.connect_hint("sensor-0001", str(_Cloud.pki_dir / "devices" / "sensor-0001.crt"), key))
    assert words[words.index("--cafile") + 1] == str(_Cloud.pki_dir / "root-ca.crt")
    assert words[words.index("--key") + 1] == key


def test_mosquitto_with_a_retained_will_on_another_things_topic_is_refused_and_nothing_is_retained(served: Served) -> None:
    """A real client (Debian's mosquitto_pub through the resolver, as printed) asking for a retained will on another
    thing's command topic: refused at CONNECT, nothing retained, no PUBACK."""
    name = "rt-mosq-will-01"
    device = onboard(served, name)
    command = ["mosquitto_pub", "--proxy", f"socks5h://IE:x@127.0.0.1:{served.endpoints.resolver.port}",
               "-h", served.cloud.domain, "-p", "8883", "--cafile", str(served.cloud.pki_dir / "root-ca.crt"),
               "--cert", str(device.cert), "--key", str(device.key), "-i", name,
               "--will-topic", "e/rt-mosq-victim-01/cmd", "--will-payload", "forged", "--will-retain",
               "--will-qos", "1", "-t", f"i/{name}/m", "-m", "{}", "-q", "1", "-d"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=15)
    assert run.returncode != 0 and "PUBACK" not in run.stdout + run.stderr, run
    assert "e/rt-mosq-victim-01/cmd" not in served.endpoints.brokers[EU].retained_messages
    assert "iot:Publish" in served.endpoints.brokers[EU].refusals[-1][1]


def test_mosquitto_with_mqtt5_publishes_and_gets_aws_reason_codes_for_refusals(served: Served) -> None:
    """``-V mqttv5``: the same JITR refusal, then the message stored; a refused subscription gets SUBACK 0x87 and a
    refused publish PUBACK 0x87 (Not authorized), as AWS IoT Core answers MQTT 5 clients."""
    first = mosquitto(served, "mosquitto_pub", "mosq5-pub-01", "-t", "i/mosq5-pub-01/m", "-m", '{"message": "m1"}',
                      "-q", "1", version="mqttv5")
    assert first.returncode != 0  # closed while JITR runs
    served.wait_for(lambda: mosquitto(served, "mosquitto_pub", "mosq5-pub-01", "-t", "i/mosq5-pub-01/m",
                                      "-m", '{"message": "from mosquitto 5"}', "-q", "1", "-D", "publish",
                                      "user-property", "k", "v", version="mqttv5").returncode == 0)
    items = served.wait_for(lambda: served.stored("mosq5-pub-01", EU))
    assert "from mosquitto 5" in [i["Message"]["S"] for i in items]
    refused = mosquitto(served, "mosquitto_sub", "mosq5-pub-01", "-t", "e/other-thing/#", "-q", "1", "-W", "2", "-d",
                        version="mqttv5")
    assert "Subscribed (mid: 1): 135" in refused.stdout + refused.stderr
    allowed = mosquitto(served, "mosquitto_sub", "mosq5-pub-01", "-t", "e/mosq5-pub-01/#", "-q", "1", "-W", "2", "-d",
                        version="mqttv5")
    assert "Subscribed (mid: 1): 1" in allowed.stdout + allowed.stderr
    forged = mosquitto(served, "mosquitto_pub", "mosq5-pub-01", "-t", "i/other-thing/m", "-m", "{}", "-q", "1", "-d",
                       version="mqttv5")
    output = forged.stdout + forged.stderr
    assert "received PUBACK (Mid: 1, RC:135)" in output and "Not authorized" in output, output
    assert served.stored("other-thing", EU) == []
