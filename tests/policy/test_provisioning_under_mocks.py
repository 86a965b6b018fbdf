"""The pack over the program with provisioning = jitp: the provisioning role, the recorder and its rule comply in
both stacks. The provisioning role carries AWSIoTThingsRegistration, which AWS's JITP and fleet provisioning guides
say it "must" have, through the pack's one narrow exception: that policy, attached to a role of the stack that only
iot.amazonaws.com may assume (iam-service-role-managed-policies); anything else stays refused."""

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


THINGS_REGISTRATION = "arn:aws:iam::aws:policy/service-role/AWSIoTThingsRegistration"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


def _provisioning(resources, type_):
    return [r for r in resources if r["type"] == type_ and "provisioning" in r["name"]]


def test_the_provisioning_role_has_the_managed_policy_aws_says_it_must_have_and_only_iot_may_assume_it(records):
    resources = records["eu-west-1"]
    (role,) = _provisioning(resources, "aws:iam/role:Role")
    (attachment,) = _provisioning(resources, ATTACHMENT)
    assert attachment["props"] == {"role": role["id"], "policyArn": THINGS_REGISTRATION}
    (trust,) = json.loads(role["props"]["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "iot.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    assert _provisioning(resources, "aws:iam/rolePolicy:RolePolicy") == []  # the managed policy covers the template


def _with(resources, extra):
    return [dict(r) for r in resources] + extra


def _violations(resources, policy):
    return [v for v in evaluate(resources) if v.policy_name == policy]


def test_the_exception_holds_only_for_a_role_only_iot_may_assume(records):
    resources = records["eu-west-1"]
    (lambda_role,) = [r for r in resources if r["type"] == "aws:iam/role:Role" and "pacer" in r["name"]]
    stray = {"type": ATTACHMENT, "name": "stray", "urn": "urn:pulumi:x::y::aws:iam/rolePolicyAttachment:Rol"
             "ePolicyAttachment::stray", "props": {"role": lambda_role["id"], "policyArn": THINGS_REGISTRATION}}
    (violation,) = _violations(_with(resources, [stray]), "iam-service-role-managed-policies")
    assert "iot.amazonaws.com" in violation.message and "stray" in violation.message


def test_the_exception_does_not_reach_a_role_outside_the_stack_or_other_managed_policies(records):
    resources = records["eu-west-1"]
    (role,) = _provisioning(resources, "aws:iam/role:Role")
    outside = {"type": ATTACHMENT, "name": "outside", "props": {"role": "someone-elses-role",
                                                                "policyArn": THINGS_REGISTRATION}}
    assert _violations(_with(resources, [outside]), "iam-service-role-managed-policies")
    admin = {"type": ATTACHMENT, "name": "admin", "props": {
        "role": role["id"], "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}}
    assert _violations(_with(resources, [admin]), "iam-no-aws-managed-policies")


def test_the_managed_policy_through_the_roles_own_managed_policy_arns_is_still_refused(records):
    resources = [dict(r) for r in records["eu-west-1"]]
    for index, resource in enumerate(resources):
        if resource["type"] == "aws:iam/role:Role" and "provisioning" in resource["name"]:
            resources[index] = {**resource, "props": {**resource["props"], "managedPolicyArns": [THINGS_REGISTRATION]}}
    assert _violations(resources, "iam-no-aws-managed-policies")
