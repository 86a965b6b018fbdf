"""Issue 21, provisioning API: refusals do not reveal which names are enrolled, and malformed bodies get 400.

Both fail on main at 9c49dd7: a junk signature got 401 for an enrolled name and 403 for an unknown one (anyone could
list the enrolled serials), and a 3,000-deep JSON body raised RecursionError (500).
"""
from __future__ import annotations

import base64
import json
import time

import pytest

from functions.provisioning_api import authenticity, handler
from tests.provisioning import kit
from functions.provisioning_api.request import BadRequest
from tests.provisioning.api_faults import aws_like, call  # noqa: F401 - aws_like is a fixture

pytestmark = pytest.mark.usefixtures("aws_like")


def enrolled(account, name="sensor-1", kind="ed25519"):
    device = kit.Device.new(name, kind)
    kit.enrol(account.tables["allow"], device)
    return device


def junk(body, signature: bytes):
    return {**body, "signature": base64.b64encode(signature).decode()}


@pytest.mark.parametrize("kind", ["ed25519", "ec"])
def test_a_bad_signature_gets_the_same_answer_for_an_enrolled_and_an_unknown_name(account, kind):
    device = enrolled(account, kind=kind)
    stranger = kit.Device.new("sensor-2", kind)  # same shape of name and key, never enrolled
    impostor = kit.Device.new("intruder", kind)
    cases = {
        "junk": lambda d: junk(d.body(), b"\x01" * 64),
        "another key": lambda d: d.body(signer=impostor.signing_key),
        "long junk": lambda d: junk(d.body(), b"\x30" * 72),
    }
    for label, make in cases.items():
        known, unknown = call(account, make(device)), call(account, make(stranger))
        assert (known.status, known.body) == (unknown.status, unknown.body), label
        assert known.status == 403 and known.body["error"] == "NotAuthorized", label
        assert "ops allow-list" in known.body["message"] and "--key" in known.body["message"]
    assert account.entry(device.name)["Status"] == "unprovisioned"


def verifications(monkeypatch) -> list[str]:
    """The key types of every signature verification from now on (the real verification still runs)."""
    checked: list[str] = []
    original = authenticity._verify

    def spy(key, message, signature):
        checked.append(type(key).__name__)
        return original(key, message, signature)

    monkeypatch.setattr(authenticity, "_verify", spy)
    return checked


def test_an_unknown_name_costs_a_signature_verification_like_an_enrolled_one(account, monkeypatch):
    """Roughly the same work either way: an unknown name's signature is checked against a dummy key of the kind the
    signature looks like, so the answer's timing does not tell enrolled from unknown either."""
    device, stranger = enrolled(account), kit.Device.new("sensor-2")
    checked = verifications(monkeypatch)
    for d in (device, stranger):
        call(account, junk(d.body(), b"\x01" * 64))
    assert len(checked) == 2 and checked[0] == checked[1], checked
    ec_device, ec_stranger = enrolled(account, "sensor-3", "ec"), kit.Device.new("sensor-4", "ec")
    checked.clear()
    for d in (ec_device, ec_stranger):
        call(account, d.body(signer=kit.Device.new("x", "ec").signing_key))
    assert len(checked) == 2 and checked[0] == checked[1], checked


def deep(n):
    return "[" * n + "]" * n


VALID = {"thingName": "sensor-1", "timestamp": 1, "nonce": "n" * 24, "signature": "c2lnbmF0dXJl",
         "csr": "-----BEGIN CERTIFICATE REQUEST-----\nx\n-----END CERTIFICATE REQUEST-----\n"}


def with_(**fields):
    return json.dumps({**VALID, **fields})


@pytest.mark.parametrize("body", [
    deep(3000), '{"thingName": ' + deep(3000) + "}", '{"a": ' * 3000 + "1" + "}" * 3000, deep(40),
    "[]", "null", '"text"', "1e999", "{}", "9" * 5000, "{" + '"a": 1, ' * 3000 + '"b": 2}', "{\"thingName\": \"\ud800\"}",
    with_(timestamp="123"), with_(timestamp=1.5), with_(timestamp=True), with_(timestamp=10 ** 30),
    with_(nonce=["n" * 24]), with_(signature=12), with_(signature="not base64!"), with_(csr=["x"]),
    with_(thingName={"a": "b"}), with_(extra="X").replace('"X"', deep(100)),
    "x" * (64 * 1024),
], ids=lambda body: (body[:24] + f"...({len(body)})") if isinstance(body, str) else str(body))
def test_a_malformed_body_gets_400_never_500(body):
    answer = handler.handler(kit.event(body), None)
    assert answer["statusCode"] == 400, answer
    assert json.loads(answer["body"])["error"] == "BadRequest"


