"""The regional canary and the health-checked records (under Pulumi mocks, both stacks).

With `python -m pki issue-device canary-<region>` in pkiDir each region gets a scheduled canary Lambda whose
alarm feeds a Route 53 CLOUDWATCH_METRIC health check carried by that region's record; without it, nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pki
from builders import canary as canary_builders
from localcloud.mockrun import StackRun, run_stack

PRIMARY_REF = "organization/multi-region-iot/eu-west-1"
RUNS = [("canary_primary", "eu-west-1"), ("canary_secondary", "us-west-2")]
ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def canary_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki-with-canaries") / "pki"
    pki.init_pki(out, "iot.example.com")
    pki.issue_device_certificates(out, [canary_builders.thing_name("eu-west-1"), canary_builders.thing_name("us-west-2")])
    return out


@pytest.fixture(scope="module")
def canary_primary(canary_pki: Path) -> StackRun:
    return run_stack("eu-west-1", config_overrides={"pkiDir": str(canary_pki)})


@pytest.fixture(scope="module")
def canary_secondary(canary_pki: Path, canary_primary: StackRun) -> StackRun:
    return run_stack("us-west-2", config_overrides={"pkiDir": str(canary_pki)},
                     stack_outputs={PRIMARY_REF: canary_primary.outputs})


def one(run: StackRun, type_: str, contains: str = "canary"):
    (found,) = [r for r in run.of_type(type_) if contains in r.name]
    return found


@pytest.mark.parametrize("run_name, region", RUNS)
def test_the_regions_device_record_carries_the_canary_health_check(request, run_name, region):
    run = request.getfixturevalue(run_name)
    (record,) = [r for r in run.of_type("aws:route53/record:Record") if r.name.endswith("-endpoint-record")]
    health_check = one(run, "aws:route53/healthCheck:HealthCheck")
    assert record.inputs["healthCheckId"] == health_check.id == run.outputs["canaryHealthCheckId"]
    assert record.inputs["setIdentifier"] == region


@pytest.mark.parametrize("run_name, region", RUNS)
def test_the_health_check_follows_the_canary_alarm_and_no_data_is_unhealthy(request, run_name, region):
    run = request.getfixturevalue(run_name)
    alarm = one(run, "aws:cloudwatch/metricAlarm:MetricAlarm")
    check = one(run, "aws:route53/healthCheck:HealthCheck").inputs
    assert check["type"] == "CLOUDWATCH_METRIC"
    assert check["cloudwatchAlarmName"] == alarm.inputs["name"] and check["cloudwatchAlarmRegion"] == region
    assert check["insufficientDataHealthStatus"] == "Unhealthy"
    a = alarm.inputs
    assert (a["namespace"], a["metricName"], a["dimensions"]) == ("multi-region-iot/Canary", "Success", {"Region": region})
    assert (a["comparisonOperator"], a["threshold"], a["statistic"]) == ("LessThanThreshold", 1, "Minimum")
    assert a["treatMissingData"] == "breaching"


@pytest.mark.parametrize("run_name, region", RUNS)
def test_the_canary_runs_every_minute_against_its_regions_endpoint_with_the_domain_as_sni(request, run_name, region):
    run = request.getfixturevalue(run_name)
    function = one(run, "aws:lambda/function:Function")
    env = function.inputs["environment"]["variables"]
    assert env["SERVER_NAME"] == "iot.example.com" and env["CLIENT_ID"] == f"canary-{region}"
    assert env["TOPIC"] == f"canary/canary-{region}" and env["METRIC_REGION"] == region
    assert env["ENDPOINT_HOST"] == run.outputs["iotEndpoint"]
    assert "PRIVATE KEY" not in json.dumps(env)
    rule = one(run, "aws:cloudwatch/eventRule:EventRule")
    assert rule.inputs["scheduleExpression"] == "rate(1 minute)"
    assert one(run, "aws:cloudwatch/eventTarget:EventTarget").inputs["arn"] == function.outputs["arn"]
    permission = one(run, "aws:lambda/permission:Permission").inputs
    assert permission["principal"] == "events.amazonaws.com" and permission["sourceArn"] == rule.outputs["arn"]


@pytest.mark.parametrize("run_name, region", RUNS)
def test_the_canary_role_reads_only_its_secret_and_puts_only_its_namespace(request, run_name, region):
    run = request.getfixturevalue(run_name)
    (policy,) = [p for p in run.of_type("aws:iam/rolePolicy:RolePolicy") if "canary" in p.name]
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    secret, key = one(run, "aws:secretsmanager/secret:Secret"), one(run, "aws:kms/key:Key")
    assert statements["ReadCanaryKey"]["Action"] == ["secretsmanager:GetSecretValue"]
    assert statements["ReadCanaryKey"]["Resource"] == [secret.outputs["arn"]]
    decrypt = statements["DecryptCanaryKeyThroughSecretsManager"]
    assert decrypt["Action"] == ["kms:Decrypt"] and decrypt["Resource"] == [key.outputs["arn"]]
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}
    metric = statements["PutCanaryMetric"]
    assert metric["Action"] == ["cloudwatch:PutMetricData"]
    assert metric["Condition"] == {"StringEquals": {"cloudwatch:namespace": "multi-region-iot/Canary"}}
    assert set(statements) == {"ReadCanaryKey", "DecryptCanaryKeyThroughSecretsManager", "PutCanaryMetric",
                               "WriteOwnLogs"}


@pytest.mark.parametrize("run_name, region", RUNS)
def test_the_private_key_is_kms_encrypted_write_only_and_readable_by_the_canary_alone(request, run_name, region):
    run = request.getfixturevalue(run_name)
    secret, key = one(run, "aws:secretsmanager/secret:Secret"), one(run, "aws:kms/key:Key")
    assert secret.inputs["kmsKeyId"] == key.outputs["arn"] and key.inputs["enableKeyRotation"] is True
    version = one(run, "aws:secretsmanager/secretVersion:SecretVersion").inputs
    assert "PRIVATE KEY" in version["secretStringWo"] and "secretString" not in version
    (deny,) = json.loads(one(run, "aws:secretsmanager/secretPolicy:SecretPolicy").inputs["policy"])["Statement"]
    role = one(run, "aws:lambda/function:Function").inputs["role"]
    assert deny["Effect"] == "Deny" and deny["Action"] == "secretsmanager:GetSecretValue"
    assert deny["Condition"] == {"StringNotEquals": {"aws:PrincipalArn": role}}


@pytest.mark.parametrize("run_name, region", RUNS)
def test_the_canary_certificate_is_registered_active_and_may_use_only_its_own_client_id_and_topic(
        request, run_name, region):
    run = request.getfixturevalue(run_name)
    certificate = one(run, "aws:iot/certificate:Certificate").inputs
    assert certificate["active"] is True and "caPem" not in certificate  # RegisterCertificateWithoutCA: no JITR
    assert one(run, "aws:iot/thing:Thing").inputs["name"] == f"canary-{region}"
    document = json.loads(one(run, "aws:iot/policy:Policy").inputs["policy"])
    arn = f"arn:aws:iot:{region}:{ACCOUNT}"
    thing = "${iot:Connection.Thing.ThingName}"
    granted = {(a, s["Resource"]) for s in document["Statement"]
               for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert granted == {("iot:Connect", f"{arn}:client/{thing}"), ("iot:Publish", f"{arn}:topic/canary/{thing}"),
                       ("iot:Receive", f"{arn}:topic/canary/{thing}"),
                       ("iot:Subscribe", f"{arn}:topicfilter/canary/{thing}")}
    for statement in document["Statement"]:
        assert statement["Condition"]["StringEquals"] == {"iot:Connection.Thing.ThingName": f"canary-{region}"}


def test_without_a_canary_certificate_there_is_no_canary_and_no_health_check(primary_run: StackRun) -> None:
    assert primary_run.of_type("aws:route53/healthCheck:HealthCheck") == []
    (record,) = [r for r in primary_run.of_type("aws:route53/record:Record") if r.name.endswith("-endpoint-record")]
    assert record.inputs.get("healthCheckId") is None
    assert "canaryHealthCheckId" not in primary_run.outputs
