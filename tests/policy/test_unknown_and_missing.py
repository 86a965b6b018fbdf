"""Absent and unknown properties never crash a rule; unknown values are not judged.

During preview an input computed from another resource's output is unknown: the engine sends a
sentinel string and the SDK's proxy raises UnknownValueError when it is read. Rules read props
through ``policy.rules.common.get`` so they neither crash nor report what they can not know.
"""

from __future__ import annotations

import json

import pytest
from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.proxy import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
)

from policy.rules import types as t
from policy_harness import POLICIES, allow, run_resource, run_stack, stack_resource

ALL_TYPES = sorted({
    t.IOT_DOMAIN_CONFIGURATION, t.IOT_POLICY, t.IOT_TOPIC_RULE, t.IAM_ROLE, *t.IAM_POLICY_DOCUMENT_TYPES,
    *t.IAM_ATTACHMENT_TYPES, *t.S3_BUCKET_TYPES, t.S3_PUBLIC_ACCESS_BLOCK, t.S3_BUCKET_POLICY,
    *t.S3_SSE_CONFIGURATION_TYPES, t.DYNAMODB_TABLE, t.LOG_GROUP, t.SFN_STATE_MACHINE, t.LAMBDA_FUNCTION, t.SQS_QUEUE,
    *t.IAM_EXCLUSIVE_ATTACHMENT_TYPES, t.IOT_PROVISIONING_TEMPLATE, t.IOT_ROLE_ALIAS, *t.RESOURCE_POLICY_PROPERTIES,
    t.LAMBDA_PERMISSION,
})
RESOURCE_POLICIES = sorted(n for n, p in POLICIES.items() if isinstance(p, ResourceValidationPolicy))
STACK_POLICIES = sorted(n for n, p in POLICIES.items() if isinstance(p, StackValidationPolicy))


@pytest.mark.parametrize("policy", RESOURCE_POLICIES)
def test_empty_props_never_crash(policy: str) -> None:
    for resource_type in ALL_TYPES:
        messages = run_resource(policy, resource_type, {})
        assert all(isinstance(m, str) and m for m in messages)


@pytest.mark.parametrize("policy", RESOURCE_POLICIES)
def test_wrongly_shaped_props_never_crash(policy: str) -> None:
    odd = {"tlsConfig": "x", "policy": 42, "assumeRolePolicy": ["x"], "inlinePolicies": "x",
           "managedPolicyArns": 7, "pointInTimeRecovery": [], "replicas": {"a": 1}, "serverSideEncryption": "x",
           "retentionInDays": "x", "loggingConfiguration": 3, "type": 4, "errorAction": None, "policyArn": None}
    for resource_type in ALL_TYPES:
        run_resource(policy, resource_type, odd)


UNKNOWN_CASES = [
    ("iot-domain-tls13", t.IOT_DOMAIN_CONFIGURATION, {"tlsConfig": UNKNOWN_OBJECT_VALUE}),
    ("iot-domain-tls13", t.IOT_DOMAIN_CONFIGURATION, {"tlsConfig": {"securityPolicy": UNKNOWN_STRING_VALUE}}),
    ("iot-policy-no-wildcard-actions", t.IOT_POLICY, {"policy": UNKNOWN_STRING_VALUE}),
    ("iot-policy-device-scoped", t.IOT_POLICY, {"policy": UNKNOWN_STRING_VALUE}),
    ("iot-topic-rule-error-action", t.IOT_TOPIC_RULE, {"errorAction": UNKNOWN_OBJECT_VALUE}),
    ("iot-topic-rule-sql-lookups", t.IOT_TOPIC_RULE, {"sql": UNKNOWN_STRING_VALUE, "sqlVersion": "2015-10-08"}),
    ("iam-no-wildcard-actions", t.IAM_ROLE_POLICY, {"policy": UNKNOWN_STRING_VALUE}),
    ("iam-wildcard-resource-only-when-required", t.IAM_POLICY, {"policy": UNKNOWN_STRING_VALUE}),
    ("iam-passrole-named-roles", t.IAM_ROLE_POLICY, {"policy": UNKNOWN_STRING_VALUE}),
    ("iam-trust-service-principals", t.IAM_ROLE, {"assumeRolePolicy": UNKNOWN_STRING_VALUE}),
    ("iam-trust-service-principals", t.IAM_ROLE, {"assumeRolePolicy": {"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": UNKNOWN_STRING_VALUE}, "Action": "sts:AssumeRole"}]}}),
    ("iam-no-wildcard-actions", t.IAM_ROLE, {"inlinePolicies": UNKNOWN_ARRAY_VALUE}),
    ("iam-no-aws-managed-policies", t.IAM_ROLE_POLICY_ATTACHMENT, {"policyArn": UNKNOWN_STRING_VALUE}),
    ("iam-no-aws-managed-policies", t.IAM_ROLE, {"managedPolicyArns": UNKNOWN_ARRAY_VALUE}),
    ("dynamodb-point-in-time-recovery", t.DYNAMODB_TABLE,
     {"pointInTimeRecovery": {"enabled": UNKNOWN_BOOLEAN_VALUE}, "replicas": UNKNOWN_ARRAY_VALUE}),
    ("dynamodb-server-side-encryption", t.DYNAMODB_TABLE, {"serverSideEncryption": UNKNOWN_OBJECT_VALUE}),
    ("log-group-retention", t.LOG_GROUP, {"retentionInDays": UNKNOWN_NUMBER_VALUE}),
    ("sqs-queue-encrypted", t.SQS_QUEUE, {"sqsManagedSseEnabled": UNKNOWN_BOOLEAN_VALUE}),
    ("sqs-queue-encrypted", t.SQS_QUEUE, {"kmsMasterKeyId": UNKNOWN_STRING_VALUE}),
    ("sfn-logging-enabled", t.SFN_STATE_MACHINE, {"loggingConfiguration": UNKNOWN_OBJECT_VALUE}),
    ("sfn-logging-enabled", t.SFN_STATE_MACHINE,
     {"loggingConfiguration": {"level": "ALL", "logDestination": UNKNOWN_STRING_VALUE}}),
    ("iot-policy-no-wildcard-actions", t.IOT_PROVISIONING_TEMPLATE, {"templateBody": UNKNOWN_STRING_VALUE}),
    ("iam-no-aws-managed-policies", t.IAM_ROLE_POLICY_ATTACHMENTS_EXCLUSIVE, {"policyArns": UNKNOWN_ARRAY_VALUE}),
    ("resource-policy-principals", "aws:sqs/queuePolicy:QueuePolicy", {"policy": UNKNOWN_STRING_VALUE}),
    ("resource-policy-principals", t.LAMBDA_PERMISSION, {"principal": UNKNOWN_STRING_VALUE}),
    ("resource-policy-principals", t.LAMBDA_PERMISSION,
     {"principal": "iot.amazonaws.com", "sourceArn": UNKNOWN_STRING_VALUE}),
    ("iam-trust-service-principals", t.IAM_ROLE, {"assumeRolePolicy": {"Statement": [
        {"Effect": "Allow", "Principal": {"Service": "iot.amazonaws.com"}, "Action": "sts:AssumeRole",
         "Condition": {"StringEquals": {"aws:SourceAccount": UNKNOWN_STRING_VALUE}}}]}}),
]


