"""``python -m localcloud up --serve --provisioning MODES`` (issue 24): the process serves a deployment of those modes,
and every command its banner prints is run here exactly as printed (bash, from the project folder, while it serves):
JITR / JITP: ``mosquitto_pub`` (refused first, then accepted), ``python -m device run``, ``python -m pki issue-device`` for
another device and its ``run``; fleet: ``python -m localcloud enrol`` (into the running cloud), ``python -m device
fleet-provision`` and ``run``. A fleet-only deployment prints no JITR command. Against the fleet deployment the AWS IoT
Device SDK v2's identity client (``IotIdentityClientV2``, MQTT 5) provisions a device too, which then connects in both
regions."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.localcloud.serving import PROJECT, Serving

COMMANDS = (".venv/bin/python ", "mosquitto_pub ")
@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    started: list[Serving] = []

    def start(provisioning: str) -> Serving:
        serving = Serving(tmp_path / "state", "--provisioning", provisioning)
        started.append(serving)
        return serving

    yield start
    for serving in started:
        assert serving.stop() == 0
        assert not (serving.state / "serve" / "serving.json").exists()  # `enrol` no longer finds a server


@pytest.fixture(scope="module")
def fleet_serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serving]:
    """One ``up --serve --provisioning fleet`` for the module: the fleet banner test and the SDK identity client test
    each provision a serial of their own through it (one deploy, not two); stopped with Ctrl-C as ``serve`` does."""
    serving = Serving(tmp_path_factory.mktemp("serve-fleet") / "state", "--provisioning", "fleet")
    yield serving
    assert serving.stop() == 0
    assert not (serving.state / "serve" / "serving.json").exists()  # `enrol` no longer finds a server


def printed_commands(banner: list[str]) -> list[str]:
    return [line for line in banner if line.startswith(COMMANDS)]


def as_printed(command: str, timeout_s: float = 120) -> subprocess.CompletedProcess:
    """Run a printed command line the way a user pastes it into bash, in the project folder."""
    return subprocess.run(["bash", "-c", command], cwd=PROJECT, capture_output=True, text=True, timeout=timeout_s)


def run_banner(commands: list[str]) -> dict[str, subprocess.CompletedProcess]:
    """Each printed command in order, once (mosquitto_pub until its connection is accepted: JITR/JITP refuse the
    first); every one must succeed."""
    results = {}
    for command in commands:
        result = as_printed(command)
        if command.startswith("mosquitto_pub "):
            assert result.returncode != 0, "the first connection of a new certificate is refused"
            deadline = time.monotonic() + 30
            while result.returncode != 0 and time.monotonic() < deadline:
                time.sleep(0.5)
                result = as_printed(command)
        assert result.returncode == 0, (command, result.stdout[-2000:], result.stderr[-2000:])
        results[command] = result
    return results


def _value(banner: list[str], pattern: str) -> str:
    found = [m.group(1) for line in banner if (m := re.search(pattern, line))]
    assert found, f"{pattern!r} not in the banner: {banner}"
    return found[0]


@pytest.mark.parametrize("provisioning", ["jitp", "fleet", "fleet,jitr"])
def test_up_serve_prints_the_commands_of_its_provisioning_and_each_works_as_printed(
        serve, provisioning, request: pytest.FixtureRequest) -> None:
    if "jitr" in provisioning or "jitp" in provisioning:
        if shutil.which("mosquitto_pub") is None:
            pytest.skip("mosquitto_pub missing: apt-get install -y mosquitto-clients (the banner prints it)")
    serving = request.getfixturevalue("fleet_serving") if provisioning == "fleet" else serve(provisioning)
    banner = serving.wait_ready()
    commands = printed_commands(banner)
    text = "\n".join(banner)
    modes = provisioning.split(",")
    assert f"Provisioning: {', '.join(modes)}" in text
    # the commands of the modes named, and only those
    assert any(c.startswith("mosquitto_pub ") for c in commands) == ("fleet" != provisioning)
    assert any(" -m pki issue-device " in c for c in commands) == ("fleet" != provisioning)
    assert any(" enrol " in c for c in commands) == ("fleet" in modes)
    assert any(" fleet-provision " in c for c in commands) == ("fleet" in modes)
    assert ("JITR:" in text) == ("jitr" in modes) and ("JITP:" in text) == ("jitp" in modes)
    assert ("JITR stays on" in text) == (provisioning == "fleet")
    if "fleet" in modes:  # the claim was issued and its paths printed
        claim = _value(banner, r"the claim every device ships is (\S+) and its key")
        assert Path(claim).exists() and Path(claim).parent == serving.state / "pki" / "claim"
    results = run_banner(commands)
    assert len(results) == len(commands) == (3 if provisioning == "fleet" else 4 if provisioning == "jitp" else 7)
    for command, result in results.items():
        if " enrol " in command:
            assert "enrolled into the running local cloud's allow-list" in result.stdout, result.stdout
        if " fleet-provision " in command:
            assert "provisioned fleet-sensor-0001" in result.stdout, result.stdout


def test_the_sdks_identity_client_provisions_by_csr_against_up_serve_and_connects_in_both_regions(
        fleet_serving: Serving) -> None:
    """The SDK's ``IotIdentityClientV2`` over its MQTT 5 client against the served fleet deployment, through the
    printed resolver port (its HTTP CONNECT proxy), with the printed claim and template, for a serial enrolled into
    the running cloud with the printed ``enrol`` command's form."""
    pytest.importorskip("awscrt.mqtt5", reason="pip install awsiotsdk (the AWS IoT Device SDK v2)")
    import concurrent.futures

    from awscrt import http as awscrt_http
    from awscrt import mqtt5, mqtt_request_response
    from awsiot import iotidentity, mqtt5_client_builder
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from builders.fleet import claim_client_id
    from functions.fleet_provisioning import proof

    serving = fleet_serving
    banner = serving.wait_ready()
    [enrol] = [c for c in printed_commands(banner) if " enrol " in c]
    serial = "sdk-serve-0001"
    enrolled = as_printed(enrol.replace("fleet-sensor-0001", serial))
    assert enrolled.returncode == 0, enrolled.stderr
    signing_key_path = Path(_value([enrolled.stdout], r"its signing key: (\S+)"))
    resolver = int(_value(banner, r"socks5h://LOCATION:x@127\.0\.0\.1:(\d+)"))
    domain = _value(banner, r"SNI (\S+);")
    claim_cert = Path(_value(banner, r"the claim every device ships is (\S+) and its key"))
    claim_key = Path(_value(banner, r"and its key (\S+) \(0600\)"))
    template = _value(banner, r"template (\S+),")
    root = serving.state / "pki" / "root-ca.crt"

    def client(cert: Path, key: Path, client_id: str, location: str) -> mqtt5.Client | None:
        outcome: concurrent.futures.Future = concurrent.futures.Future()
        proxy = awscrt_http.HttpProxyOptions(
            host_name="127.0.0.1", port=resolver, auth_type=awscrt_http.HttpProxyAuthenticationType.Basic,
            auth_username=location, auth_password="-", connection_type=awscrt_http.HttpProxyConnectionType.Tunneling)
        started = mqtt5_client_builder.mtls_from_path(
            endpoint=domain, port=8883, cert_filepath=str(cert), pri_key_filepath=str(key), ca_filepath=str(root),
            client_id=client_id, http_proxy_options=proxy, clean_session=True, keep_alive_secs=1200,
            on_lifecycle_connection_success=lambda _: outcome.done() or outcome.set_result(True),
            on_lifecycle_connection_failure=lambda _: outcome.done() or outcome.set_result(False))
        started.start()
        try:
            if outcome.result(15):
                return started
        except concurrent.futures.TimeoutError:
            pass
        started.stop()
        return None

    claim = client(claim_cert, claim_key, claim_client_id(), "IE")
    assert claim is not None
    device_key = ec.generate_private_key(ec.SECP256R1())
    signing_key = serialization.load_pem_private_key(signing_key_path.read_bytes(), password=None)
    try:
        identity = iotidentity.IotIdentityClientV2(claim, mqtt_request_response.ClientOptions(
            max_request_response_subscriptions=2, max_streaming_subscriptions=0, operation_timeout_in_seconds=10))
        created = identity.create_certificate_from_csr(iotidentity.CreateCertificateFromCsrRequest(
            certificate_signing_request=proof.csr_pem(device_key, serial, signing_key))).result(15)
        registered = identity.register_thing(iotidentity.RegisterThingRequest(
            template_name=template, certificate_ownership_token=created.certificate_ownership_token,
            parameters={"SerialNumber": serial})).result(15)
    finally:
        claim.stop()
    assert registered.thing_name == serial
    x509.load_pem_x509_certificate(created.certificate_pem.encode()).verify_directly_issued_by(
        x509.load_pem_x509_certificate((serving.state / "pki" / "intermediate-ca.crt").read_bytes()))
    cert, key = serving.state / f"{serial}.crt", serving.state / f"{serial}.key"
    cert.write_text(created.certificate_pem)
    key.write_bytes(device_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    for location in ("IE", "US"):  # eu-west-1, then us-west-2 once replication has registered the certificate there
        deadline, connected = time.monotonic() + 60, None
        while connected is None and time.monotonic() < deadline:
            connected = client(cert, key, serial, location)
        assert connected is not None, f"the provisioned device never connected from {location}"
        try:
            puback = connected.publish(mqtt5.PublishPacket(topic=f"i/{serial}/m", payload='{"message": "sdk"}',
                                                           qos=mqtt5.QoS.AT_LEAST_ONCE)).result(10)
            assert puback.puback.reason_code == mqtt5.PubackReasonCode.SUCCESS
        finally:
            connected.stop()


def test_up_serve_with_fleet_and_jitp_is_bad_input_before_deploying(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "localcloud", "--state-dir", str(tmp_path / "state"), "up",
                             "--serve", "--provisioning", "fleet,jitp", "--ports", "eu-west-1=0", "us-west-2=0",
                             "--resolver-port", "0"], cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "--provisioning" in result.stderr and "fleet and jitp" in result.stderr, result
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state").exists()


def test_enrol_without_a_running_server_is_refused_at_once_and_sends_nothing(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "localcloud", "--state-dir", str(tmp_path), "enrol",
                             "fleet-sensor-0001"], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "no `python -m localcloud up --serve` is running" in result.stderr, result
    assert not (tmp_path / "enrolment").exists() and not (tmp_path / "serve").exists()
