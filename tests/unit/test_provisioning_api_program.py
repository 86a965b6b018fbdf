"""The provisioning API under Pulumi mocks: config validation, the role's least privilege, the API's wiring."""
from __future__ import annotations

from pathlib import Path

import pytest

from builders import iam
from components.config import ConfigError, parse_settings
from localcloud.mockrun import run_stack
from tests.unit.conftest import PRIMARY_REF

KEY = "arn:aws:kms:eu-west-1:123456789012:key/mrk-" + "0" * 32
PRIMARY = {"regions": '["eu-west-1", "us-west-2"]', "domainName": "iot.example.com", "hostedZoneId": "Z0123456789EXAMPLE"}


def settings(**values):
    merged = {**PRIMARY, **values}
    return parse_settings(lambda key: merged.get(key), "eu-west-1", Path("/project"))


def test_without_a_signing_key_there_is_no_provisioning_api():
    assert settings().provisioning_api is None


def test_a_key_turns_it_on_with_the_s3_database_split():
    api = settings(provisioningSigningKeyArn=KEY, provisioningGeolocationDatabase="s3://geo-bucket/City.mmdb").provisioning_api
    assert (api.signing_key_arn, api.geolocation_bucket, api.geolocation_key) == (KEY, "geo-bucket", "City.mmdb")
    assert api.geolocation_object_arn == "arn:aws:s3:::geo-bucket/City.mmdb"


@pytest.mark.parametrize("values, message", [
    ({"provisioningSigningKeyArn": KEY.replace("eu-west-1", "us-west-2")}, "not a KMS key ARN in eu-west-1"),
    ({"provisioningSigningKeyArn": "alias/ca"}, "an alias cannot be narrowed"),
    ({"provisioningSigningKeyArn": KEY, "provisioningGeolocationDatabase": "/tmp/x.mmdb"}, "not s3://bucket/key"),
    ({"provisioningDefaultRegion": "eu-west-1"}, "without provisioningSigningKeyArn"),
])
def test_bad_provisioning_config_names_the_key_and_the_fix(values, message):
    with pytest.raises(ConfigError, match=message):
        settings(**values)


def test_the_role_may_sign_with_the_ca_key_only_and_touch_this_regions_tables_only():
    doc = iam.provisioning_api_policy(iam.ProvisioningApiResources(
        "eu-west-1", "123456789012", "inv", "allow", "nonces", "app-device", "cafe", KEY,
        "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/x"))
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["SignWithCaKey"] == {"Effect": "Allow", "Action": ["kms:Sign"], "Resource": [KEY], "Sid": "SignWithCaKey"}
    resources = [r for s in doc["Statement"] for r in s["Resource"]]
    assert all(":eu-west-1:" in r or r == "*" for r in resources)
    assert [s["Sid"] for s in doc["Statement"] if "*" in s["Resource"]] == ["RegisterDeviceCertificate"]
    assert not any(a.startswith("kms:") and a != "kms:Sign" for s in doc["Statement"] for a in s["Action"])


def test_the_role_allows_every_aws_call_the_function_makes():
    """Each ``iot.<method>(`` / ``dynamodb.<method>(`` / ``kms.<method>(`` call in functions/provisioning_api and in
    the contract shipped beside it (``contract/registry.py``, ``contract/allow_list.py``), named by botocore's model,
    is an action of the role's policy (issue 21 added DescribeCertificate, DescribeThing and UpdateThing for undoing
    and replacing attempts)."""
    import re

    import boto3

    doc = iam.provisioning_api_policy(iam.ProvisioningApiResources(
        "eu-west-1", "123456789012", "inv", "allow", "nonces", "app-device", "cafe", KEY,
        "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/x"))
    allowed = {a for s in doc["Statement"] for a in s["Action"]}
    root = Path(__file__).resolve().parents[2]
    source = "\n".join(p.read_text() for folder in ("functions/provisioning_api", "contract")
                       for p in (root / folder).glob("*.py"))
    calls = set(re.findall(r"\b(iot|dynamodb|ddb|kms)\.([a-z_]+)\(", source))
    needed = set()
    for service, method in calls:
        prefix = {"ddb": "dynamodb"}.get(service, service)  # IAM's prefix = the client's name for these three
        operation = boto3.client(prefix, region_name="eu-west-1").meta.method_to_api_mapping.get(method)
        if operation:  # not e.g. ``exceptions``
            needed.add(f"{prefix}:{operation}")
    assert {"iot:DescribeThing", "iot:UpdateThing", "iot:DescribeCertificate"} <= needed
    assert needed - allowed == set()


