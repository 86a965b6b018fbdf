"""The provisioning API's core against a moto account: authenticity, exactly once, rollback, region choice."""
from __future__ import annotations

import threading
import time

import pytest
from cryptography import x509

from functions.provisioning_api import service
from functions.provisioning_api.request import from_event
from tests.provisioning import kit


def call(account, body, source_ip=kit.DUBLIN_IP, headers=None, clock=time.time, iot=None):
    request = from_event(kit.event(body, source_ip, headers))
    return service.provision(request, account.settings(), account.clients(clock, iot))


def enrolled(account, name="sensor-1", kind="ed25519"):
    device = kit.Device.new(name, kind)
    kit.enrol(account.tables["allow"], device)
    return device


def inventory(account, thing):
    return account.dynamodb.get_item(TableName=account.tables["inventory"], Key={"ThingName": {"S": thing}}).get("Item")


@pytest.mark.parametrize("kind", ["ed25519", "ec"])
def test_a_csr_request_gets_a_certificate_for_the_devices_own_key_and_lands_in_the_inventory(account, kind):
    device = enrolled(account, kind=kind)
    answer = call(account, device.body(csr=True))
    assert answer.status == 200, answer.body
    certificate = x509.load_pem_x509_certificate(answer.body["certificatePem"].encode())
    certificate.verify_directly_issued_by(account.ca.intermediate_certificate)
    assert certificate.public_key().public_numbers() == device.tls_key.public_key().public_numbers()
    assert "privateKeyPem" not in answer.body
    assert account.iot.describe_certificate(certificateId=answer.body["certificateId"])[
        "certificateDescription"]["status"] == "ACTIVE"
    assert account.iot.describe_thing(thingName=device.name)["attributes"] == {"certificateId": answer.body["certificateId"]}
    item = inventory(account, device.name)
    assert {k: v["S"] for k, v in item.items()} == {
        "ThingName": device.name, "CertificateId": answer.body["certificateId"],
        "CertificatePem": answer.body["certificatePem"], "CaCertificateId": account.ca_id, "OriginRegion": kit.REGION,
        "Status": "ACTIVE", "RegisteredAt": item["RegisteredAt"]["S"], "PendingCertificateId": "",
        "PreviousCertificateId": ""}
    assert account.entry(device.name)["Status"] == "provisioned"
    assert answer.body["caCertificatesPem"] == account.ca.intermediate_pem + account.ca.root_pem


# A request without a CSR is refused (400) since issue 21: tests/provisioning/test_api_recovery.py.


def test_a_signature_by_another_key_is_refused_and_nothing_is_claimed(account):
    device = enrolled(account)
    other = kit.Device.new("intruder")
    answer = call(account, device.body(signer=other.signing_key))
    assert (answer.status, answer.body["error"]) == (403, "NotAuthorized")  # as for a name not enrolled
    assert account.entry(device.name)["Status"] == "unprovisioned"
    assert account.iot.list_certificates()["certificates"] == []


def test_a_signature_does_not_cover_another_csr(account):
    device = enrolled(account)
    body = device.body(csr=True)
    body["csr"] = kit.Device.new(device.name).csr_pem()  # a captured request given the attacker's key
    assert call(account, body).body["error"] == "NotAuthorized"


@pytest.mark.parametrize("skew", [-301, 301, -3600])
def test_a_request_outside_five_minutes_is_refused_as_stale(account, skew):
    device = enrolled(account)
    answer = call(account, device.body(timestamp=int(time.time()) + skew))
    assert (answer.status, answer.body["error"]) == (401, "Stale")


def test_a_replayed_nonce_with_another_request_is_refused(account):
    device = enrolled(account)
    first = device.body(csr=True)
    assert call(account, first).status == 200
    replay = device.body(csr=True, nonce=first["nonce"])  # another CSR (ECDSA signs with a fresh nonce)
    answer = call(account, replay)
    assert (answer.status, answer.body["error"]) == (409, "Replayed")


def test_a_retry_after_a_lost_response_gets_the_same_certificate_not_a_second_one(account):
    device = enrolled(account)
    body = device.body(csr=True)
    first = call(account, body)
    retry = call(account, body)  # the very same signed request again
    assert retry.status == 200 and retry.body["certificateId"] == first.body["certificateId"]
    assert retry.body["repeat"] is True
    resigned = device.body(csr=True)  # a new nonce, the same key
    again = call(account, resigned)
    assert again.status == 200 and again.body["certificateId"] == first.body["certificateId"]
    assert len(account.iot.list_certificates()["certificates"]) == 1


def test_a_thing_not_on_the_allow_list_is_refused(account):
    stranger = kit.Device.new("stranger")
    answer = call(account, stranger.body())
    assert (answer.status, answer.body["error"]) == (403, "NotAuthorized")  # as a bad signature: enrolment not told
    assert inventory(account, "stranger") is None


