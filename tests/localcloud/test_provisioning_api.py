"""The provisioning API end to end in the local cloud: served over real HTTP on loopback, called by the device
tool, the device provisioned in one region connects in both (the inventory's replication carries it)."""
from __future__ import annotations

import json
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from device import provision as device_provision
from functions.provisioning_api import allow_list
from localcloud.cloud import LocalCloud

PRIMARY, SECONDARY = "eu-west-1", "us-west-2"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Iterator[LocalCloud]:
    with LocalCloud(state_dir=tmp_path_factory.mktemp("localcloud-provisioning")) as cloud:
        cloud.deploy()
        yield cloud


def enrol(cloud: LocalCloud, thing: str, directory) -> "Path":
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


def test_the_device_cli_without_a_csr_stores_the_generated_key_0600(cloud, tmp_path):
    key = enrol(cloud, "api-sensor-0002", tmp_path)
    out = tmp_path / "out"
    with cloud.provisioning_api(PRIMARY, lifetime_s=120) as api:
        code = device_provision.main(["--api", api.url, "--thing", "api-sensor-0002", "--key", str(key),
                                      "--out", str(out)])
    assert code == 0
    assert stat.S_IMODE((out / "api-sensor-0002.key").stat().st_mode) == 0o600
    serialization.load_pem_private_key((out / "api-sensor-0002.key").read_bytes(), None)
    assert json.loads((out / "api-sensor-0002.json").read_text())["thingName"] == "api-sensor-0002"


def test_over_http_the_source_address_is_the_sockets_and_x_forwarded_for_is_ignored(cloud, tmp_path):
    key_path = enrol(cloud, "api-sensor-0003", tmp_path)
    signing_key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    body = device_provision.request_body("api-sensor-0003", signing_key, None)
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
    body = device_provision.request_body("not-enrolled-0001", key, None)
    with cloud.provisioning_api(PRIMARY, lifetime_s=120) as api:
        try:
            result = subprocess.run(["curl", "-sS", "-X", "POST", "-H", "content-type: application/json",
                                     "--data", json.dumps(body), "-w", "\n%{http_code}", api.url],
                                    capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            pytest.skip("curl is not installed")
    text, status = result.stdout.rsplit("\n", 1)
    assert status == "403" and json.loads(text)["error"] == "NotEnrolled"
