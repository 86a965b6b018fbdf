"""Reserved thing names (``canary-``, contract/names.py): one rule, refused at every way in of the Lambdas.

Every entry is tested twice: with the canary's own name (and a look-alike differing in case), and with a prefix added
to the shared rule only, which each entry must then refuse too (so none keeps a copy of its own). The CLIs' entries
(pki, ops allow-list) are run as a user would in tests/cli/test_reserved_names_at_the_clis.py.
"""
import time

import pytest

from components import lambda_package
from contract import names as reserved_names
from functions.certificate_inspector import inspector
from functions.fleet_provisioning import certificate_provider, hook
from functions.provisioning_api import request
from tests.provisioning import kit
from tests.provisioning.test_fleet_functions import _certificate, _event, _settings
from tests.unit import lambda_layout
from localcloud.statemachines.certs import TestCA

ADDED = "reserved-for-test-"
NAMES = ["canary-eu-west-1", "Canary-us-west-2", "CANARY-x", f"{ADDED}1"]


@pytest.fixture(autouse=True)
def one_more_prefix(monkeypatch):
    """A prefix the shared rule gains for the test: an entry refuses it only if it asks the shared rule."""
    monkeypatch.setitem(reserved_names.RESERVED_PREFIXES, ADDED, "a test")


def test_the_rule_names_the_owner_and_the_fix_and_admits_ordinary_names():
    why = reserved_names.refusal("canary-eu-west-1")
    assert "reserved for the regions' canaries" in why and "does not start with 'canary-'" in why
    for name in ("sensor-0001", "canar-y", "my-canary-1", "", None, 7):
        assert reserved_names.refusal(name) is None
    assert reserved_names.is_canary_name("canary-eu-west-1") and reserved_names.is_canary_name("canary-us-gov-west-1")
    for name in ("canary-0001", "canary-eu-west-1x", "Canary-eu-west-1", "canary-eu-west-1\n"):
        assert not reserved_names.is_canary_name(name)


def test_the_builders_canary_name_is_the_rules_prefix():
    from builders import canary

    assert canary.thing_name("eu-west-1").startswith(reserved_names.CANARY_PREFIX)
    assert reserved_names.CANARY_PREFIX in reserved_names.RESERVED_PREFIXES
    assert reserved_names.is_canary_name(canary.thing_name("ap-southeast-2"))


@pytest.mark.parametrize("name", NAMES)
def test_the_inspector_refuses_a_reserved_cn(name):
    device = TestCA().device(name)
    from cryptography import x509

    with pytest.raises(inspector.InvalidThingName, match="reserved"):
        inspector.thing_name_of(x509.load_pem_x509_certificate(device.pem.encode()))


@pytest.mark.parametrize("name", NAMES)
def test_the_provisioning_api_refuses_a_reserved_thing_name(name):
    body = {"thingName": name, "timestamp": int(time.time()), "nonce": "n" * 32, "signature": "c2ln"}
    with pytest.raises(request.BadRequest, match="reserved"):
        request.parse_body(body, "203.0.113.7")


@pytest.mark.parametrize("name", NAMES)
def test_the_fleet_certificate_provider_signs_no_csr_for_a_reserved_name(account, name):
    with pytest.raises(certificate_provider.CertificateRequestRefused, match="reserved"):
        _certificate(account, kit.Device.new(name))


@pytest.mark.parametrize("name", NAMES)
def test_the_fleet_hook_refuses_a_reserved_serial_even_when_it_is_on_the_allow_list(account, name):
    """Enrolled behind the rule's back (an allow-list written before the rule) and certified: still refused, and
    the allow-list entry and the inventory are left as they were."""
    device = kit.Device.new(name)
    kit.enrol(account.tables["allow"], device)
    pem = certificate_provider.issuer.issue(account.signer, name, device.tls_key.public_key())
    assert hook.decide(_event(device, pem), account.dynamodb, _settings(account)) == {"allowProvisioning": False}
    assert account.entry(name)["Status"] == "unprovisioned"
    assert "Item" not in account.dynamodb.get_item(TableName=account.tables["inventory"],
                                                   Key={"ThingName": {"S": name}})


def test_the_lambdas_import_the_one_rule_from_the_zip_root(tmp_path):
    """In the Lambda zip ``functions/`` is the root with ``contract/`` beside the function folders
    (components/lambda_package.py): each entry's module imports the one rule from there, with nothing of the
    repository on the path, and refuses a reserved name."""
    for name, path in lambda_package.code_files(lambda_layout.FUNCTIONS):  # the archive's files of ours, no wheels
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(path.read_bytes())
    code = ("request = loaded['provisioning_api.request']\n"
            "try:\n"
            "    request.parse_body({'thingName': 'canary-eu-west-1'}, '203.0.113.7')\n"
            "except request.BadRequest as error:\n"
            "    print(error)\n")
    found = lambda_layout.run(tmp_path, ["certificate_inspector.handler", "provisioning_api.handler",
                                         "fleet_provisioning.hook", "fleet_provisioning.certificate_provider",
                                         "provisioning_api.request"], code)
    assert found["strays"] == [] and not found["functions"] and found["contract"].startswith(str(tmp_path))
    assert "reserved for the regions' canaries" in found["stdout"]
