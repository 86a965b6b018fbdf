"""Every CLI, run as a user would: bad input exits 2 naming the fix, a refusal exits 1 naming the fix, and neither
prints a traceback (README, docs/operations.md, docs/pki.md). Nothing here reaches AWS or needs a deployed cloud:
each input is refused before anything is sent, deployed or written."""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tests.cli.conftest import run


def _private_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _public_pem(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _bad_input(result, *fix: str) -> None:
    result.assert_no_traceback()
    assert result.code == 2, result.text
    for words in fix:
        assert words in result.text, result.text


# ---- python -m device -----------------------------------------------------------------------------------------------

def _connect(pki_out: Path, *extra: str, key: str = "dev-a.key", cert: str = "dev-a.crt") -> list[str]:
    devices = pki_out / "devices"
    return ["device", "connect", "--endpoint", "127.0.0.1:9", "--sni", "iot.example.com", "--thing", "dev-a",
            "--cert", str(devices / cert), "--key", str(devices / key), "--attempts", "1", *extra]


@pytest.mark.parametrize("command", ["connect", "publish", "listen", "run", "fleet-provision"])
def test_attempts_below_one_is_bad_input(pki_out, command):
    argv = _connect(pki_out, "--attempts", "0")
    argv[1] = command
    if command == "fleet-provision":  # the claim options instead of the device's
        argv = [a for a in argv if a not in ("--thing", "dev-a")]
        argv = [{"--cert": "--claim-cert", "--key": "--claim-key"}.get(a, a) for a in argv] + ["--serial", "s-1"]
    _bad_input(run(*argv), "--attempts: 0 must be at least 1")


@pytest.mark.parametrize("extra, fix", [(["--timeout", "-1"], "--timeout: -1 must be more than 0"),
                                        (["--timeout", "nan"], "--timeout: nan must be more than 0"),
                                        (["--count", "-2"], "--count: -2 must be 0 or more")])
def test_listen_timeouts_and_counts_out_of_range_are_bad_input(pki_out, extra, fix):
    argv = _connect(pki_out, *extra)
    argv[1] = "listen"
    _bad_input(run(*argv), fix)


def test_a_missing_key_is_named_before_any_attempt(pki_out):
    _bad_input(run(*_connect(pki_out, key="absent.key")), "--key", "absent.key: no such file",
               "the private key of that certificate")


@pytest.mark.parametrize("key", ["dev-b.key", "rsa.key"])
def test_a_key_of_another_certificate_is_named_not_retried(pki_out, key):
    (pki_out / "devices" / "rsa.key").write_bytes(_private_pem(rsa.generate_private_key(65537, 2048)))
    result = run(*_connect(pki_out, "--attempts", "5", key=key))
    _bad_input(result, f"{key} is not the key of --cert", "give the private key of that certificate")
    assert "attempt 1 refused" not in result.text  # not taken for a refusal and retried


@pytest.mark.parametrize("what, fix", [("--cert", "is not a PEM certificate"), ("--ca", "is not a PEM certificate"),
                                       ("--key", "is not a PEM private key")])
def test_a_file_that_is_not_pem_is_named(pki_out, tmp_path, what, fix):
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"caf\xe9 not pem")
    argv = _connect(pki_out, *(["--ca", str(junk)] if what == "--ca" else []))
    if what != "--ca":
        argv[argv.index(what) + 1] = str(junk)
    _bad_input(run(*argv), f"{what} {junk} {fix}")


@pytest.mark.parametrize("endpoint, proxy, fix", [
    ("127.0.0.1:99999", None, "the port must be 1-65535"),
    ("https://iot.example.com", None, "is a URL: give the host only"),
    ("iot.example.com", "socks5h://IE@127.0.0.1:99999", "write socks5h://[LOCATION@]127.0.0.1:1080"),
    ("iot.example.com", "http://127.0.0.1:1080", "write socks5h://[LOCATION@]127.0.0.1:1080")])
def test_an_endpoint_or_proxy_that_cannot_be_used_is_bad_input(pki_out, endpoint, proxy, fix):
    argv = _connect(pki_out)
    argv[argv.index("--endpoint") + 1] = endpoint
    if not endpoint[0].isdigit():  # the domain itself: no --sni
        del argv[argv.index("--sni"):argv.index("--sni") + 2]
    if proxy:
        argv += ["--proxy", proxy]
    _bad_input(run(*argv), fix)


def _provision(tmp_path: Path, key: Path, *, api: str = "http://127.0.0.1:9/provision") -> list[str]:
    return ["device", "provision", "--api", api, "--thing", "sensor-1", "--key", str(key), "--csr",
            "--out", str(tmp_path / "device-out")]