@pytest.mark.parametrize("policy,resource_type,props", UNKNOWN_CASES,
                         ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(UNKNOWN_CASES)])
def test_unknown_values_are_not_judged(policy: str, resource_type: str, props: dict) -> None:
    assert run_resource(policy, resource_type, props) == []


def test_unknown_arns_inside_a_known_document_count_as_named_resources() -> None:
    # Output-valued ARNs inside a document built as a dict arrive as sentinels: not wildcards.
    props = {"policy": {"Version": "2012-10-17", "Statement": [
        allow("iam:PassRole", UNKNOWN_STRING_VALUE), allow("iot:CreateThing", [UNKNOWN_STRING_VALUE])]}}
    for name in ("iam-passrole-named-roles", "iam-wildcard-resource-only-when-required", "iam-no-wildcard-actions"):
        assert run_resource(name, t.IAM_ROLE_POLICY, props) == []


def test_known_parts_of_a_partly_unknown_document_are_still_judged() -> None:
    props = {"policy": {"Statement": [allow("iot:*", UNKNOWN_STRING_VALUE)]}}
    assert run_resource("iam-no-wildcard-actions", t.IAM_ROLE_POLICY, props) == [
        'Statement 0 allows every iot action ("iot:*"); list the exact iot actions the role needs.']


def test_json_document_with_an_embedded_sentinel_is_unknown() -> None:
    text = json.dumps({"Statement": [allow("*", UNKNOWN_STRING_VALUE)]})
    assert run_resource("iam-no-wildcard-actions", t.IAM_ROLE_POLICY, {"policy": text}) == []


@pytest.mark.parametrize("policy", STACK_POLICIES)
def test_stack_rules_survive_empty_and_unknown_props(policy: str) -> None:
    resources = [stack_resource(rt, f"r{i}", {}) for i, rt in enumerate(ALL_TYPES)]
    resources += [stack_resource(rt, f"u{i}", {"bucket": UNKNOWN_STRING_VALUE, "name": UNKNOWN_STRING_VALUE,
                                               "policy": UNKNOWN_STRING_VALUE, "rules": UNKNOWN_ARRAY_VALUE,
                                               "loggingConfig": UNKNOWN_OBJECT_VALUE})
                  for i, rt in enumerate(ALL_TYPES)]
    for message, urn in run_stack(policy, resources):
        assert message and urn


def test_companion_with_unknown_bucket_and_no_dependency_leaves_bucket_undetermined() -> None:
    bucket = stack_resource(t.S3_BUCKET, "store", {"bucket": "store-1"})
    block = stack_resource(t.S3_PUBLIC_ACCESS_BLOCK, "pab", {"bucket": UNKNOWN_STRING_VALUE})
    assert run_stack("s3-bucket-public-access-blocked", [bucket, block]) == []
    assert len(run_stack("s3-bucket-public-access-blocked", [bucket])) == 1


def test_log_group_with_unknown_name_leaves_function_undetermined() -> None:
    function = stack_resource(t.LAMBDA_FUNCTION, "fn", {"name": "fn-1"})
    group = stack_resource(t.LOG_GROUP, "logs", {"name": UNKNOWN_STRING_VALUE, "retentionInDays": 30})
    assert run_stack("lambda-log-group-retention", [function, group]) == []
    group.property_dependencies = {"name": [function]}
    assert run_stack("lambda-log-group-retention", [function, group]) == []
    assert len(run_stack("lambda-log-group-retention", [function])) == 1