@pytest.fixture(scope="module")
def api_runs(pki_dir):
    primary = run_stack("eu-west-1", config_overrides={"pkiDir": str(pki_dir), "provisioningSigningKeyArn": KEY})
    secondary = run_stack("us-west-2", config_overrides={
        "pkiDir": str(pki_dir), "provisioningSigningKeyArn": KEY.replace("eu-west-1", "us-west-2")},
        stack_outputs={PRIMARY_REF: primary.outputs})
    return primary, secondary


def test_every_region_gets_an_http_api_with_a_throttled_stage_and_access_logs_without_bodies(api_runs):
    for run in api_runs:
        (stage,) = run.of_type("aws:apigatewayv2/stage:Stage")
        assert stage.inputs["defaultRouteSettings"]["throttlingRateLimit"] > 0
        fmt = stage.inputs["accessLogSettings"]["format"]
        assert "sourceIp" in fmt and "body" not in fmt.lower() and "header" not in fmt.lower()
        (route,) = run.of_type("aws:apigatewayv2/route:Route")
        assert route.inputs["routeKey"] == "POST /provision"
        (integration,) = run.of_type("aws:apigatewayv2/integration:Integration")
        assert integration.inputs["payloadFormatVersion"] == "2.0"
        (domain,) = run.of_type("aws:apigatewayv2/domainName:DomainName")
        assert domain.inputs["domainName"] == "provision.iot.example.com"
        (nonces,) = [t for t in run.of_type("aws:dynamodb/table:Table") if t.inputs["name"].endswith("nonces")]
        assert nonces.inputs["ttl"] == {"attributeName": "ExpiresAt", "enabled": True}


def test_only_the_primary_writes_the_provisioning_validation_record(api_runs):
    primary, secondary = api_runs
    assert "provisioningValidationRecordFqdns" in primary.outputs
    assert "provisioningValidationRecordFqdns" not in secondary.outputs
    records = lambda run: [r for r in run.of_type("aws:route53/record:Record") if "validation" in r.name]
    assert len(records(primary)) == 2 and len(records(secondary)) == 0


def test_the_function_gets_its_tables_key_and_regions(api_runs):
    primary, _ = api_runs
    (function,) = [f for f in primary.of_type("aws:lambda/function:Function")
                   if f.inputs["handler"] == "provisioning_api.handler.handler"]
    env = function.inputs["environment"]["variables"]
    assert env["CA_SIGNING_KEY_ARN"] == KEY and env["REGIONS"] == "eu-west-1,us-west-2"
    assert env["DEFAULT_REGION"] == "eu-west-1" and env["ALLOW_LIST_TABLE"] == "multi-region-iot-allow-list"
    assert env["TRUST_ANCHOR_PEM"].count("BEGIN CERTIFICATE") == 1


def test_a_claim_is_taken_over_only_after_the_function_that_made_it_is_surely_gone(api_runs):
    """Issue 21: the takeover of a claim (allow_list.CLAIM_TIMEOUT_SECONDS) must come well after the function's
    timeout (Lambda stops it there), or two invocations could both work on one entry."""
    from contract.allow_list import CLAIM_TIMEOUT_SECONDS

    primary, _ = api_runs
    (function,) = [f for f in primary.of_type("aws:lambda/function:Function")
                   if f.inputs["handler"] == "provisioning_api.handler.handler"]
    assert 2 * function.inputs["timeout"] <= CLAIM_TIMEOUT_SECONDS
