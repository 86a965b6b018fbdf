"""The provisioning API end to end in the local cloud: served over real HTTP on loopback, called by the device
tool, the device provisioned in one region connects in both (the inventory's replication carries it). Issue 21: a
device that lost its key is reset by `ops allow-list reset` and provisions again, its old certificate retired in
every region; a rollback refused for a while converges within one run of the device tool."""
from __future__ import annotations

import json
import stat
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from contract import allow_list
from device import provision as device_provision
from device.keys import csr_pem as make_csr
from device.keys import new_key
from localcloud.cloud import LocalCloud

PRIMARY, SECONDARY = "eu-west-1", "us-west-2"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Iterator[LocalCloud]:
    with LocalCloud(state_dir=tmp_path_factory.mktemp("localcloud-provisioning")) as cloud:
        cloud.deploy()
        yield cloud


def enrol(cloud: LocalCloud, thing: str, directory) -> Path:
    """A device with its own signing key, its public half on the allow-list (as ``ops allow-list import`` does)."""
    key = ed25519.Ed25519PrivateKey.generate()
    path = directory / f"{thing}-signing.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    verifying = key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    boto3.client("dynamodb", region_name=PRIMARY).put_item(
        TableName=cloud.primary_outputs["allowListTableName"],
        Item=allow_list.enrol_item(thing, verifying, "2026-01-01T00:00:00Z"))
    cloud.settle()  # the allow-list is a global table: the entry reaches every region
    return path


def test_a_device_provisioned_through_the_http_api_with_a_csr_connects_in_both_regions(cloud, tmp_path):
    key = enrol(cloud, "api-sensor-0001", tmp_path)
    out = tmp_path / "out"
    with cloud.provisioning_api(PRIMARY, lifetime_s=120) as api:
        answer = device_provision.provision(api.url, "api-sensor-0001", key, out, use_csr=True)
    assert answer["region"] in (PRIMARY, SECONDARY) and answer["provisionedIn"] == PRIMARY
    assert stat.S_IMODE((out / "api-sensor-0001.key").stat().st_mode) == 0o600
    certificate_pem = (out / "api-sensor-0001.crt").read_text()
    cloud.settle()
    for region in (PRIMARY, SECONDARY):
        connection = cloud.connect(region, certificate_pem, "api-sensor-0001")
        assert connection is not None, region


def test_the_device_cli_makes_its_key_sends_a_csr_and_a_second_run_changes_nothing(cloud, tmp_path):
    key = enrol(cloud, "api-sensor-0002", tmp_path)
    out = tmp_path / "out"
    argv = ["--api", "", "--thing", "api-sensor-0002", "--key", str(key), "--out", str(out)]
    with cloud.provisioning_api(PRIMARY, lifetime_s=120) as api:
        argv[1] = api.url
        assert device_provision.main(argv) == 0
        first = {p.name: p.read_bytes() for p in out.iterdir()}
        assert device_provision.main(argv) == 0  # the same key, the same certificate: nothing changes
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    assert stat.S_IMODE((out / "api-sensor-0002.key").stat().st_mode) == 0o600
    serialization.load_pem_private_key((out / "api-sensor-0002.key").read_bytes(), None)
    assert json.loads((out / "api-sensor-0002.json").read_text())["thingName"] == "api-sensor-0002"


def test_over_http_the_source_address_is_the_sockets_and_x_forwarded_for_is_ignored(cloud, tmp_path):
    key_path = enrol(cloud, "api-sensor-0003", tmp_path)
    signing_key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    csr = make_csr(new_key(tmp_path / "api-sensor-0003.key"), "api-sensor-0003")
    body = device_provision.request_body("api-sensor-0003", signing_key, csr)
    with cloud.provisioning_api(PRIMARY, lifetime_s=120) as api:
        request = urllib.request.Request(api.url, data=json.dumps(body).encode(), method="POST",
                                         headers={"content-type": "application/json",
                                                  "x-forwarded-for": "34.208.1.9"})
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
    # loopback is not a public address: the configured default (the primary region), whatever the header says
    assert answer["region"] == PRIMARY
    entry = allow_list.read(boto3.client("dynamodb", region_name=PRIMARY),
                            cloud.primary_outputs["allowListTableName"], "api-sensor-0003")
    assert entry["Status"] == "provisioned"


