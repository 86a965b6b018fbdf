"""Issue 21, provisioning API: no lost response, retry, crash or rollback fault leaves an entry or a thing that the
device (or ``python -m ops allow-list reset``) cannot recover.

Each test fails on main at 9c49dd7: a request without a CSR provisioned a key it returned once; a claim left by a
dead invocation answered 409 InProgress forever; a rollback whose DeleteThing was refused left the thing, and every
later request got 409 ThingNameTaken.
"""
from __future__ import annotations

import time

import pytest

from functions.fleet_provisioning import hook
from functions.provisioning_api import handler
from functions.provisioning_api.request import BadRequest, from_event
from tests.provisioning import kit
from tests.provisioning.test_fleet_functions import _certificate, _event, _settings
from tests.provisioning.api_faults import aws_like, Died, Faulty, always, call, first, still_attached  # noqa: F401 - aws_like is a fixture

pytestmark = pytest.mark.usefixtures("aws_like")


def enrolled(account, name="sensor-1"):
    device = kit.Device.new(name)
    kit.enrol(account.tables["allow"], device)
    return device


def certificates(account):
    return {c["certificateId"]: c["status"] for c in account.iot.list_certificates()["certificates"]}


def owner(account, thing):
    return account.iot.describe_thing(thingName=thing)["attributes"].get("certificateId")


# ---- finding 1: a request without a CSR ------------------------------------------------------------------------

def test_a_request_without_a_csr_is_refused_as_bad_and_claims_nothing(account):
    """A key made by the API and returned once is lost with its response, and the entry stays provisioned: the API
    certifies only keys the device made (a CSR), so a lost answer can always be asked for again."""
    device = enrolled(account)
    event = kit.event(device.body(csr=False))
    with pytest.raises(BadRequest, match="csr is required"):
        from_event(event)
    answer = handler.handler(event, None)
    assert answer["statusCode"] == 400 and "csr is required" in answer["body"]
    assert account.entry(device.name)["Status"] == "unprovisioned"
    assert certificates(account) == {}


def test_a_lost_response_is_answered_again_for_the_same_key_whatever_the_request(account):
    device = enrolled(account)
    body = device.body()
    first_answer = call(account, body)
    assert first_answer.status == 200
    for again in (body, device.body(), device.body()):  # the same signed request, then new ones for the same key
        answer = call(account, again)
        assert (answer.status, answer.body["certificateId"], answer.body["repeat"]) == (
            200, first_answer.body["certificateId"], True)
    assert list(certificates(account)) == [first_answer.body["certificateId"]]


def test_another_key_for_a_provisioned_device_is_refused_naming_the_reset_command(account):
    device = enrolled(account)
    assert call(account, device.body()).status == 200
    lost = kit.Device(device.name, device.signing_key, kit.Device.new(device.name).tls_key)  # the TLS key was lost
    answer = call(account, lost.body())
    assert (answer.status, answer.body["error"]) == (409, "AlreadyProvisioned")
    assert f"python -m ops allow-list reset {kit.REGION} {device.name} --yes" in answer.body["message"]


# ---- finding 3: a claim left by an invocation that died -------------------------------------------------------

@pytest.mark.parametrize("dies_at", ["register_certificate", "attach_policy", "attach_thing_principal"])
def test_a_claim_left_by_a_dead_invocation_is_taken_over_after_120_s_and_its_leftovers_removed(account, dies_at):
    device = enrolled(account)
    t0 = time.time()
    with pytest.raises(Died):
        call(account, device.body(timestamp=int(t0)), at=t0, iot=Faulty(account.iot, **{dies_at: always(Died())}))
    assert account.entry(device.name)["Status"] == "provisioning"

    early = call(account, device.body(timestamp=int(t0 + 60)), at=t0 + 60)
    assert (early.status, early.body["error"]) == (409, "InProgress")

    late = call(account, device.body(timestamp=int(t0 + 121)), at=t0 + 121)
    assert late.status == 200, late.body
    cid = late.body["certificateId"]
    assert {c: s for c, s in certificates(account).items() if s != "REVOKED"} == {cid: "ACTIVE"}
    assert owner(account, device.name) == cid
    assert account.entry(device.name)["Status"] == "provisioned"
    assert "AttemptCertificateIds" not in account.entry(device.name)


def test_an_invocation_that_died_after_its_commit_is_completed_by_the_next_request(account):
    device = enrolled(account)
    t0 = time.time()
    dying = Faulty(account.dynamodb, update_item=lambda kw: Died() if ":provisioned" in str(kw) else None)
    with pytest.raises(Died):
        call(account, device.body(timestamp=int(t0)), at=t0, dynamodb=dying)
    (committed,) = certificates(account)  # registered, attached, in the inventory: only the entry is unfinished

    same_key = call(account, device.body(timestamp=int(t0 + 121)), at=t0 + 121)
    assert (same_key.status, same_key.body["certificateId"], same_key.body["repeat"]) == (200, committed, True)
    assert list(certificates(account)) == [committed]
    assert account.entry(device.name)["Status"] == "provisioned"
    other_key = kit.Device(device.name, device.signing_key, kit.Device.new(device.name).tls_key)
    assert call(account, other_key.body()).body["error"] == "AlreadyProvisioned"


