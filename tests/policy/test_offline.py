"""policy.offline.evaluate over hand-written resource lists shaped like MockResourceArgs records."""

from __future__ import annotations

import json

import pytest
from pulumi.output import Unknown

from policy.offline import (
    PolicyConfigError,
    ResourceShapeError,
    Violation,
    evaluate,
    format_report,
    has_mandatory,
)
from policy.pack import PACK_NAME, pack_version

ACCOUNT = "123456789012"
STACK = "urn:pulumi:eu-west-1::multi-region-iot"
TLS13 = "IoTSecurityPolicy_TLS13_1_3_2022_10"


def res(resource_type: str, name: str, props: dict, parent: str | None = None, **extra) -> dict:
    urn = f"{STACK}::{resource_type}::{name}"
    return {"type": resource_type, "name": name, "urn": urn, "props": props, "parent": parent, **extra}


def compliant_stack() -> list[dict]:
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}]}
    tls_deny = {"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                               "Resource": ["arn:aws:s3:::store", "arn:aws:s3:::store/*"],
                               "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    component = f"{STACK}::iotmr:regional:Endpoint::endpoint"
    return [
        res("iotmr:regional:Endpoint", "endpoint", {}),
        res("aws:iot/domainConfiguration:DomainConfiguration", "domain",
            {"domainName": "iot.example.com", "tlsConfig": {"securityPolicy": TLS13}}, parent=component),
        res("aws:iam/role:Role", "jitr-role", {"assumeRolePolicy": json.dumps(trust)}),
        res("aws:iam/rolePolicy:RolePolicy", "jitr-policy", {"role": "jitr-role", "policy": json.dumps({
            "Statement": [{"Effect": "Allow", "Action": ["iot:CreateThing"],
                           "Resource": [f"arn:aws:iot:eu-west-1:{ACCOUNT}:thing/*"]}]})}),
        res("aws:s3/bucket:Bucket", "store", {"bucket": "store"}),
        res("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "store-pab",
            {"bucket": "store", "blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True,
             "restrictPublicBuckets": True}),
        res("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "store-sse",
            {"bucket": "store", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}),
        res("aws:s3/bucketPolicy:BucketPolicy", "store-policy", {"bucket": "store", "policy": json.dumps(tls_deny)}),
    ]


def test_compliant_stack_has_no_violations_and_reports_a_green_pack() -> None:
    violations = evaluate(compliant_stack())
    assert violations == []
    assert not has_mandatory(violations)
    assert format_report(violations) == f"Policies:\n    ✅ {PACK_NAME}@v{pack_version()} (local: policy)"


def test_violations_carry_policy_level_resource_and_message() -> None:
    resources = compliant_stack()
    resources[1]["props"] = {"domainName": "iot.example.com"}  # missing tlsConfig
    violations = evaluate(resources)
    assert violations == [Violation(
        policy_pack=PACK_NAME, policy_pack_version=pack_version(), policy_name="iot-domain-tls13",
        description="IoT domain configurations use a TLS 1.3 security policy.", enforcement_level="mandatory",
        urn=resources[1]["urn"], resource_type="aws:iot/domainConfiguration:DomainConfiguration",
        resource_name="domain",
        message="The domain configuration sets no tls_config.security_policy, so AWS IoT applies its default, "
                f'which accepts TLS 1.2; set tls_config={{"security_policy": "{TLS13}"}}.')]
    assert has_mandatory(violations)


def test_report_is_formatted_like_pulumi_preview() -> None:
    resources = compliant_stack()
    resources[1]["props"] = {"tlsConfig": {"securityPolicy": "IoTSecurityPolicy_TLS13_1_2_2022_10"}}
    report = format_report(evaluate(resources))
    assert report.splitlines() == [
        "Policies:",
        f"    ❌ {PACK_NAME}@v{pack_version()} (local: policy)",
        "        - [mandatory]  iot-domain-tls13  (aws:iot/domainConfiguration:DomainConfiguration: domain)",
        "          IoT domain configurations use a TLS 1.3 security policy.",
        '          The domain configuration uses security policy "IoTSecurityPolicy_TLS13_1_2_2022_10", which is '
        f'not in the allowed list ({TLS13}); set tls_config.security_policy to "{TLS13}".',
    ]


def test_order_is_resources_then_stack_policies() -> None:
    resources = [res("aws:s3/bucket:Bucket", "open", {"bucket": "open", "acl": "public-read"}),
                 res("aws:cloudwatch/logGroup:LogGroup", "logs", {"name": "/x"})]
    names = [(v.policy_name, v.resource_name) for v in evaluate(resources)]
    assert names == [("log-group-retention", "logs"), ("s3-bucket-encrypted", "open"),
                     ("s3-bucket-public-access-blocked", "open"), ("s3-bucket-public-access-blocked", "open"),
                     ("s3-bucket-tls-only", "open")]


def test_config_can_disable_downgrade_and_configure_policies() -> None:
    resources = [res("aws:iot/domainConfiguration:DomainConfiguration", "d",
                     {"tlsConfig": {"securityPolicy": "IoTSecurityPolicy_TLS13_1_2_2022_10"}}),
                 res("aws:cloudwatch/logGroup:LogGroup", "logs", {"name": "/x"})]
    assert [v.policy_name for v in evaluate(resources)] == ["iot-domain-tls13", "log-group-retention"]
    assert [v.policy_name for v in evaluate(resources, {"log-group-retention": "disabled"})] == ["iot-domain-tls13"]
    relaxed = {"iot-domain-tls13": {"allowedSecurityPolicies": ["IoTSecurityPolicy_TLS13_1_2_2022_10"]},
               "log-group-retention": {"enforcementLevel": "advisory"}}
    violations = evaluate(resources, relaxed)
    assert [(v.policy_name, v.enforcement_level) for v in violations] == [("log-group-retention", "advisory")]
    assert not has_mandatory(violations)
    assert format_report(violations).splitlines()[1].startswith("    ⚠️ ")
    assert {v.enforcement_level for v in evaluate(resources, {"all": "advisory"})} == {"advisory"}


@pytest.mark.parametrize("config,problem", [
    ({"no-such-policy": "advisory"}, "unknown policies ['no-such-policy']"),
    ({"log-group-retention": "loud"}, "enforcement level 'loud' is not one of"),
    ({"iot-domain-tls13": {"allowed": ["x"]}}, "has no config property 'allowed' (it takes: allowedSecurityPolicies)"),
    ({"iot-domain-tls13": {"allowedSecurityPolicies": "IoTSecurityPolicy_TLS13_1_3_2022_10"}},
     "iot-domain-tls13.allowedSecurityPolicies must be a list of strings"),
])
def test_bad_config_is_rejected_with_the_problem_named(config: dict, problem: str) -> None:
    with pytest.raises(PolicyConfigError) as err:
        evaluate([], config)
    assert problem in str(err.value)


@pytest.mark.parametrize("resource,problem", [
    ({"name": "x", "props": {}}, "resource #0 lacks ['type']"),
    ({"type": "aws:s3/bucket:Bucket", "name": "x", "props": []}, "props must be a dict"),
    ("aws:s3/bucket:Bucket", "resource #0 is a str"),
])
def test_bad_resource_shape_is_rejected(resource, problem: str) -> None:
    with pytest.raises(ResourceShapeError) as err:
        evaluate([resource])
    assert problem in str(err.value)


def test_mock_unknowns_are_treated_as_unknown_not_as_violations() -> None:
    resources = [
        res("aws:iot/domainConfiguration:DomainConfiguration", "d", {"tlsConfig": {"securityPolicy": Unknown()}}),
        res("aws:iam/role:Role", "r", {"assumeRolePolicy": Unknown()}),
        res("aws:cloudwatch/logGroup:LogGroup", "logs", {"name": Unknown(), "retentionInDays": Unknown()}),
        res("aws:lambda/function:Function", "fn", {"name": "fn"}),
    ]
    # The function's log group has an unknown name: undetermined, so not reported either.
    assert evaluate(resources) == []


def test_stack_join_uses_ids_and_property_dependencies_from_the_records() -> None:
    bucket = res("aws:s3/bucket:Bucket", "store", {}, id="store-4f2a")
    block = res("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "pab",
                {"bucket": "store-4f2a", "blockPublicAcls": True, "blockPublicPolicy": True,
                 "ignorePublicAcls": True, "restrictPublicBuckets": True})
    sse = res("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "sse",
              {"bucket": Unknown(), "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]},
              propertyDependencies={"bucket": [bucket["urn"]]})
    names = {v.policy_name for v in evaluate([bucket, block, sse])}
    assert names == {"s3-bucket-tls-only"}
