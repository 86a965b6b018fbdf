"""A moto account with what the provisioning function needs in one region, and a device that signs requests."""
from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from mmdb_writer import MMDBWriter, MmdbF64
from netaddr import IPSet

from contract import allow_list
from contract.proofs import request_message
from functions.provisioning_api import geolocation, issuer, service

REGION = "eu-west-1"
REGIONS = ("eu-west-1", "us-west-2")
#: Public prefixes given made-up places in the test database (the database is the test's, not real geolocation):
#: one near Dublin, one near Portland; a public address outside both; the default region for unknown addresses.
DUBLIN_NET, OREGON_NET, UNLISTED_IP = "81.17.0.0/16", "34.208.0.0/16", "8.8.4.4"
DUBLIN_IP, OREGON_IP = "81.17.20.7", "34.208.1.9"
DEFAULT_REGION = "us-west-2"


def build_geolocation_database(path: Path) -> Path:
    """A City-type MaxMind database with two networks, made with mmdb-writer for the test."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City",
                        description="provisioning API test database")
    writer.insert_network(IPSet([DUBLIN_NET]), {"location": {"latitude": MmdbF64(53.34), "longitude": MmdbF64(-6.27)}})
    writer.insert_network(IPSet([OREGON_NET]), {"location": {"latitude": MmdbF64(45.52), "longitude": MmdbF64(-122.68)}})
    writer.to_db_file(str(path))
    return path


def create_tables(region: str = REGION) -> dict[str, str]:
    ddb = boto3.client("dynamodb", region_name=region)
    names = {"inventory": "app-device-inventory", "allow": "app-allow-list", "nonces": "app-provisioning-nonces"}
    for table, key in ((names["inventory"], "ThingName"), (names["allow"], "ThingName"), (names["nonces"], "Key")):
        ddb.create_table(TableName=table, KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
    return names


@dataclass
class Device:
    """A device with its enrolled signing key (Ed25519 or EC) and its own TLS key (for CSRs)."""

    name: str
    signing_key: Any
    tls_key: Any

    @classmethod
    def new(cls, name: str, kind: str = "ed25519") -> Device:
        signing = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else ec.generate_private_key(ec.SECP256R1())
        return cls(name, signing, ec.generate_private_key(ec.SECP256R1()))

    @property
    def verifying_key_pem(self) -> str:
        return self.signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def csr_pem(self, cn: str | None = None) -> str:
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn or self.name)]))
               .sign(self.tls_key, hashes.SHA256()))
        return csr.public_bytes(serialization.Encoding.PEM).decode()

    def body(self, *, csr: bool = True, timestamp: int | None = None, nonce: str | None = None,
             thing: str | None = None, signer: Any = None) -> dict[str, Any]:
        thing = thing or self.name
        timestamp = int(time.time()) if timestamp is None else timestamp
        nonce = nonce or secrets.token_urlsafe(18)
        csr_pem = self.csr_pem() if csr else None
        message = request_message(thing, timestamp, nonce, csr_pem)
        key = signer or self.signing_key
        signature = key.sign(message) if isinstance(key, ed25519.Ed25519PrivateKey) \
            else key.sign(message, ec.ECDSA(hashes.SHA256()))
        body = {"thingName": thing, "timestamp": timestamp, "nonce": nonce,
                "signature": base64.b64encode(signature).decode()}
        if csr_pem:
            body["csr"] = csr_pem
        return body


def event(body: dict[str, Any] | str, source_ip: str = DUBLIN_IP, headers: dict[str, str] | None = None) -> dict:
    """An HTTP API payload format 2.0 event as API Gateway sends it."""
    return {"version": "2.0", "routeKey": "POST /provision", "rawPath": "/provision", "rawQueryString": "",
            "headers": {"content-type": "application/json", **(headers or {})},
            "requestContext": {"http": {"method": "POST", "path": "/provision", "sourceIp": source_ip,
                                        "protocol": "HTTP/1.1", "userAgent": "test"}, "stage": "$default"},
            "body": body if isinstance(body, str) else json.dumps(body), "isBase64Encoded": False}


def enrol(table: str, device: Device, region: str = REGION) -> None:
    boto3.client("dynamodb", region_name=region).put_item(
        TableName=table, Item=allow_list.enrol_item(device.name, device.verifying_key_pem, "2026-01-01T00:00:00Z"))


@dataclass
class Account:
    """One region of a moto account: tables, CA registered, device policy, the CA key in KMS, a chooser."""

    tables: dict[str, str]
    ca_id: str
    ca: Any
    signer: issuer.Signer
    chooser: geolocation.RegionChooser
    iot: Any
    dynamodb: Any

    def settings(self) -> service.Settings:
        return service.Settings(region=REGION, inventory_table=self.tables["inventory"],
                                allow_list_table=self.tables["allow"], nonce_table=self.tables["nonces"],
                                device_policy_name="app-device", ca_certificate_id=self.ca_id,
                                trust_anchor_pem=self.ca.root_pem, device_endpoint="iot.example.com")

    def clients(self, clock=time.time, iot=None) -> service.Clients:
        return service.Clients(iot or self.iot, self.dynamodb, self.signer, self.chooser, clock)

    def entry(self, thing: str) -> dict[str, str] | None:
        return allow_list.read(self.dynamodb, self.tables["allow"], thing)
