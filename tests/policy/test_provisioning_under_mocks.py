"""The pack over the program with provisioning = jitp: the provisioning role, the recorder and its rule comply in
both stacks, and the provisioning role is our inline policy, never an AWS managed one."""

from __future__ import annotations

import json

import pytest

import pki
from localcloud.mockrun import run_stack
from policy.offline import evaluate, format_report

PRIMARY_REF = "organization/multi-region-iot/eu-west-1"


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> dict[str, list[dict]]:
    out = tmp_path_factory.mktemp("pki")
    pki.init_pki(out, "iot.example.com")
    config = {"pkiDir": str(out), "provisioning": "jitp"}
    primary = run_stack("eu-west-1", config_overrides=config)
    secondary = run_stack("us-west-2", config_overrides=config, stack_outputs={PRIMARY_REF: primary.outputs})
    return {run.stack: [dict(r.as_policy_dict(), id=r.id) for r in run.resources] for run in (primary, secondary)}


@pytest.mark.parametrize("stack", ["eu-west-1", "us-west-2"])
def test_jitp_stacks_comply_with_the_pack(records, stack: str) -> None:
    violations = evaluate(records[stack])
    assert violations == [], format_report(violations)


def test_the_provisioning_role_is_covered_and_has_only_our_inline_policy(records) -> None:
    resources = records["eu-west-1"]
    roles = [r for r in resources if r["type"] == "aws:iam/role:Role" and "provisioning" in r["name"]]
    assert len(roles) == 1 and not roles[0]["props"].get("managedPolicyArns")
    policies = [r for r in resources if r["type"] == "aws:iam/rolePolicy:RolePolicy" and "provisioning" in r["name"]]
    assert len(policies) == 1
    document = json.loads(policies[0]["props"]["policy"])
    assert {a for s in document["Statement"] for a in s["Action"]} >= {"iot:CreateThing", "iot:AttachPolicy"}


def test_a_managed_policy_on_the_provisioning_role_is_refused(records) -> None:
    resources = [dict(r) for r in records["eu-west-1"]]
    for index, resource in enumerate(resources):
        if resource["type"] == "aws:iam/role:Role" and "provisioning" in resource["name"]:
            resources[index] = {**resource, "props": {**resource["props"], "managedPolicyArns": [
                "arn:aws:iam::aws:policy/service-role/AWSIoTThingsRegistration"]}}
    assert any(v.policy_name == "iam-no-aws-managed-policies" for v in evaluate(resources))
