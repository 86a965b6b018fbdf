"""A deployed local cloud with its MQTT endpoints on free loopback ports, shared by a test module."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from contract.allow_list import enrol_item
from device.endpoint import Endpoint, Proxy
from device.session import Identity, Session
from localcloud.cloud import LocalCloud
from localcloud.services.iot.mqtt.endpoints import MqttEndpoints
from pki.claim import issue_claim

T = TypeVar("T")


@dataclass
class Served:
    cloud: LocalCloud
    endpoints: MqttEndpoints
    folder: Path

    def device(self, name: str, **options: Any) -> Identity:
        """Issue a device certificate from the local CA; write cert (with the intermediate) and key."""
        issued = self.cloud.load_ca().issue_device(name, **options)
        cert, key = self.folder / f"{name}.crt", self.folder / f"{name}.key"
        cert.write_text(issued.certificate_pem + self.cloud.load_ca().intermediate_pem)
        key.write_text(issued.private_key_pem or "")  # issued with a new key: never None
        key.chmod(0o600)
        return Identity(name, cert, key, self.cloud.pki_dir / "root-ca.crt")

    def session(self, identity: Identity, *, location: str = "IE", on_message=None) -> Session:
        proxy = Proxy("127.0.0.1", self.endpoints.resolver.port, location)
        return Session(Endpoint(self.cloud.domain, 8883, self.cloud.domain, proxy), identity, on_message=on_message)

    def sdk_proxy(self, location: str) -> Any:
        """The Device SDK's options for the local DNS answer's HTTP CONNECT proxy (``awscrt.http``, imported here so
        that only the SDK tests need the SDK installed)."""
        from awscrt import http as awscrt_http

        return awscrt_http.HttpProxyOptions(
            host_name="127.0.0.1", port=self.endpoints.resolver.port,
            auth_type=awscrt_http.HttpProxyAuthenticationType.Basic, auth_username=location, auth_password="-",
            connection_type=awscrt_http.HttpProxyConnectionType.Tunneling)

    def direct(self, identity: Identity, region: str, **options: Any) -> Session:
        endpoint = Endpoint("127.0.0.1", self.endpoints.port(region), self.cloud.domain)
        return Session(endpoint, identity, **options)

    def stored(self, thing: str, region: str) -> list[dict]:
        """Telemetry items of ``thing`` in ``region``'s data table."""
        with self.endpoints.gate:
            table = self.cloud.primary_outputs["dataTableName"]  # a global table: one name, every region
            items = boto3.client("dynamodb", region_name=region).scan(TableName=table)["Items"]
        return [i for i in items if i.get("Device", {}).get("S") == thing and i.get("Region", {}).get("S") == region]

    def wait_for(self, condition: Callable[[], T], timeout_s: float = 8.0) -> T:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"condition not met within {timeout_s} s")


def sequence_numbers(items: list[dict]) -> set[int]:
    """The ``n`` of each stored ``telemetry n from <thing>`` message (what device.telemetry publishes)."""
    return {int(i["Message"]["S"].split()[1]) for i in items if i.get("Message", {}).get("S", "").startswith("telemetry ")}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with LocalCloud(state_dir=tmp_path_factory.mktemp("localcloud-mqtt")) as cloud:
        cloud.deploy()
        with MqttEndpoints(cloud, ports={region: 0 for region in cloud.regions}, resolver_port=0) as endpoints:
            yield Served(cloud, endpoints, tmp_path_factory.mktemp("devices"))


@contextmanager
def served_fleet(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Served]:
    """A deployed local cloud with fleet provisioning (and JITR), the claim issued, its MQTT endpoints served."""
    with LocalCloud(state_dir=tmp_path_factory.mktemp(name), config_overrides={"provisioning": "fleet,jitr"}) as cloud:
        issue_claim(cloud.ensure_pki())
        cloud.deploy()
        with MqttEndpoints(cloud, ports={region: 0 for region in cloud.regions}, resolver_port=0) as endpoints:
            yield Served(cloud, endpoints, tmp_path_factory.mktemp(f"{name}-devices"))


def allow(served: Served, serial: str, key: ed25519.Ed25519PrivateKey, region: str = "eu-west-1") -> None:
    """Put ``serial`` on the allow-list (global table) with ``key``'s public half as its signing key."""
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with served.endpoints.gate:
        boto3.client("dynamodb", region_name=region).put_item(
            TableName="multi-region-iot-allow-list", Item=enrol_item(serial, public, "2026-01-01T00:00:00Z"))
