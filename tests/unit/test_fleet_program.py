"""provisioning = fleet,jitr under Pulumi mocks: every region registers the claim without CA with the claim policy
attached, has our certificate provider (aws-native, pinned to the region) and the template with its 5 s hook, the
pack finds 0 violations in both stacks, and the shipped default has none of it."""

import json

import pytest

from builders import fleet
from localcloud.mockrun import run_stack
from pki.claim import issue_claim
from policy.offline import evaluate, format_report
from tests.unit.conftest import PRIMARY_REF


def key(region: str) -> str:
    return f"arn:aws:kms:{region}:123456789012:key/mrk-" + "0" * 32


@pytest.fixture(scope="module")
def fleet_runs(tmp_path_factory):
    import pki

    out = tmp_path_factory.mktemp("pki")
    pki.init_pki(out, "iot.example.com")
    issue_claim(out)
    config = {"pkiDir": str(out), "provisioning": "fleet,jitr"}
    primary = run_stack("eu-west-1", config_overrides={**config, "provisioningSigningKeyArn": key("eu-west-1")})
    secondary = run_stack("us-west-2", config_overrides={**config, "provisioningSigningKeyArn": key("us-west-2")},
                          stack_outputs={PRIMARY_REF: primary.outputs})
    return {"eu-west-1": primary, "us-west-2": secondary, "claim": (out / "claim" / "claim.crt").read_text()}


@pytest.mark.parametrize("region", ["eu-west-1", "us-west-2"])
def test_both_stacks_with_fleet_comply_with_the_pack(fleet_runs, region):
    records = [dict(r.as_policy_dict(), id=r.id) for r in fleet_runs[region].resources]
    violations = evaluate(records)
    assert violations == [], format_report(violations)


@pytest.mark.parametrize("region", ["eu-west-1", "us-west-2"])
def test_the_claim_is_registered_without_ca_with_only_the_claim_policy(fleet_runs, region):
    run = fleet_runs[region]
    (claim,) = run.of_type("aws:iot/certificate:Certificate")
    assert claim.inputs["certificatePem"] == fleet_runs["claim"] and not claim.inputs.get("caPem")
    assert claim.inputs["active"] is True
    policies = {p.inputs["name"]: json.loads(p.inputs["policy"]) for p in run.of_type("aws:iot/policy:Policy")}
    assert policies["multi-region-iot-fleet-claim"] == fleet.claim_policy(region, "123456789012",
                                                                          "multi-region-iot-fleet")
    (attachment,) = run.of_type("aws:iot/policyAttachment:PolicyAttachment")
    assert attachment.inputs["policy"] == "multi-region-iot-fleet-claim"


def test_the_primary_owns_the_accounts_one_certificate_provider(fleet_runs):
    """AWS: "You can only create one certificate provider per AWS account" (developer guide,
    provisioning-cert-provider.html). The primary creates it, with the signer it invokes; no other stack does."""
    run = fleet_runs["eu-west-1"]
    (provider,) = run.of_type("aws-native:iot:CertificateProvider")
    assert provider.inputs["accountDefaultForOperations"] == ["CreateCertificateFromCsr"]
    functions = {f.inputs["name"]: f for f in run.of_type("aws:lambda/function:Function")}
    signer = functions["multi-region-iot-fleet-certificate-provider"]
    assert provider.inputs["lambdaFunctionArn"].endswith("multi-region-iot-fleet-certificate-provider") or \
        provider.inputs["lambdaFunctionArn"] == signer.outputs.get("arn")
    assert signer.inputs["environment"]["variables"]["CA_SIGNING_KEY_ARN"] == key("eu-west-1")
    (native,) = run.of_type("pulumi:providers:aws-native")
    assert native.inputs["region"] == "eu-west-1"
    secondary = fleet_runs["us-west-2"]
    assert secondary.of_type("aws-native:iot:CertificateProvider") == []
    assert "multi-region-iot-fleet-certificate-provider" not in {
        f.inputs["name"] for f in secondary.of_type("aws:lambda/function:Function")}


def test_the_certificate_provider_waits_for_the_check_that_no_other_provider_exists_in_the_account(fleet_runs):
    run = fleet_runs["eu-west-1"]
    (guard,) = [r for r in run.resources if r.type.startswith("pulumi-python:dynamic") and "provider-guard" in r.name]
    assert guard.inputs["regions"] == ["eu-west-1", "us-west-2"] and guard.inputs["ownerRegion"] == "eu-west-1"
    assert guard.inputs["providerName"] == "multi-region-iot-certificate-provider"
    (provider,) = run.of_type("aws-native:iot:CertificateProvider")
    assert guard.urn in provider.dependencies


@pytest.mark.parametrize("region", ["eu-west-1", "us-west-2"])
def test_every_region_has_the_template_with_its_hook(fleet_runs, region):
    run = fleet_runs[region]
    functions = {f.inputs["name"]: f for f in run.of_type("aws:lambda/function:Function")}
    (template,) = run.of_type("aws:iot/provisioningTemplate:ProvisioningTemplate")
    assert template.inputs["type"] == "FLEET_PROVISIONING" and template.inputs["enabled"] is True
    assert json.loads(template.inputs["templateBody"]) == fleet.fleet_template("multi-region-iot-device")
    hook = functions["multi-region-iot-fleet-pre-provisioning-hook"]
    assert int(hook.inputs["timeout"]) == 5
    assert template.inputs["preProvisioningHook"]["payloadVersion"] == "2020-04-01"
    assert run.outputs["fleetTemplateName"] == "multi-region-iot-fleet"


@pytest.mark.parametrize("region", ["eu-west-1", "us-west-2"])
def test_iot_may_invoke_the_hook_for_this_account_as_aws_documents_not_for_a_guessed_source_arn(fleet_runs, region):
    """The pre-provisioning hook page says to include "source-arn or source-account" and does not say which source
    ARN IoT presents when it calls the hook: the permission pins the account (aws:SourceAccount) only."""
    (permission,) = [p for p in fleet_runs[region].of_type("aws:lambda/permission:Permission") if "hook" in p.name]
    assert permission.inputs["principal"] == "iot.amazonaws.com"
    assert permission.inputs["sourceAccount"] == "123456789012"
    assert "sourceArn" not in permission.inputs


def test_the_shipped_default_has_no_fleet_provisioning(primary_run):
    assert not primary_run.of_type("aws:iot/provisioningTemplate:ProvisioningTemplate")
    assert not primary_run.of_type("aws:iot/certificate:Certificate")
    assert "fleetTemplateName" not in primary_run.outputs


def test_fleet_without_the_ca_key_in_kms_names_the_key_to_set(pki_dir):
    with pytest.raises(Exception, match="provisioningSigningKeyArn"):
        run_stack("eu-west-1", config_overrides={"pkiDir": str(pki_dir), "provisioning": "fleet"})


def test_fleet_without_a_claim_says_to_issue_one(tmp_path):
    import pki

    pki.init_pki(tmp_path, "iot.example.com")
    with pytest.raises(Exception, match="issue-claim"):
        run_stack("eu-west-1", config_overrides={"pkiDir": str(tmp_path), "provisioning": "fleet",
                                                 "provisioningSigningKeyArn": key("eu-west-1")})
