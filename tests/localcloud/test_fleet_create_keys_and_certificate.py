"""CreateKeysAndCertificate over MQTT (fleet.py, amazon_ca.py) against a served fleet deployment: a certificate the
stand-in Amazon CA made can never become a working device, its ownership token cannot take over a serial or be
replayed, expires after its lifetime (AWS: one hour), and a burst of requests does not starve other clients."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from builders.fleet import CREATE_FROM_CSR, claim_client_id, provision_topic
from device.session import Identity, Lost, Refused, Session
from functions.fleet_provisioning import proof
from localcloud.services.iot.amazon_ca import ISSUER, amazon_ca
from localcloud.services.iot.fleet import CREATE_KEYS_AND_CERTIFICATE
from pki.claim import claim_paths
from tests.localcloud.mqtt.conftest import Served, allow, served_fleet

EU = "eu-west-1"
CK = CREATE_KEYS_AND_CERTIFICATE
ALLOW = "create-keys-claim-policy"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served_fleet(tmp_path_factory, "fleet-ck") as served:
        _allow_create_keys(served)
        yield served


def _arn(resource: str) -> str:
    return f"arn:aws:iot:{EU}:123456789012:{resource}"


def _claim_arn(served: Served) -> str:
    claim_pem = claim_paths(served.cloud.pki_dir)[0].read_text()
    with served.endpoints.gate:
        iot = boto3.client("iot", region_name=EU)
        return next(c["certificateArn"] for c in iot.list_certificates()["certificates"]
                    if iot.describe_certificate(certificateId=c["certificateId"])["certificateDescription"][
                        "certificatePem"].strip() == claim_pem.strip())


def _allow_create_keys(served: Served) -> None:
    """A claim policy written generously after AWS's examples: CreateKeys, and every $aws/certificates reply,
    wildcards included (a bystander may subscribe to $aws/certificates/#)."""
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": _arn(f"topic/{CK}")},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": [_arn("topicfilter/$aws/certificates/*")]},
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": [_arn("topic/$aws/certificates/*")]}]}
    with served.endpoints.gate:
        iot = boto3.client("iot", region_name=EU)
        iot.create_policy(policyName=ALLOW, policyDocument=json.dumps(document))
        iot.attach_policy(policyName=ALLOW, target=_claim_arn(served))


SIGNING: dict[str, ed25519.Ed25519PrivateKey] = {}


def enrol(served: Served, serial: str) -> ed25519.Ed25519PrivateKey:
    key = SIGNING.setdefault(serial, ed25519.Ed25519PrivateKey.generate())
    allow(served, serial, key)
    return key


def allow_entry(served: Served, serial: str) -> dict:
    with served.endpoints.gate:
        return boto3.client("dynamodb", region_name=EU).get_item(
            TableName="multi-region-iot-allow-list", Key={"ThingName": {"S": serial}}, ConsistentRead=True)["Item"]


def status(served: Served, certificate_id: str) -> str:
    with served.endpoints.gate:
        return boto3.client("iot", region_name=EU).describe_certificate(
            certificateId=certificate_id)["certificateDescription"]["status"]


def certificate_count(served: Served) -> int:
    with served.endpoints.gate:
        return len(served.endpoints.fleet.core.backend(EU).certificates)


class Claimed:
    def __init__(self, served: Served, *, client_id: str | None = None, subscribe: tuple[str, ...] = ()) -> None:
        self.served = served
        self.replies: list[tuple[str, dict]] = []
        self.cond = threading.Condition()
        certificate, key = claim_paths(served.cloud.pki_dir)
        self.identity = Identity(client_id or claim_client_id(), certificate, key,
                                 served.cloud.pki_dir / "root-ca.crt")
        self.session: Session = served.direct(self.identity, EU, on_message=self._on)
        self.session.timeout_s = 60
        self.session.open()
        with served.endpoints.gate:
            self.template = served.endpoints.fleet._only_template(EU)
        for topic in subscribe or (f"{CK}/accepted", f"{CK}/rejected", f"{CREATE_FROM_CSR}/accepted",
                                   f"{CREATE_FROM_CSR}/rejected", f"{provision_topic(self.template)}/accepted",
                                   f"{provision_topic(self.template)}/rejected"):
            assert self.session.subscribe(topic) < 0x80, topic

    def _on(self, topic: str, payload: bytes) -> None:
        with self.cond:
            self.replies.append((topic, json.loads(payload)))
            self.cond.notify_all()

    def request(self, topic: str, body: dict, timeout: float = 15) -> tuple[str, dict]:
        seen = len(self.replies)
        self.session.publish(topic, json.dumps(body), qos=1)
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.replies) > seen, timeout=timeout), f"no reply to {topic}"
            return self.replies[seen]

    def close(self) -> None:
        self.session.close()


def write(served: Served, name: str, cert_pem: str, key_pem: str) -> Identity:
    cert, key = served.folder / f"{name}.crt", served.folder / f"{name}.key"
    cert.write_text(cert_pem)
    key.write_text(key_pem)
    key.chmod(0o600)
    return Identity(name, cert, key, served.cloud.pki_dir / "root-ca.crt")


# ---- tests ---------------------------------------------------------------------------------------------------------
def test_a_create_keys_certificate_cannot_connect_and_fires_no_jitr(fleet: Served) -> None:
    c = Claimed(fleet)
    try:
        topic, created = c.request(CK, {})
    finally:
        c.close()
    assert topic == f"{CK}/accepted"
    jitr_before = fleet.endpoints.fleet.core.stats.jitr_events
    ident = write(fleet, "rt-ck-direct", created["certificatePem"], created["privateKey"])
    for client_id in ("rt-ck-direct", claim_client_id()):
        with pytest.raises(Refused):
            fleet.direct(Identity(client_id, ident.cert, ident.key, ident.ca), EU).open()
    time.sleep(0.5)
    assert fleet.endpoints.fleet.core.stats.jitr_events == jitr_before  # no CA of ours: no JITR event
    assert status(fleet, created["certificateId"]) == "PENDING_ACTIVATION"


def test_a_forged_amazon_certificate_naming_a_serial_and_the_fleet_oid_is_refused(fleet: Served) -> None:
    """The stand-in's key signs a cert CN=enrolled serial + the fleet policy OID (as if Amazon were hostile)."""
    serial = "rt-forged-0001"
    enrol(fleet, serial)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, serial)]))
            .issuer_name(ISSUER).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(proof.fleet_policy(), critical=False)
            .sign(amazon_ca()._key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    ident = write(fleet, serial, pem, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()).decode())
    before = certificate_count(fleet)
    with pytest.raises(Refused):
        fleet.direct(ident, EU).open()
    assert certificate_count(fleet) == before  # not auto-registered: no CA of the account signed it
    assert allow_entry(fleet, serial)["Status"]["S"] == "unprovisioned"


def test_a_create_keys_token_cannot_take_over_a_serial_mid_provisioning(fleet: Served) -> None:
    """A legit device did CreateCertificateFromCsr (entry 'issuing' for its cert); an attacker with the claim uses a
    CreateKeys token + that serial, + a parameter naming the legit certificate id. Then the legit device finishes."""
    serial = "rt-hijack-0001"
    signing = enrol(fleet, serial)
    legit_key = ec.generate_private_key(ec.SECP256R1())
    legit = Claimed(fleet)
    attacker = Claimed(fleet)
    try:
        topic, csr_created = legit.request(CREATE_FROM_CSR,
                                           {"certificateSigningRequest": proof.csr_pem(legit_key, serial, signing)})
        assert topic.endswith("/accepted"), csr_created
        assert allow_entry(fleet, serial)["Status"]["S"] == "issuing"
        _, ck = attacker.request(CK, {})
        for params in ({"SerialNumber": serial},
                       {"SerialNumber": serial, "AWS::IoT::Certificate::Id": csr_created["certificateId"]}):
            topic, answer = attacker.request(provision_topic(attacker.template), {
                "certificateOwnershipToken": ck["certificateOwnershipToken"], "parameters": params})
            assert topic.endswith("/rejected"), answer
        assert allow_entry(fleet, serial)["Status"]["S"] == "issuing"
        assert status(fleet, ck["certificateId"]) == "PENDING_ACTIVATION"
        topic, ok = legit.request(provision_topic(legit.template), {
            "certificateOwnershipToken": csr_created["certificateOwnershipToken"], "parameters": {"SerialNumber": serial}})
        assert topic.endswith("/accepted"), ok
        assert status(fleet, csr_created["certificateId"]) == "ACTIVE"
        assert status(fleet, ck["certificateId"]) == "PENDING_ACTIVATION"
        # replay of the used token: refused
        topic, again = attacker.request(provision_topic(attacker.template), {
            "certificateOwnershipToken": csr_created["certificateOwnershipToken"], "parameters": {"SerialNumber": serial}})
        assert topic.endswith("/rejected") and again["errorCode"] == "InvalidCertificateOwnershipToken", again
    finally:
        legit.close()
        attacker.close()


def test_two_register_things_racing_with_one_token_provision_once(fleet: Served) -> None:
    serial = "rt-race-0001"
    signing = enrol(fleet, serial)
    key = ec.generate_private_key(ec.SECP256R1())
    a, b = Claimed(fleet), Claimed(fleet)
    try:
        _, created = a.request(CREATE_FROM_CSR, {"certificateSigningRequest": proof.csr_pem(key, serial, signing)})
        body = json.dumps({"certificateOwnershipToken": created["certificateOwnershipToken"],
                           "parameters": {"SerialNumber": serial}})
        for c in (a, b):
            c.session._client.publish(provision_topic(c.template), body, qos=1)
        for c in (a, b):
            with c.cond:
                assert c.cond.wait_for(lambda c=c: any("provision" in t for t, _ in c.replies), timeout=15)
        outcomes = sorted(t.rsplit("/", 1)[1] for c in (a, b) for t, _ in c.replies if "provision" in t)
    finally:
        a.close()
        b.close()
    assert outcomes == ["accepted", "rejected"], outcomes
    assert status(fleet, created["certificateId"]) == "ACTIVE"


def test_a_wildcard_bystander_never_sees_anothers_private_key(fleet: Served) -> None:
    bystander = Claimed(fleet, subscribe=("$aws/certificates/#", f"{CK}/accepted"))
    asker = Claimed(fleet)
    try:
        topic, _ = asker.request(CK, {})
        assert topic.endswith("/accepted")
        time.sleep(1)
        assert bystander.replies == []
    finally:
        asker.close()
        bystander.close()


def test_a_reply_is_not_queued_for_whoever_resumes_the_persistent_session(fleet: Served) -> None:
    """The requester (clean session 0) drops right after publishing; another connection resumes the same client id
    (anyone holding the claim can). AWS: replies come "through the same MQTT connection used to publish"."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    certificate, key = claim_paths(fleet.cloud.pki_dir)
    ident = Identity(claim_client_id(), certificate, key, fleet.cloud.pki_dir / "root-ca.crt")
    got: list[str] = []

    def client() -> mqtt.Client:
        from device.session import _Client
        c = _Client(CallbackAPIVersion.VERSION2, client_id=ident.thing, protocol=mqtt.MQTTv311,
                    clean_session=False)
        c.tcp_target = ("127.0.0.1", fleet.endpoints.port(EU))
        c.tls_set_context(ident.tls_context())
        c.on_message = lambda *_a: got.append(_a[2].topic)
        return c

    before = certificate_count(fleet)
    first = client()
    first.connect(fleet.cloud.domain, 8883)
    first.loop_start()
    time.sleep(0.5)
    first.subscribe(f"{CK}/accepted", qos=1)
    time.sleep(0.5)
    first.publish(CK, "{}", qos=1)
    time.sleep(0.02)
    first.loop_stop()
    first.socket().close()  # lost connection right after the request
    time.sleep(3)
    second = client()
    second.connect(fleet.cloud.domain, 8883)
    second.loop_start()
    time.sleep(3)
    second.disconnect()
    second.loop_stop()
    print("resumer received:", got, "certificates made:", certificate_count(fleet) - before)
    assert certificate_count(fleet) - before == 1, "the request was not answered: the case did not run"
    assert got == [], "the private key of another connection's request was delivered to the session's resumer"


def test_a_claim_deactivated_mid_session_gets_no_certificate(fleet: Served) -> None:
    arn = _claim_arn(fleet)
    cid = arn.rsplit("/", 1)[1]
    c = Claimed(fleet)
    before = certificate_count(fleet)
    try:
        with fleet.endpoints.gate:
            boto3.client("iot", region_name=EU).update_certificate(certificateId=cid, newStatus="INACTIVE")
        with pytest.raises(Lost):
            c.request(CK, {}, timeout=5)
    finally:
        c.close()
        with fleet.endpoints.gate:
            boto3.client("iot", region_name=EU).update_certificate(certificateId=cid, newStatus="ACTIVE")
    assert certificate_count(fleet) == before


def test_a_create_keys_burst_does_not_starve_other_clients(fleet: Served) -> None:
    """50 CreateKeys requests pipelined by one claim connection: how long does another client wait for the gate
    (its own request's reply), and how many certificates/tokens stay behind?"""
    n = 50
    before = certificate_count(fleet)
    tokens_before = len(fleet.endpoints.fleet._tokens)
    flood = Claimed(fleet)
    probe = Claimed(fleet)
    try:
        # a baseline probe: a refused CSR request (no Lambda call on empty CSR)
        t0 = time.monotonic()
        probe.request(CREATE_FROM_CSR, {"certificateSigningRequest": ""})
        baseline = time.monotonic() - t0
        t0 = time.monotonic()
        for _ in range(n):
            flood.session._client.publish(CK, "{}", qos=0)
        time.sleep(0.05)
        t1 = time.monotonic()
        probe.request(CREATE_FROM_CSR, {"certificateSigningRequest": ""}, timeout=120)
        probe_wait = time.monotonic() - t1
        with flood.cond:
            flood.cond.wait_for(lambda: len(flood.replies) >= n, timeout=180)
        total = time.monotonic() - t0
        # a new client connecting during another burst
        for _ in range(n):
            flood.session._client.publish(CK, "{}", qos=0)
        time.sleep(0.05)
        t2 = time.monotonic()
        late = None
        try:
            late = Claimed(fleet)
            connect_wait = time.monotonic() - t2
        finally:
            if late:
                late.close()
        with flood.cond:
            flood.cond.wait_for(lambda: len(flood.replies) >= 2 * n, timeout=180)
    finally:
        flood.close()
        probe.close()
    made = certificate_count(fleet) - before
    print(f"\nbaseline probe {baseline*1000:.0f} ms; probe during {n} CreateKeys: {probe_wait*1000:.0f} ms; "
          f"burst total {total:.1f} s; new CONNECT+6 SUBSCRIBE during burst {connect_wait*1000:.0f} ms; "
          f"certificates left PENDING: {made}; tokens held: {len(fleet.endpoints.fleet._tokens) - tokens_before}")
    assert probe_wait < 2.0, f"another client's request waited {probe_wait:.1f} s behind one client's burst"


def test_an_ownership_token_expires_after_its_lifetime(fleet: Served) -> None:
    """AWS: a certificateOwnershipToken is good for one hour; an expired one is refused and dropped (the
    PENDING_ACTIVATION certificate it was for is kept, as AWS keeps it)."""
    from localcloud.services.iot.fleet import TOKEN_LIFETIME_S

    assert TOKEN_LIFETIME_S == 3600
    serial = "expired-token-0001"
    signing = enrol(fleet, serial)
    c = Claimed(fleet)
    provisioning = fleet.endpoints.fleet
    try:
        with fleet.endpoints.gate:
            provisioning.token_lifetime_s = 0.5
        _, created = c.request(CREATE_FROM_CSR, {"certificateSigningRequest": proof.csr_pem(
            ec.generate_private_key(ec.SECP256R1()), serial, signing)})
        time.sleep(1)
        topic, answer = c.request(provision_topic(c.template), {
            "certificateOwnershipToken": created["certificateOwnershipToken"], "parameters": {"SerialNumber": serial}})
        assert topic.endswith("/rejected") and answer["errorCode"] == "InvalidCertificateOwnershipToken", answer
        assert "expired" in answer["errorMessage"], answer
        assert created["certificateOwnershipToken"] not in provisioning._tokens
        _, ck = c.request(CK, {})  # issuing a token drops every expired one
        time.sleep(1)
        c.request(CK, {})
        assert ck["certificateOwnershipToken"] not in provisioning._tokens
        assert status(fleet, created["certificateId"]) == "PENDING_ACTIVATION"
    finally:
        with fleet.endpoints.gate:
            provisioning.token_lifetime_s = TOKEN_LIFETIME_S
        c.close()
