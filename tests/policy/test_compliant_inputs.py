"""Every policy accepts a compliant resource, including the documents our builders produce."""

from __future__ import annotations

import json

import pytest

from policy_harness import (
    ACCOUNT,
    POLICIES,
    REGION,
    allow,
    doc,
    iot_arn,
    run_resource,
    run_stack,
    stack_resource,
)
from pulumi_policy import ResourceValidationPolicy

RESOURCE_POLICIES = sorted(n for n, p in POLICIES.items() if isinstance(p, ResourceValidationPolicy))
IAM_POLICIES = [n for n in RESOURCE_POLICIES if n.startswith("iam-")]
IOT_POLICY_RULES = [n for n in RESOURCE_POLICIES if n.startswith("iot-policy-")]
TLS13 = "IoTSecurityPolicy_TLS13_1_3_2022_10"


def all_resource_messages(resource_type: str, props: dict, config: dict | None = None) -> dict[str, list[str]]:
    """{policy name: messages} over every resource policy of the pack; empty lists dropped."""
    found = {name: run_resource(name, resource_type, props, config) for name in RESOURCE_POLICIES}
    return {name: msgs for name, msgs in found.items() if msgs}


# --- IoT ----------------------------------------------------------------------------------------

def test_domain_with_tls13_only_policy_passes() -> None:
    props = {"domainName": "iot.example.com", "tlsConfig": {"securityPolicy": TLS13}}
    assert all_resource_messages("aws:iot/domainConfiguration:DomainConfiguration", props) == {}


def test_domain_allowed_list_comes_from_pack_config() -> None:
    props = {"tlsConfig": {"securityPolicy": "IoTSecurityPolicy_TLS13_1_2_2022_10"}}
    config = {"allowedSecurityPolicies": ["IoTSecurityPolicy_TLS13_1_2_2022_10", TLS13]}
    assert run_resource("iot-domain-tls13", "aws:iot/domainConfiguration:DomainConfiguration", props, config) == []
    strict = run_resource("iot-domain-tls13", "aws:iot/domainConfiguration:DomainConfiguration",
                          {"tlsConfig": {"securityPolicy": TLS13}}, {"allowedSecurityPolicies": ["Other"]})
    assert strict == [f'The domain configuration uses security policy "{TLS13}", which is not in the allowed list '
                      '(Other); set tls_config.security_policy to "Other".']


@pytest.mark.parametrize("as_json", [True, False], ids=["json-string", "dict"])
def test_builders_device_policy_passes_every_rule(as_json: bool) -> None:
    from builders.iot_policy import device_policy

    document = device_policy(REGION, ACCOUNT)
    props = {"name": "device", "policy": json.dumps(document) if as_json else document}
    assert all_resource_messages("aws:iot/policy:Policy", props) == {}


