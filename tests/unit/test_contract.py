"""The contract package (contract/): one place per fact, pure, and what it promises is kept by both sides.

- it imports the standard library only, and nothing of the repository (it ships in every Lambda zip);
- no module of builders/, components/ or ops/ imports from functions/ (what they share with the Lambdas is here);
- the thing-name and application patterns are written once, in contract/names.py;
- every error name the state machines match is an exception class of the function that raises it;
- the application rule is the one the program's names are proven for, and ops applies exactly it.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import sys
from pathlib import Path

import pytest

from contract import errors, fleet, names, proofs

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "contract"
#: The product's code (what the patterns must not be restated in): everything but the tests and build output.
PRODUCT = ("builders", "components", "contract", "device", "functions", "localcloud", "ops", "pki", "policy", "quotas",
           "scripts")


def _python(*folders: str) -> list[Path]:
    return [p for folder in folders for p in sorted((ROOT / folder).rglob("*.py")) if "__pycache__" not in p.parts]


def _imports(path: Path) -> list[tuple[str, int]]:
    """(module, level) of every import in ``path``, lazy ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


def test_the_contract_imports_the_standard_library_only():
    for path in _python("contract"):
        for module, level in _imports(path):
            top = module.split(".")[0]
            assert level == 1 or top in sys.stdlib_module_names or top == "__future__", (
                f"{path.relative_to(ROOT)} imports {module!r}: the contract is the standard library only")


@pytest.mark.parametrize("folder", ["builders", "components", "ops"])
def test_no_module_of_the_program_or_ops_imports_from_functions(folder):
    offenders = [f"{p.relative_to(ROOT)}: {m}" for p in _python(folder) for m, level in _imports(p)
                 if level == 0 and (m == "functions" or m.startswith("functions."))]
    assert offenders == []


def _pattern_strings(path: Path) -> list[str]:
    """The string constants of ``path`` that look like regular expressions (no whitespace), f-string parts too."""
    return [node.value for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value
            and not any(c.isspace() for c in node.value)]


@pytest.mark.parametrize("shape", ["a-zA-Z0-9:_-", "[a-z][a-z0-9-]", "[a-z0-9][a-z0-9-]"])
def test_the_thing_name_and_application_patterns_are_written_once(shape):
    where = sorted({str(p.relative_to(ROOT)) for p in _python(*PRODUCT) for s in _pattern_strings(p) if shape in s})
    assert where == (["contract/names.py"] if shape != "[a-z0-9][a-z0-9-]" else [])


def test_the_thing_name_rule_is_aws_iots():
    assert names.is_thing_name("a") and names.is_thing_name("Sensor_01:x-" + "y" * 116)
    for bad in ("", "a" * 129, "a b", "a/b", "a\n", "é", None, 7):
        assert not names.is_thing_name(bad)
    assert names.bad_thing_name_characters("a b/c b") == [" ", "/"]


@pytest.mark.parametrize("module, names_", sorted(errors.INSPECTOR.items()))
def test_each_error_the_jitr_machine_matches_is_a_class_the_inspector_raises(module, names_):
    source = importlib.import_module(f"functions.certificate_inspector.{module}")
    for name in names_:
        assert isinstance(getattr(source, name, None), type) and issubclass(getattr(source, name), Exception), (
            f"{module}.{name}: Step Functions matches the exception's class name")


def test_the_pacers_contention_is_a_class_it_raises():
    from functions.pacer import pacing

    assert issubclass(getattr(pacing, errors.PACING_CONTENTION), Exception)


def test_the_jitr_machine_catches_the_contracts_error_names():
    from builders.asl import jitr

    caught = {e for state in jitr.definition(inspector_function_arn="arn:aws:lambda:eu-west-1:1:function:f",
                                              inventory_table="t", device_policy_name="p", event_bus_name="b",
                                              source="s", lease_table="l")["States"].values()
              for catcher in state.get("Catch", []) for e in catcher["ErrorEquals"]}
    assert {errors.REGISTRATION_IN_PROGRESS, errors.INVALID_JITR_EVENT, errors.THING_NAME_CLAIMED,
            *errors.REJECTED} <= caught


def test_the_impostor_error_s_message_is_the_claim_the_jitr_machine_reads_back():
    """The JITR machine's impostor route has no inspector result: it parses the thing name out of the error's message
    (builders/asl/jitr.py). A message that is not this JSON object would fail the execution (States.Runtime)."""
    import json

    from builders.asl import jitr
    from functions.certificate_inspector import inspector

    with pytest.raises(inspector.ThingNameClaimedByAnotherCertificate) as raised:
        inspector.verdict_for({"CertificateId": {"S": "b" * 64}, "Status": {"S": "ACTIVE"}}, "a" * 64, "meter-1")
    claim = json.loads(str(raised.value))
    assert tuple(claim) == errors.IMPOSTOR_CLAIM_FIELDS
    assert (claim["ThingName"], claim["CertificateId"], claim["OwnerCertificateId"]) == ("meter-1", "a" * 64, "b" * 64)
    machine = jitr.definition(inspector_function_arn="arn:aws:lambda:eu-west-1:1:function:f", inventory_table="t",
                              device_policy_name="p", event_bus_name="b", source="s")["States"]
    assert machine[jitr.READ_CLAIM]["Parameters"] == {"Device.$": "States.StringToJson($.Claim.Lambda.errorMessage)"}
    assert machine[jitr.RECHECK]["Parameters"]["Key"]["ThingName"] == {"S.$": "$.Device.ThingName"}


def test_ops_accepts_exactly_the_applications_the_program_accepts():
    from ops import cli

    for application in ("multi-region-iot", "abc", "a" * 32, "a1-b"):
        assert names.application_refusal(application) is None and cli._application(application) == application
    for application in ("ab", "a" * 33, "1abc", "abc-", "Abc", "a_bc", "xn--abc", "sthree-x", ""):
        assert names.application_refusal(application)
        with pytest.raises(argparse.ArgumentTypeError, match="is not an application name"):
            cli._application(application)
    with pytest.raises(ValueError, match="must be 3-32 lower-case letters"):
        names.check_application("1abc")


def test_the_two_signed_messages_are_the_documented_wire_formats():
    assert proofs.request_message("t", 5, "n" * 16, None) == b"iotmr-provision-v1\nt\n5\n" + b"n" * 16 + b"\n-"
    assert proofs.fleet_message("t", 5, "n" * 16, "d") == b"iotmr-fleet-csr-v1\nt\n5\n" + b"n" * 16 + b"\nd"
    value = proofs.encode_fleet_proof(5, "n" * 16, b"\x01" * 40)
    assert value.startswith("v1.5." + "n" * 16 + ".") and proofs.parse_fleet_proof(value) == (5, "n" * 16, b"\x01" * 40)
    with pytest.raises(ValueError, match="not an enrolment proof"):
        proofs.parse_fleet_proof("v2." + value[3:])


def test_the_fleet_mark_is_read_from_a_certificate():
    from cryptography import x509

    from functions.fleet_provisioning import proof
    from localcloud.statemachines.certs import TestCA

    ca = TestCA()
    plain = x509.load_pem_x509_certificate(ca.device("sensor-1").pem.encode())
    assert not fleet.is_fleet_issued(plain)
    assert proof.FLEET_POLICY_OID.dotted_string == fleet.FLEET_POLICY_OID