def test_curl_gets_a_clear_refusal_for_a_thing_not_on_the_list(cloud, tmp_path):
    key = ed25519.Ed25519PrivateKey.generate()
    body = device_provision.request_body("not-enrolled-0001", key, make_csr(new_key(tmp_path / "k"), "not-enrolled-0001"))
    with cloud.provisioning_api(PRIMARY, lifetime_s=120) as api:
        try:
            result = subprocess.run(["curl", "-sS", "-X", "POST", "-H", "content-type: application/json",
                                     "--data", json.dumps(body), "-w", "\n%{http_code}", api.url],
                                    capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            pytest.skip("curl is not installed")
    text, status = result.stdout.rsplit("\n", 1)
    assert status == "403" and json.loads(text)["error"] == "NotAuthorized"  # as a bad signature: enrolment not told


def _application(cloud: LocalCloud) -> str:
    return cloud.primary_outputs["inventoryTableName"].removesuffix("-device-inventory")


def _common_name(description: dict) -> str:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    pem = description["certificateDescription"]["certificatePem"]
    names = x509.load_pem_x509_certificate(pem.encode()).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _status(region: str, certificate_id: str) -> str:
    iot = boto3.client("iot", region_name=region)
    return iot.describe_certificate(certificateId=certificate_id)["certificateDescription"]["status"]


def test_a_device_that_lost_its_key_is_reset_and_provisions_again_and_its_old_certificate_is_retired_everywhere(
        cloud, tmp_path, capsys):
    from ops import cli as ops_cli

    thing = "api-sensor-0004"
    key = enrol(cloud, thing, tmp_path)
    first, wiped = tmp_path / "first", tmp_path / "wiped"
    with cloud.provisioning_api(PRIMARY, lifetime_s=120) as api:
        old = device_provision.provision(api.url, thing, key, first)["certificateId"]
        cloud.settle()
        with pytest.raises(device_provision.ProvisioningRefused, match=f"allow-list reset {PRIMARY} {thing} --yes"):
            device_provision.provision(api.url, thing, key, wiped)  # the device lost its folder: a new key
        assert ops_cli.main(["--application", _application(cloud), "allow-list", "reset", PRIMARY, thing,
                             "--yes"]) == 0
        capsys.readouterr()
        answer = device_provision.provision(api.url, thing, key, wiped)  # the key that waited, now certified
    new = answer["certificateId"]
    assert new != old and not (wiped / f"{thing}.key.pending").exists()
    cloud.settle()  # the item's rotation reaches every region: each revokes the old certificate
    certificate_pem = (wiped / f"{thing}.crt").read_text()
    for region in (PRIMARY, SECONDARY):
        assert _status(region, old) == "REVOKED", region
        assert cloud.connect(region, certificate_pem, thing) is not None, region
        owner = boto3.client("iot", region_name=region).describe_thing(thingName=thing)["attributes"]
        assert owner["certificateId"] == new, region


def test_a_rollback_refused_for_a_while_converges_within_one_run_of_the_device_tool(cloud, tmp_path, monkeypatch):
    """AttachThingPrincipal fails once; DeleteThing is then refused (a detach still propagating) for longer than two
    requests retry it: 503 RetryLater twice, the device tool waits and asks again, and the third request finishes
    the undo and provisions. (Before issue 21 the thing was left behind and every later request got 409.)"""
    import time
    import types

    from functions.provisioning_api import service
    from localcloud import interception as aws_calls

    # Every wait is taken in order, but recorded instead of slept (~10 s): the function's backoff between refused
    # deletions (its Clients' default sleep) and the device tool's wait after 503 RetryLater (its module's time.sleep).
    backoff: list[float] = []
    waited: list[float] = []
    monkeypatch.setattr(service.Clients.__init__, "__defaults__", (backoff.append,))
    monkeypatch.setattr(device_provision, "time", types.SimpleNamespace(
        **{**{name: getattr(time, name) for name in dir(time) if not name.startswith("_")}, "sleep": waited.append}))

    thing = "api-sensor-0005"
    key = enrol(cloud, thing, tmp_path)
    out = tmp_path / "out"
    # (a code botocore does not retry by itself: InternalFailureException would be retried before the function saw it)
    aws_calls.inject("iot", "AttachThingPrincipal", error_code="InvalidRequestException", region=PRIMARY)
    refused = aws_calls.inject("iot", "DeleteThing", error_code="InvalidRequestException", region=PRIMARY, times=12,
                               message=f"Cannot delete. Thing {thing} is still attached to one or more principals")
    try:
        with cloud.provisioning_api(PRIMARY, lifetime_s=120) as api:
            answer = device_provision.provision(api.url, thing, key, out)
    finally:
        aws_calls.clear()
    assert refused.fired == 12  # more than one request's retries: two answers were 503 RetryLater
    assert len(waited) == 2 and backoff  # the device tool waited after each; the function backed off between deletes
    cloud.settle()
    iot = boto3.client("iot", region_name=PRIMARY)
    assert iot.describe_thing(thingName=thing)["attributes"]["certificateId"] == answer["certificateId"]
    usable = [c["certificateId"] for c in iot.list_certificates()["certificates"] if c["status"] != "REVOKED"
              and _common_name(iot.describe_certificate(certificateId=c["certificateId"])) == thing]
    assert usable == [answer["certificateId"]]  # the failed attempt's certificate is gone (or revoked)
    entry = allow_list.read(boto3.client("dynamodb", region_name=PRIMARY),
                            cloud.primary_outputs["allowListTableName"], thing)
    assert entry["Status"] == "provisioned" and "AttemptCertificateIds" not in entry
    for region in (PRIMARY, SECONDARY):
        assert cloud.connect(region, (out / f"{thing}.crt").read_text(), thing) is not None, region