@pytest.fixture
def signing_key(tmp_path: Path) -> Path:
    path = tmp_path / "signing.pem"
    path.write_bytes(_private_pem(ed25519.Ed25519PrivateKey.generate()))
    return path


@pytest.mark.parametrize("api", ["not-a-url", "provision.iot.example.com/provision", "ftp://x/provision",
                                 "https://", "http://127.0.0.1:99999/provision"])
def test_provision_api_that_is_not_a_url_is_bad_input(tmp_path, signing_key, api):
    _bad_input(run(*_provision(tmp_path, signing_key, api=api)), "--api", "is not an http(s) URL",
               "https://provision.<domain>/provision")
    assert not (tmp_path / "device-out").exists()


def test_provision_rsa_signing_key_is_bad_input(tmp_path):
    key = tmp_path / "rsa.pem"
    key.write_bytes(_private_pem(rsa.generate_private_key(65537, 2048)))
    _bad_input(run(*_provision(tmp_path, key)), "holds a key of type RSA", "Ed25519 or EC",
               "python -m pki enrol writes DIR/devices/NAME.provisioning.key")
    assert not (tmp_path / "device-out").exists()


def test_provision_missing_or_encrypted_signing_key_is_bad_input(tmp_path):
    _bad_input(run(*_provision(tmp_path, tmp_path / "absent.pem")), "absent.pem: no such file",
               "request-signing key")
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    _bad_input(run(*_provision(tmp_path, encrypted)), "encrypted.pem is encrypted", "unencrypted")


def test_provision_unreachable_api_is_a_failure_naming_the_url_not_a_traceback(tmp_path, signing_key):
    result = run(*_provision(tmp_path, signing_key))
    result.assert_no_traceback()
    assert result.code == 1 and "cannot reach --api http://127.0.0.1:9/provision" in result.text, result.text


def test_fleet_provision_claim_key_of_another_certificate_is_named(pki_out, tmp_path):
    from pki.claim import issue_claim

    claim = issue_claim(tmp_path / "pki-out")
    result = run("device", "fleet-provision", "--endpoint", "127.0.0.1:9", "--sni", "iot.example.com", "--serial",
                 "s-1", "--claim-cert", str(claim.certificate), "--claim-key", str(pki_out / "devices" / "dev-a.key"),
                 "--attempts", "1", "--out", str(tmp_path / "device-out"))
    _bad_input(result, "--claim-key", "is not the key of --claim-cert", "pki-out/claim/claim.key")
    assert not (tmp_path / "device-out").exists()


def test_fleet_provision_out_that_is_a_file_is_bad_input(tmp_path):
    from pki.claim import issue_claim

    claim = issue_claim(tmp_path / "pki-out")
    (tmp_path / "device-out").write_text("a file")
    result = run("device", "fleet-provision", "--endpoint", "127.0.0.1:9", "--sni", "iot.example.com", "--serial",
                 "s-1", "--claim-cert", str(claim.certificate), "--claim-key", str(claim.key), "--attempts", "1",
                 "--out", str(tmp_path / "device-out"))
    _bad_input(result, "is a file, not a folder")


# ---- python -m ops allow-list ---------------------------------------------------------------------------------------

def test_allow_list_import_of_a_file_that_is_not_utf8_is_bad_input(tmp_path):
    entries = tmp_path / "latin1.jsonl"
    entries.write_bytes(json.dumps({"thingName": "sensor-1", "verifyingKey": "k"}).encode()
                        + b"\n{\"thingName\": \"caf\xe9\"}\n")
    result = run("ops", "allow-list", "import", "eu-west-1", str(entries))
    _bad_input(result, "is not UTF-8 text", "line 2", "save it as UTF-8")


def test_allow_list_add_of_a_key_file_that_is_not_utf8_is_bad_input(tmp_path):
    key = tmp_path / "key.der"
    key.write_bytes(ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) + b"\xff")
    _bad_input(run("ops", "allow-list", "add", "eu-west-1", "sensor-1", str(key)), "is not UTF-8 text",
               "a PEM public key")


def test_allow_list_import_of_one_thing_with_two_keys_is_refused_naming_both_lines(tmp_path):
    first, second = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    entries = tmp_path / "batch.jsonl"
    entries.write_text("\n".join(json.dumps({"thingName": thing, "verifyingKey": _public_pem(key)})
                                 for thing, key in [("sensor-1", first), ("sensor-2", first), ("sensor-1", second)]))
    result = run("ops", "allow-list", "import", "eu-west-1", str(entries))
    _bad_input(result, "lines 1 and 3 both enrol sensor-1 with different verifying keys",
               "keep only the line with the key the device holds")