def test_device_policy_with_thing_scoped_shadow_and_deny_passes() -> None:
    thing = "${iot:Connection.Thing.ThingName}"
    props = {"policy": doc(
        allow(["iot:GetThingShadow", "iot:UpdateThingShadow"], iot_arn(f"thing/{thing}")),
        {"Effect": "Deny", "Action": "iot:*", "Resource": "*",
         "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "false"}}},
    )}
    assert {n: run_resource(n, "aws:iot/policy:Policy", props) for n in IOT_POLICY_RULES} == {
        n: [] for n in IOT_POLICY_RULES}


def test_topic_rule_with_error_action_passes() -> None:
    props = {"sql": "SELECT * FROM 'x'", "errorAction": {"cloudwatchLogs": {"logGroupName": "g", "roleArn": "r"}}}
    assert run_resource("iot-topic-rule-error-action", "aws:iot/topicRule:TopicRule", props) == []


def test_topic_rule_whose_sql_only_names_get_dynamodb_in_strings_passes() -> None:
    props = {"sql": "SELECT \"get_dynamodb(\" AS f FROM 'x' WHERE b <> 'get_dynamodb(' AND c = 'where'",
             "sqlVersion": "2016-03-23"}
    assert run_resource("iot-topic-rule-sql-lookups", "aws:iot/topicRule:TopicRule", props) == []


# --- IAM ----------------------------------------------------------------------------------------

def _builder_documents() -> list[tuple[str, dict]]:
    from builders import iam

    sm = iam.StateMachineResources(region=REGION, account_id=ACCOUNT, device_policy_name="device",
                                   inventory_table_name="inv", event_bus_name="bus",
                                   function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f")
    log_group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/f"
    return [
        ("state machine", iam.state_machine_policy(
            ["iot:CreateThing", "iot:AttachThingPrincipal", "iot:AttachPolicy", "iot:UpdateCertificate",
             "iot:RegisterCertificate", "dynamodb:PutItem", "events:PutEvents", "lambda:InvokeFunction"], sm)),
        ("inspector", iam.lambda_inspector_policy(REGION, ACCOUNT, "inv", log_group)),
        ("pipe", iam.pipe_policy(f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/inv/stream/2026", "arn:bus",
                                 f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq")),
        ("start", iam.start_execution_policy([f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:jitr"])),
        ("telemetry", iam.put_item_policy(f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/data")),
        ("bucket reader", iam.bucket_reader_policy("arn:aws:s3:::store")),
    ]


@pytest.mark.parametrize("label,document", _builder_documents(), ids=lambda v: v if isinstance(v, str) else "")
def test_builders_permission_documents_pass_every_iam_rule(label: str, document: dict) -> None:
    assert all_resource_messages("aws:iam/rolePolicy:RolePolicy", {"role": "r", "policy": json.dumps(document)}) == {}


@pytest.mark.parametrize("service", ["iot", "states", "lambda", "pipes", "events", "ec2"])
def test_builders_trust_policies_pass(service: str) -> None:
    from builders import iam

    role = {"assumeRolePolicy": json.dumps(iam.service_trust_policy(service, ACCOUNT,
                                                                      f"arn:aws:{service}:{REGION}:{ACCOUNT}:x"))}
    assert all_resource_messages("aws:iam/role:Role", role) == {}


def test_role_with_inline_policy_and_allowed_managed_policy_passes() -> None:
    role = {
        "assumeRolePolicy": doc({"Effect": "Allow", "Principal": {"Service": "pipes.amazonaws.com"},
                                 "Action": "sts:AssumeRole",
                                 "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:pipes:eu-west-1:1:pipe/p"}}}),
        "inlinePolicies": [{"name": "read", "policy": doc(allow("dynamodb:GetItem", "arn:aws:dynamodb:::table/t"))}],
        "managedPolicyArns": ["arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
                              f"arn:aws:iam::{ACCOUNT}:policy/our-own"],
    }
    assert all_resource_messages("aws:iam/role:Role", role) == {}


def test_wildcards_in_deny_statements_and_wildcard_only_actions_pass() -> None:
    props = {"policy": doc(
        {"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:s3:::b/*"},
        allow(["iot:DescribeEndpoint", "xray:PutTraceSegments", "sts:GetCallerIdentity"], "*"),
        allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/sfn-jitr",
              Condition={"StringEquals": {"iam:PassedToService": "states.amazonaws.com"}}),
    )}
    assert all_resource_messages("aws:iam/policy:Policy", props) == {}


@pytest.mark.parametrize("principal", [f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT], ids=["arn", "bare-id"])
def test_trusted_account_root_with_condition_is_trusted(principal: str) -> None:
    """The foreign-root refusal must not over-reach: an account listed in trustedAccounts (ours)
    may still be trusted through its root with a Condition."""
    role = {"assumeRolePolicy": doc({"Effect": "Allow", "Principal": {"AWS": principal},
                                     "Action": "sts:AssumeRole",
                                     "Condition": {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::1:role/x"}}})}
    config = {"trustedAccounts": [ACCOUNT]}
    assert run_resource("iam-trust-service-principals", "aws:iam/role:Role", role, config) == []


def test_source_condition_services_come_from_pack_config() -> None:
    lambda_role = {"assumeRolePolicy": doc({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                            "Action": "sts:AssumeRole"})}
    assert run_resource("iam-trust-service-principals", "aws:iam/role:Role", lambda_role) == []
    stricter = {"servicesSupportingSourceConditions": ["iot", "states", "lambda"]}
    assert len(run_resource("iam-trust-service-principals", "aws:iam/role:Role", lambda_role, stricter)) == 1


# --- data, workflows ----------------------------------------------------------------------------

def test_protected_global_table_passes() -> None:
    props = {"pointInTimeRecovery": {"enabled": True}, "serverSideEncryption": {"enabled": True},
             "replicas": [{"regionName": "us-west-2", "pointInTimeRecovery": True}]}
    assert all_resource_messages("aws:dynamodb/table:Table", props) == {}


@pytest.mark.parametrize("encryption", [{"sqsManagedSseEnabled": True},
                                        {"kmsMasterKeyId": "alias/aws/sqs"}], ids=["sse-sqs", "kms"])
def test_encrypted_queue_passes(encryption: dict) -> None:
    assert all_resource_messages("aws:sqs/queue:Queue", {"name": "dlq", **encryption}) == {}


def test_log_group_with_retention_passes() -> None:
    assert all_resource_messages("aws:cloudwatch/logGroup:LogGroup", {"name": "/x", "retentionInDays": 30}) == {}


@pytest.mark.parametrize("kind", [None, "STANDARD"])
def test_logged_standard_state_machine_passes(kind: str | None) -> None:
    props = {"definition": "{}", "loggingConfiguration": {
        "level": "ALL", "includeExecutionData": True, "logDestination": "arn:aws:logs:eu-west-1:1:log-group:x:*"}}
    if kind:
        props["type"] = kind
    assert all_resource_messages("aws:sfn/stateMachine:StateMachine", props) == {}


# --- stack --------------------------------------------------------------------------------------

STACK_POLICIES = ["s3-bucket-encrypted", "s3-bucket-public-access-blocked", "s3-bucket-tls-only",
                  "lambda-log-group-retention"]
TLS_DENY = doc({"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": ["arn:aws:s3:::store-1", "arn:aws:s3:::store-1/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
SSE_RULES = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}, "bucketKeyEnabled": True}]
FLAGS = {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True}


def _stack_messages(resources) -> dict[str, list]:
    found = {name: run_stack(name, resources) for name in STACK_POLICIES}
    return {name: calls for name, calls in found.items() if calls}


def test_bucket_with_companions_joined_by_name_passes() -> None:
    resources = [
        stack_resource("aws:s3/bucket:Bucket", "store", {"bucket": "store-1"}),
        stack_resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "pab", dict(FLAGS, bucket="store-1")),
        stack_resource("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                       "sse", {"bucket": "store-1", "rules": SSE_RULES}),
        stack_resource("aws:s3/bucketPolicy:BucketPolicy", "policy", {"bucket": "store-1", "policy": TLS_DENY}),
    ]
    assert _stack_messages(resources) == {}


def test_bucket_joined_through_property_dependencies_while_ids_are_unknown() -> None:
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE as U

    bucket = stack_resource("aws:s3/bucket:Bucket", "store", {"bucket": "store-1"})
    companions = [
        stack_resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "pab", dict(FLAGS, bucket=U)),
        stack_resource("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
                       "sse", {"bucket": U, "rules": SSE_RULES}),
        stack_resource("aws:s3/bucketPolicy:BucketPolicy", "policy", {"bucket": U, "policy": TLS_DENY}),
    ]
    for companion in companions:
        companion.property_dependencies = {"bucket": [bucket]}
    # A second bucket with no companions at all must still be reported: the join is per bucket.
    lonely = stack_resource("aws:s3/bucket:Bucket", "lonely", {"bucket": "lonely-1"})
    found = _stack_messages([bucket, lonely, *companions])
    assert sorted(found) == ["s3-bucket-encrypted", "s3-bucket-public-access-blocked", "s3-bucket-tls-only"]
    assert all(urn == lonely.urn for calls in found.values() for _, urn in calls)


def test_inline_encryption_and_policy_on_the_bucket_count() -> None:
    bucket = stack_resource("aws:s3/bucket:Bucket", "store", {
        "bucket": "store-1", "policy": TLS_DENY,
        "serverSideEncryptionConfiguration": {"rules": SSE_RULES}})
    assert run_stack("s3-bucket-encrypted", [bucket]) == []
    assert run_stack("s3-bucket-tls-only", [bucket]) == []


def test_function_with_named_or_configured_log_group_passes() -> None:
    resources = [
        stack_resource("aws:lambda/function:Function", "a", {"name": "inspector"}),
        stack_resource("aws:cloudwatch/logGroup:LogGroup", "a-logs", {"name": "/aws/lambda/inspector",
                                                                       "retentionInDays": 30}),
        stack_resource("aws:lambda/function:Function", "b", {"name": "b", "loggingConfig": {
            "logFormat": "JSON", "logGroup": "/iot/functions"}}),
        stack_resource("aws:cloudwatch/logGroup:LogGroup", "shared", {"name": "/iot/functions", "retentionInDays": 7}),
    ]
    assert run_stack("lambda-log-group-retention", resources) == []


# --- issue 11: counterparts a naive fix would refuse --------------------------------------------

THING = "${iot:Connection.Thing.ThingName}"


@pytest.mark.parametrize("resource", [
    iot_arn("thing/*"), iot_arn("cert/*"),                                  # our account and region: run-time names
    f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/f:*",           # one log group's streams
    f"arn:aws:dynamodb:*:{ACCOUNT}:table/inventory",                        # one global table, every region
    "arn:aws:s3:::store-1/*",                                               # one bucket's objects
    f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f:*",                      # one function's versions
])
def test_least_privilege_resources_with_wildcards_are_not_wildcard_resources(resource: str) -> None:
    props = {"role": "r", "policy": doc(allow(["iot:DescribeThing", "dynamodb:GetItem", "s3:GetObject",
                                                "logs:PutLogEvents", "lambda:InvokeFunction"], resource))}
    assert all_resource_messages("aws:iam/rolePolicy:RolePolicy", props) == {}


@pytest.mark.parametrize("condition", [
    {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
    {"StringLike": {"aws:SourceAccount": [ACCOUNT]}},
    {"ArnLike": {"aws:SourceArn": f"arn:aws:iot:{REGION}:{ACCOUNT}:rule/*"}},
    {"ArnEquals": {"aws:SourceArn": [f"arn:aws:iot:{REGION}:{ACCOUNT}:rule/a", f"arn:aws:iot:*:{ACCOUNT}:rule/b"]}},
], ids=["account", "account-like", "rules-of-our-account", "named-rules"])
def test_source_conditions_that_pin_an_account_pass(condition: dict) -> None:
    role = {"assumeRolePolicy": doc({"Effect": "Allow", "Principal": {"Service": "iot.amazonaws.com"},
                                     "Action": "sts:AssumeRole", "Condition": condition})}
    assert all_resource_messages("aws:iam/role:Role", role) == {}


@pytest.mark.parametrize("resource_type,props", [
    ("aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
     {"roleName": "r", "policyArns": ["arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
                                      f"arn:aws:iam::{ACCOUNT}:policy/ours"]}),
    ("aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive", {"userName": "u", "policyArns": []}),
], ids=["role", "user"])
def test_exclusive_attachments_of_allowed_policies_pass(resource_type: str, props: dict) -> None:
    assert all_resource_messages(resource_type, props) == {}


def test_device_policy_with_jobs_retained_messages_shadow_and_role_alias_passes() -> None:
    props = {"policy": doc(
        allow("iot:GetRetainedMessage", iot_arn(f"topic/e/{THING}/*")),
        allow(["iot:DescribeJobExecution", "iot:UpdateJobExecution"], iot_arn(f"thing/{THING}")),
        allow("iot:Publish", iot_arn(f"topic/$aws/things/{THING}/shadow/update")),
        allow("iot:AssumeRoleWithCertificate", iot_arn("rolealias/device-uploads")),
    )}
    assert {n: run_resource(n, "aws:iot/policy:Policy", props) for n in IOT_POLICY_RULES} == {
        n: [] for n in IOT_POLICY_RULES}


def test_provisioning_template_with_the_device_policy_passes() -> None:
    from builders.iot_policy import device_policy

    template = {"Parameters": {"SerialNumber": {"Type": "String"}}, "Resources": {
        "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "SerialNumber"}}},
        "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": json.dumps(
            device_policy(REGION, ACCOUNT))}},
        "named": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "existing-device-policy"}}}}
    props = {"name": "fleet", "templateBody": json.dumps(template)}
    assert all_resource_messages("aws:iot/provisioningTemplate:ProvisioningTemplate", props) == {}


def test_exact_effects_and_repeated_keys_in_different_objects_pass() -> None:
    text = ('{"Version": "2012-10-17", "Statement": ['
            '{"Sid": "A", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},'
            '{"Sid": "B", "Effect": "Deny", "Action": "s3:*", "Resource": "*",'
            ' "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}')
    assert all_resource_messages("aws:iam/policy:Policy", {"policy": text}) == {}


def test_the_programs_queue_policy_shape_and_tls_deny_pass_the_resource_policy_rule() -> None:
    rules = [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/bus/r1", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/bus/r2"]
    queue = {"policy": doc({"Sid": "EventBridgeRulesDeadLetter", "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
                            "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq",
                            "Condition": {"ArnEquals": {"aws:SourceArn": rules},
                                          "StringEquals": {"aws:SourceAccount": ACCOUNT}}})}
    assert run_resource("resource-policy-principals", "aws:sqs/queuePolicy:QueuePolicy", queue) == []
    assert run_resource("resource-policy-principals", "aws:s3/bucketPolicy:BucketPolicy", {"policy": TLS_DENY}) == []


@pytest.mark.parametrize("statement", [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
    {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*",
     "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}},
    {"Effect": "Allow", "Principal": {"Service": "logs.amazonaws.com"}, "Action": "kms:Decrypt", "Resource": "*",
     "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}},
], ids=["trusted-account-key-policy", "star-pinned-to-organization", "pinned-service"])
def test_resource_policies_that_name_their_callers_pass(statement: dict) -> None:
    props = {"policy": doc(statement)}
    config = {"trustedAccounts": [ACCOUNT]}
    assert run_resource("resource-policy-principals", "aws:kms/key:Key", props, config) == []


@pytest.mark.parametrize("props", [
    {"principal": "iot.amazonaws.com", "sourceArn": f"arn:aws:iot:{REGION}:{ACCOUNT}:rule/r"},
    {"principal": "events.amazonaws.com", "sourceAccount": ACCOUNT},
    {"principal": "*", "principalOrgId": "o-abc123"},
], ids=["source-arn", "source-account", "organization"])
def test_pinned_lambda_permissions_pass(props: dict) -> None:
    props = dict(props, action="lambda:InvokeFunction", function="f")
    assert run_resource("resource-policy-principals", "aws:lambda/permission:Permission", props) == []


def test_attached_customer_policies_defined_in_the_stack_or_allowed_pass() -> None:
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE as U

    ours = stack_resource("aws:iam/policy:Policy", "ours", {"name": "ours", "policy": doc(allow("s3:GetObject", "*"))})
    by_name = stack_resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "a",
                             {"role": "r", "policyArn": f"arn:aws:iam::{ACCOUNT}:policy/team/ours"})
    by_dependency = stack_resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "b", {"role": "r", "policyArn": U})
    by_dependency.property_dependencies = {"policyArn": [ours]}
    reviewed = stack_resource("aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive", "c",
                              {"roleName": "r", "policyArns": ["arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
                                                               f"arn:aws:iam::{ACCOUNT}:policy/reviewed"]})
    config = {"allowedExternalPolicies": [f"arn:aws:iam::{ACCOUNT}:policy/reviewed"]}
    assert run_stack("iam-managed-policies-in-stack", [ours, by_name, by_dependency, reviewed], config) == []


def test_role_alias_to_a_least_privilege_role_passes() -> None:
    role = stack_resource("aws:iam/role:Role", "device-creds", {"name": "device-creds"})
    inline = stack_resource("aws:iam/rolePolicy:RolePolicy", "p", {"role": "device-creds", "policy": doc(
        allow("s3:PutObject", "arn:aws:s3:::uploads/*"), allow("*", "arn:aws:s3:::uploads"))})
    admin = stack_resource("aws:iam/role:Role", "admin", {"name": "admin", "managedPolicyArns": [
        "arn:aws:iam::aws:policy/AdministratorAccess"]})
    alias = stack_resource("aws:iot/roleAlias:RoleAlias", "alias", {"alias": "uploads",
                                                                    "roleArn": f"arn:aws:iam::{ACCOUNT}:role/device-creds"})
    assert run_stack("iot-role-alias-not-admin", [role, inline, admin, alias]) == []