class AtomicCalls:
    """DynamoDB evaluates a condition and writes atomically; moto's backend, a plain dict, does not under threads.
    Each call of the wrapped client runs whole, as one request does in the service."""

    def __init__(self, client):
        self._client, self._lock = client, threading.Lock()

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            with self._lock:
                return attribute(*args, **kwargs)
        return call


def test_two_concurrent_requests_for_one_thing_provision_it_exactly_once(account):
    account.dynamodb = AtomicCalls(account.dynamodb)
    device = enrolled(account)
    bodies = [device.body(csr=True), kit.Device.new(device.name).body(csr=True, signer=device.signing_key)]
    barrier, answers = threading.Barrier(2), []

    def run(body):
        barrier.wait()
        answers.append(call(account, body))

    threads = [threading.Thread(target=run, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    statuses = sorted(a.status for a in answers)
    assert statuses == [200, 409], [a.body for a in answers]
    loser = next(a for a in answers if a.status == 409)
    assert loser.body["error"] in ("InProgress", "AlreadyProvisioned")
    assert len(account.iot.list_certificates()["certificates"]) == 1
    assert len(account.iot.list_things()["things"]) == 1


class FailingIot:
    """The real client, except that one operation fails (after the steps before it created resources)."""

    def __init__(self, iot, operation):
        self._iot, self._operation = iot, operation

    def __getattr__(self, name):
        if name == self._operation:
            def fail(**kwargs):
                raise RuntimeError(f"{name} failed (injected)")
            return fail
        return getattr(self._iot, name)


@pytest.mark.parametrize("operation", ["create_thing", "attach_policy", "attach_thing_principal"])
def test_a_failure_mid_way_leaves_nothing_behind_and_the_entry_unprovisioned(account, operation):
    device = enrolled(account)
    answer = call(account, device.body(), iot=FailingIot(account.iot, operation))
    assert (answer.status, answer.body["error"]) == (500, "ProvisioningFailed"), answer.body
    assert account.iot.list_certificates()["certificates"] == []
    assert account.iot.list_things()["things"] == []
    assert inventory(account, device.name) is None
    assert account.entry(device.name)["Status"] == "unprovisioned"
    assert "ClaimToken" not in account.entry(device.name)
    assert call(account, device.body()).status == 200  # a new request then succeeds


def test_a_thing_name_the_inventory_gives_another_certificate_is_rolled_back(account):
    device = enrolled(account)
    account.dynamodb.put_item(TableName=account.tables["inventory"], Item={
        "ThingName": {"S": device.name}, "CertificateId": {"S": "f" * 64}, "Status": {"S": "ACTIVE"}})
    answer = call(account, device.body())
    assert (answer.status, answer.body["error"]) == (409, "ThingNameTaken")
    assert account.iot.list_certificates()["certificates"] == []
    assert account.entry(device.name)["Status"] == "unprovisioned"


@pytest.mark.parametrize("source_ip, region", [(kit.DUBLIN_IP, "eu-west-1"), (kit.OREGON_IP, "us-west-2"),
                                               (kit.UNLISTED_IP, kit.DEFAULT_REGION),
                                               ("10.1.2.3", kit.DEFAULT_REGION), ("127.0.0.1", kit.DEFAULT_REGION),
                                               ("::1", kit.DEFAULT_REGION)])
def test_the_region_is_the_closest_to_the_source_address_or_the_default(account, source_ip, region):
    device = enrolled(account)
    answer = call(account, device.body(), source_ip=source_ip)
    assert answer.body["region"] == region
    assert account.entry(device.name)["Region"] == region


def test_a_spoofed_x_forwarded_for_is_ignored(account):
    device = enrolled(account)
    answer = call(account, device.body(), source_ip=kit.DUBLIN_IP,
                  headers={"x-forwarded-for": kit.OREGON_IP, "x-real-ip": kit.OREGON_IP,
                           "forwarded": f"for={kit.OREGON_IP}"})
    assert answer.body["region"] == "eu-west-1"


def test_a_csr_for_another_thing_name_is_refused(account):
    device = enrolled(account)
    body = device.body(csr=False)
    import base64
    from contract.proofs import request_message
    csr = device.csr_pem(cn="someone-else")
    body["csr"] = csr
    body["signature"] = base64.b64encode(device.signing_key.sign(
        request_message(device.name, body["timestamp"], body["nonce"], csr))).decode()
    answer = call(account, body)
    assert (answer.status, answer.body["error"]) == (400, "BadCsr")


def test_a_canary_thing_name_is_refused_before_anything_is_read():
    from builders.canary import RESERVED_PREFIX
    from functions.provisioning_api import request

    # one rule for every way in (contract/names.py); tests/provisioning/test_reserved_names.py has the rest
    body = {"thingName": f"{RESERVED_PREFIX}us-west-2", "timestamp": int(time.time()), "nonce": "n" * 32,
            "signature": "c2ln"}
    with pytest.raises(request.BadRequest, match="reserved"):
        request.parse_body(body, "203.0.113.7")