def test_allow_list_import_of_one_thing_twice_with_one_key_is_one_entry():
    from ops import allow_list

    key = _public_pem(ed25519.Ed25519PrivateKey.generate())
    line = json.dumps({"thingName": "sensor-1", "verifyingKey": key})
    reformatted = json.dumps({"thingName": "sensor-1", "verifyingKey": key.replace("\n", "\r\n")})
    assert allow_list.parse([line, reformatted]) == [{"thingName": "sensor-1", "verifyingKey": key}]


def test_an_ops_error_quoting_brackets_is_printed_not_a_traceback(tmp_path):
    """rich would read ``[/x]`` in the quoted input as markup and raise."""
    entries = tmp_path / "batch.jsonl"
    entries.write_text(json.dumps({"thingName": "[/x]", "verifyingKey": "k"}) + "\n")
    _bad_input(run("ops", "allow-list", "import", "eu-west-1", str(entries)), "line 1: '[/x]' is not a thing name")


# ---- python -m localcloud -------------------------------------------------------------------------------------------

@pytest.fixture
def busy_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def _serve(tmp_path: Path, *argv: str):
    started = time.monotonic()
    result = run("localcloud", "--state-dir", str(tmp_path / "state"), "up", "--serve", *argv, timeout=300)
    return result, time.monotonic() - started


@pytest.mark.parametrize("which", ["--ports", "--resolver-port"])
def test_up_serve_checks_a_busy_port_before_deploying(tmp_path, busy_port, which):
    argv = ["--ports", f"eu-west-1={busy_port}", "us-west-2=0", "--resolver-port", "0"] if which == "--ports" else \
        ["--ports", "eu-west-1=0", "us-west-2=0", "--resolver-port", str(busy_port)]
    result, elapsed = _serve(tmp_path, *argv)
    _bad_input(result, f"port {busy_port} on 127.0.0.1 cannot be listened on", "give another port", which)
    assert not (tmp_path / "state").exists(), "deployed before checking the port"  # the local PKI is made on start
    assert elapsed < 60


@pytest.mark.parametrize("argv, fix", [
    (["--ports", "eu-west-1=70000"], "PORT in 0-65535"),
    (["--ports", "eu-west-2=9000"], "REGION one of eu-west-1, us-west-2"),
    (["--resolver-port", "70000"], "70000 is not a port: give 0-65535"),
    (["--ports", "eu-west-1=0", "us-west-2=0", "--resolver-port", "-1"], "-1 must be 0 or more")])
def test_up_serve_port_out_of_range_or_unknown_region_is_bad_input_before_deploying(tmp_path, argv, fix):
    result, _ = _serve(tmp_path, *argv)
    _bad_input(result, fix)
    assert not (tmp_path / "state").exists()


def test_up_serve_one_port_twice_is_bad_input(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed
    result, _ = _serve(tmp_path, "--ports", f"eu-west-1={port}", f"us-west-2={port}")
    _bad_input(result, f"--ports us-west-2={port}: --ports eu-west-1={port} uses port {port} too",
               "give each its own port")
    assert not (tmp_path / "state").exists()


def test_localcloud_state_dir_that_is_a_file_and_unknown_bench_regions_are_bad_input(tmp_path):
    state = tmp_path / "state"
    state.write_text("a file")
    _bad_input(run("localcloud", "--state-dir", str(state), "up"), "is a file: give a folder")
    _bad_input(run("localcloud", "--state-dir", str(tmp_path / "s2"), "bench", "--devices", "1", "--regions", "xx-1"),
               "--regions ['xx-1'] are not deployed")
    assert not (tmp_path / "s2").exists()


def test_storm_quota_file_that_is_not_utf8_is_bad_input(tmp_path):
    quotas = tmp_path / "quotas.json"
    quotas.write_bytes(b'{"apis": "caf\xe9"}')
    _bad_input(run("localcloud", "storm", "--devices", "1", "--rate", "1", "--quotas", str(quotas)),
               "not UTF-8 text", "save it as UTF-8 JSON")


def test_free_ports_pass_the_check_so_serving_goes_on():
    """The check refuses only what cannot be served: free ports (and 0, any free port) pass."""
    from localcloud.serve import check_ports

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check_ports({"eu-west-1": port, "us-west-2": 0}, 0)