@pytest.mark.parametrize("event_body, encoded", [
    (base64.b64encode(b"\xff\xfe not utf-8").decode(), True), ("ü not base64", True), ("%%%", True),
    (None, False), ({"thingName": "sensor-1"}, False), (12, False),
])
def test_a_malformed_event_gets_400_never_500(event_body, encoded):
    event = {**kit.event("{}"), "body": event_body, "isBase64Encoded": encoded}
    answer = handler.handler(event, None)
    assert answer["statusCode"] == 400, answer


def test_a_well_formed_request_still_gets_through_the_parser(account):
    device = enrolled(account)
    answer = call(account, device.body(timestamp=int(time.time())))
    assert answer.status == 200, answer.body


# ---- a JSON-escaped lone surrogate in a string field is 400, not 500 (red team A1) ---------------------------------
@pytest.mark.parametrize("field", ["csr", "thingName", "nonce", "signature"])
def test_a_lone_surrogate_escape_in_a_string_field_gets_400_not_500(account, field):
    """JSON's "\\ud800" escape is valid UTF-8 text yet decodes to a lone surrogate, which request.message's
    csr.encode() refused (UnicodeEncodeError, 500, before any authentication): every string field must be ASCII."""
    device = enrolled(account, "rt-a1")
    body = device.body()
    body[field] = body[field] + "\ud800"  # json.dumps writes it as the ASCII escape \ud800
    try:
        answer = call(account, body)
    except BadRequest:
        return  # refused as malformed: fine
    except Exception as error:  # noqa: BLE001 - any other exception is the 500 this test exists to catch
        pytest.fail(f"unhandled {type(error).__name__} (the handler answers 500): {error}")
    assert answer.status == 400, answer.body


def test_the_handler_answers_400_for_a_unicode_error_past_the_parser(monkeypatch):
    """A backstop: should text that str.encode refuses get past request.parse_body, the handler answers 400."""
    device = kit.Device.new("sensor-a1")

    def refuses(*args, **kwargs):
        raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")

    monkeypatch.setattr(handler.service, "provision", refuses)
    monkeypatch.setattr(handler, "_clients", lambda *args: (None, None, None, None))
    env = {"AWS_REGION": kit.REGION, "INVENTORY_TABLE": "i", "ALLOW_LIST_TABLE": "a", "NONCE_TABLE": "n",
           "DEVICE_POLICY_NAME": "p", "CA_CERTIFICATE_ID": "c", "DEVICE_ENDPOINT": "e", "CA_SIGNING_KEY_ARN": "k",
           "REGIONS": kit.REGION, "DEFAULT_REGION": kit.REGION}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    answer = handler.handler(kit.event(device.body()), None)
    assert answer["statusCode"] == 400 and "ASCII" in answer["body"]


# ---- no enumeration by work when the signature's shape differs from the enrolled key's kind (red team A2) ---------
def test_a_junk_signature_of_the_other_shape_costs_the_same_for_an_ec_enrolled_and_an_unknown_name(account,
                                                                                                  monkeypatch):
    """authentic() makes exactly one verification, with a key of the signature's shape: a 64-byte junk signature
    against an EC-enrolled serial is checked with the Ed25519 dummy, as for an unknown name (it used to cost one
    ECDSA verification more, so response timing listed the EC-enrolled serials)."""
    device, stranger = enrolled(account, "rt-a2", "ec"), kit.Device.new("rt-a2-unknown", "ec")
    checked = verifications(monkeypatch)
    counts, answers = [], []
    for d in (device, stranger):
        checked.clear()
        answer = call(account, {**d.body(), "signature": base64.b64encode(b"\x01" * 64).decode()})
        answers.append((answer.status, answer.body))
        counts.append(len(checked))
    assert answers[0] == answers[1]
    assert counts[0] == counts[1], f"verifications: EC-enrolled {counts[0]}, unknown {counts[1]}"


# ---- refusals before authentication never depend on enrolment ------------------------------------------------------
def test_a_stale_request_is_answered_the_same_for_an_enrolled_and_an_unknown_name(account):
    device, stranger = enrolled(account, "rt-stale"), kit.Device.new("rt-stale-unknown")
    old = int(time.time()) - 3600
    known, unknown = call(account, device.body(timestamp=old)), call(account, stranger.body(timestamp=old))
    assert (known.status, known.body) == (unknown.status, unknown.body) and known.status == 401
