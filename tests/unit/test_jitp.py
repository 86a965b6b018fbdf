"""provisioning = jitp: the CA carries the JITP template and our provisioning role in every region, no JITR rule
listens to its registrations, and a recorder (no Lambda) claims each provisioned device's thing name."""

import json

import pytest

from builders import provisioning
from builders.asl import common, provisioned
from contract import items
from localcloud.mockrun import run_stack

PRIMARY_REF = "organization/multi-region-iot/eu-west-1"


@pytest.fixture(scope="module")
def jitp_runs(pki_dir):
    config = {"pkiDir": str(pki_dir), "provisioning": "jitp"}
    primary = run_stack("eu-west-1", config_overrides=config)
    secondary = run_stack("us-west-2", config_overrides=config, stack_outputs={PRIMARY_REF: primary.outputs})
    return {"eu-west-1": primary, "us-west-2": secondary}


def _ca(run):
    (ca,) = run.of_type("aws:iot/caCertificate:CaCertificate")
    return ca


@pytest.mark.parametrize("region", ["eu-west-1", "us-west-2"])
def test_every_region_registers_the_ca_with_the_jitp_template_and_our_role(jitp_runs, region):
    run = jitp_runs[region]
    config = _ca(run).inputs["registrationConfig"]
    assert json.loads(config["templateBody"]) == provisioning.jitp_template("multi-region-iot-device")
    roles = [r for r in run.of_type("aws:iam/role:Role") if "provisioning" in r.name]
    assert len(roles) == 1
    assert config["roleArn"].endswith(roles[0].outputs["name"]) or roles[0].name in config["roleArn"]
    trust = json.loads(roles[0].inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "iot.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"]


@pytest.mark.parametrize("region", ["eu-west-1", "us-west-2"])
def test_no_jitr_rule_listens_only_the_recorder_rule(jitp_runs, region):
    rules = {r.inputs["name"] for r in jitp_runs[region].of_type("aws:iot/topicRule:TopicRule")}
    assert "multi_region_iot_jitp" in rules
    assert "multi_region_iot_jitr" not in rules
    assert jitp_runs[region].outputs["jitpRecorderStateMachineArn"]


def test_jitr_default_has_no_template_no_provisioning_role_no_recorder(primary_run):
    assert not _ca(primary_run).inputs.get("registrationConfig")
    assert not [r for r in primary_run.of_type("aws:iam/role:Role") if "provisioning" in r.name]
    assert "jitpRecorderStateMachineArn" not in primary_run.outputs


def test_the_jitp_template_names_the_thing_after_the_cn_records_its_owner_and_activates():
    template = provisioning.jitp_template("p")
    thing = template["Resources"]["thing"]
    assert thing["Properties"]["ThingName"] == {"Ref": "AWS::IoT::Certificate::CommonName"}
    assert thing["Properties"]["AttributePayload"] == {"certificateId": {"Ref": "AWS::IoT::Certificate::Id"}}
    assert thing["OverrideSettings"]["AttributePayload"] == "DO_NOTHING"  # another owner's thing keeps its owner
    assert template["Resources"]["certificate"]["Properties"] == {
        "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}
    assert template["Resources"]["policy"]["Properties"] == {"PolicyName": "p"}


def test_the_provisioning_role_names_only_iot_resources_of_its_region_and_the_device_policy():
    document = provisioning.provisioning_role_policy("eu-west-1", "123456789012", "app-device")
    for stmt in document["Statement"]:
        assert all(not a.endswith("*") for a in stmt["Action"])
        for resource in stmt["Resource"]:
            assert resource.startswith("arn:aws:iot:eu-west-1:123456789012:"), resource
    policy_resources = {r for s in document["Statement"] if "iot:AttachPolicy" in s["Action"] for r in s["Resource"]}
    assert "arn:aws:iot:eu-west-1:123456789012:policy/app-device" in policy_resources
    assert not any(r.endswith("policy/*") for r in policy_resources)


def test_the_recorder_claims_with_the_inspectors_write_and_calls_no_lambda():
    definition = provisioned.definition(inventory_table="t", event_bus_name="b", source="s")
    claim_state = definition["States"][provisioned.CLAIM]["Parameters"]
    assert claim_state["UpdateExpression"] == items.CLAIM_EXPRESSION
    assert claim_state["ConditionExpression"] == items.CLAIM_CONDITIONS["NEW"]
    assert not any(a.startswith("lambda:") for a in common.sdk_actions(definition))
