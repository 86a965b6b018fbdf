"""`python -m localcloud preview`: the real program, offline, through the policy pack."""

import io

import pytest

from localcloud import preview as preview_module
from localcloud.preview import EXIT_ERROR, EXIT_OK, EXIT_VIOLATION, preview


@pytest.fixture(autouse=True)
def isolated_state(tmp_path, monkeypatch):
    monkeypatch.setattr(preview_module, "PREVIEWS", tmp_path / "previews")
    monkeypatch.setattr(preview_module, "GENERATED_PKI", tmp_path / "pki")


def run(stack, **kwargs):
    out = io.StringIO()
    code = preview(stack, out=out, **kwargs)
    return code, out.getvalue()


@pytest.mark.parametrize("stack", ["eu-west-1", "us-west-2"])
def test_shipped_stacks_pass_the_pack_with_zero_violations(stack, pki_dir):
    code, text = run(stack, policy_pack="policy", pki_dir=pki_dir)
    assert code == EXIT_OK, text
    assert "✅ multi-region-iot-policies" in text and "[mandatory]" not in text and "[advisory]" not in text
    assert "aws:iot/domainConfiguration:DomainConfiguration" in text  # the plan is printed


def test_secondary_preview_previews_the_primary_first(pki_dir):
    code, text = run("us-west-2", pki_dir=pki_dir)
    assert code == EXIT_OK
    assert "previewing eu-west-1 first" in text
    assert (preview_module.PREVIEWS / "eu-west-1.json").exists()


def test_a_tls12_policy_through_config_is_a_mandatory_violation(pki_dir):
    code, text = run("eu-west-1", policy_pack="policy", pki_dir=pki_dir,
                     config_overrides={"tlsSecurityPolicy": "IoTSecurityPolicy_TLS13_1_2_2022_10"})
    assert code == EXIT_VIOLATION
    assert "❌ multi-region-iot-policies" in text
    assert ("[mandatory]  iot-domain-tls13  (aws:iot/domainConfiguration:DomainConfiguration: "
            "eu-west-1-endpoint-domain-configuration)") in text
    assert '"IoTSecurityPolicy_TLS13_1_2_2022_10", which is not in the allowed list' in text


def test_bad_config_is_an_error_not_a_plan(pki_dir):
    code, text = run("eu-west-1", policy_pack="policy", pki_dir=pki_dir, config_overrides={"hostedZoneId": None})
    assert code == EXIT_ERROR
    assert text.startswith("error: hostedZoneId is not set")


def test_unknown_stack_names_the_missing_file(pki_dir):
    code, text = run("ap-south-1", pki_dir=pki_dir)
    assert code == EXIT_ERROR and "no stack file Pulumi.ap-south-1.yaml" in text


def test_without_a_pki_folder_a_generated_one_is_used():
    code, text = run("eu-west-1", policy_pack="policy", config_overrides={"pkiDir": "/nonexistent"})
    assert code == EXIT_OK, text
    assert "planning with a generated one" in text


# --- issue 11: preview errors ------------------------------------------------------------------------------

def test_a_bad_domain_without_a_pki_folder_is_a_config_error_naming_the_key():
    code, text = run("eu-west-1", config_overrides={"pkiDir": "/nonexistent", "domainName": "not a domain"})
    assert code == EXIT_ERROR
    assert text.startswith("error: domainName = 'not a domain' is not a hostname"), text


def test_a_generated_pki_made_for_another_domain_is_refused_not_replaced():
    assert run("eu-west-1", config_overrides={"pkiDir": "/nonexistent"})[0] == EXIT_OK
    root = (preview_module.GENERATED_PKI / "root-ca.crt").read_bytes()
    code, text = run("eu-west-1", config_overrides={"pkiDir": "/nonexistent", "domainName": "iot.other.example"})
    assert code == EXIT_ERROR
    assert "was made for iot.example.com, not iot.other.example" in text
    assert "python -m pki issue-server iot.other.example" in text and "rm -rf" in text
    assert (preview_module.GENERATED_PKI / "root-ca.crt").read_bytes() == root  # the CA is untouched


@pytest.mark.parametrize("reference, message", [
    ("organization/multi-region-iot/ap-south-1", "names stack ap-south-1, which does not exist"),
    ("organization/multi-region-iot/us-west-2", "names a secondary stack"),
])
def test_a_primary_stack_that_is_no_primary_of_this_project_says_what_was_expected(pki_dir, reference, message):
    code, text = run("us-west-2", pki_dir=pki_dir, config_overrides={"primaryStack": reference})
    assert code == EXIT_ERROR
    assert message in text and "expected org/multi-region-iot/<stack> naming this project's primary stack (eu-west-1)" in text


def test_a_primary_stack_of_another_project_is_refused(pki_dir):
    code, text = run("us-west-2", pki_dir=pki_dir, config_overrides={"primaryStack": "organization/other/eu-west-1"})
    assert code == EXIT_ERROR and "names a stack of project 'other'" in text