# ---- finding 4: a rollback whose DeleteThing is refused -------------------------------------------------------

def test_a_rollback_whose_delete_thing_is_refused_converges_on_the_next_request(account):
    device = enrolled(account)
    refusing = Faulty(account.iot, attach_thing_principal=always(RuntimeError("injected")),
                      delete_thing=always(still_attached(account.iot, device.name)))
    failed = call(account, device.body(), iot=refusing)
    assert failed.status in (500, 503), failed.body
    assert owner(account, device.name)  # the thing is left behind for now ...
    assert account.entry(device.name)["Status"] == "unprovisioned"

    answer = call(account, device.body())  # ... the detach has propagated: the next request finishes the rollback
    assert answer.status == 200, answer.body
    assert owner(account, device.name) == answer.body["certificateId"]
    assert {c: s for c, s in certificates(account).items() if s != "REVOKED"} == {answer.body["certificateId"]: "ACTIVE"}
    assert "AttemptCertificateIds" not in account.entry(device.name)


def test_while_the_thing_is_still_refused_the_answer_is_retry_later_and_nothing_new_is_made(account):
    device = enrolled(account)
    refused = still_attached(account.iot, device.name)
    call(account, device.body(), iot=Faulty(account.iot, attach_thing_principal=always(RuntimeError("injected")),
                                            delete_thing=always(refused)))
    before = certificates(account)
    answer = call(account, device.body(), iot=Faulty(account.iot, delete_thing=always(refused)))
    assert (answer.status, answer.body["error"]) == (503, "RetryLater"), answer.body
    assert certificates(account).keys() == before.keys()
    assert account.entry(device.name)["Status"] == "unprovisioned"
    # refused for a few more seconds only: then it converges
    assert call(account, device.body(), iot=Faulty(account.iot, delete_thing=first(2, refused))).status == 200


def test_a_thing_that_another_device_owns_is_never_taken(account):
    device = enrolled(account)
    account.iot.create_thing(thingName=device.name, attributePayload={"attributes": {"certificateId": "d" * 64}})
    answer = call(account, device.body())
    assert (answer.status, answer.body["error"]) == (409, "ThingNameTaken")
    assert owner(account, device.name) == "d" * 64
    assert {c: s for c, s in certificates(account).items() if s != "REVOKED"} == {}
    assert call(account, device.body()).body["error"] == "ThingNameTaken"  # and says so again, changing nothing
    assert owner(account, device.name) == "d" * 64


# ---- a lost response, replayed -------------------------------------------------------------------------------------
def test_a_captured_request_replayed_after_success_returns_only_the_public_certificate(account):
    device = enrolled(account, "rt-replay")
    body = device.body()
    first = call(account, body)
    assert first.status == 200
    again = call(account, body)
    assert again.status == 200 and again.body["certificateId"] == first.body["certificateId"]
    assert "privateKey" not in again.body and "keyPem" not in str(again.body.keys())
    other_nonce = {**body, "nonce": "Z" * 22}  # same signature, another nonce: not authentic
    assert call(account, other_nonce).status == 403


# ---- the fleet hook's refused certificate, as the API sees it (red team A3) -------------------------------------------
def test_the_api_never_hands_out_a_fleet_certificate_the_hook_refused(account):
    """The hook refused (the inventory names another certificate): the API must not answer that refused,
    never-activated certificate as a repeat (the device would believe it is provisioned and never connect)."""
    device = enrolled(account, "rt-a3")
    account.dynamodb.put_item(TableName=account.tables["inventory"],
                              Item={"ThingName": {"S": device.name}, "CertificateId": {"S": "0" * 64},
                                    "Status": {"S": "ACTIVE"}})
    refused = _certificate(account, device)
    assert hook.decide(_event(device, refused), account.dynamodb, _settings(account)) == {"allowProvisioning": False}
    answer = call(account, device.body())
    assert not (answer.status == 200 and answer.body.get("certificatePem") == refused), \
        "200 with the certificate the hook refused"


def test_a_provisioned_entry_whose_certificate_the_inventory_does_not_name_is_not_answered_again(account):
    """The repeat answer needs the inventory (consistent read) to name the entry's certificate: another item is 409
    AlreadyProvisioned, no item yet (the allow-list replicated ahead of the inventory) 503 RetryLater."""
    device = enrolled(account, "sensor-a3")
    body = device.body()
    first = call(account, body)
    assert first.status == 200
    table = account.tables["inventory"]
    key = {"ThingName": {"S": device.name}}
    account.dynamodb.delete_item(TableName=table, Key=key)
    assert call(account, device.body()).status == 503
    account.dynamodb.put_item(TableName=table, Item={**key, "CertificateId": {"S": "0" * 64},
                                                     "Status": {"S": "ACTIVE"}})
    answer = call(account, device.body())
    assert answer.status == 409 and answer.body["error"] == "AlreadyProvisioned"
