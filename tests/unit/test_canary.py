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
def test_the_private_key_is_kms_encrypted_and_readable_by_the_canary_and_the_deploying_principal_only(
        request, run_name, region):
    run = request.getfixturevalue(run_name)
    secret, key = one(run, "aws:secretsmanager/secret:Secret"), one(run, "aws:kms/key:Key")
    assert secret.inputs["kmsKeyId"] == key.outputs["arn"] and key.inputs["enableKeyRotation"] is True
    (deny,) = json.loads(one(run, "aws:secretsmanager/secretPolicy:SecretPolicy").inputs["policy"])["Statement"]
    role = one(run, "aws:lambda/function:Function").inputs["role"]
    deployer = f"arn:aws:iam::{ACCOUNT}:user/preview"  # the mocks' caller (getCallerIdentity, getSessionContext)
    assert deny["Effect"] == "Deny" and deny["Action"] == "secretsmanager:GetSecretValue"
    # `pulumi refresh`/`destroy` run as the deploying principal: the Deny must not lock it out of its own secret.
    assert deny["Condition"] == {"StringNotEquals": {"aws:PrincipalArn": [role, deployer]}}


@pytest.mark.parametrize("run_name, region", RUNS)
def test_the_canary_key_never_enters_pulumis_state(request, run_name, region, canary_pki):
    """pulumi-aws's write-only secret_string_wo still lands in the state's inputs (pulumi-terraform-bridge issue 3201),
    so the key is written by a resource whose inputs name the key file and its public key's digest only."""
    run = request.getfixturevalue(run_name)
    key_lines = (canary_pki / "devices" / f"canary-{region}.key").read_text().strip().splitlines()[1:-1]
    for resource in run.resources:
        recorded = json.dumps([resource.inputs, resource.outputs], default=str)
        assert not any(line in recorded for line in key_lines), resource.name
    assert not run.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    (writer,) = [r for r in run.resources if r.type.startswith("pulumi-python:dynamic") and "canary" in r.name]
    assert writer.inputs["secretArn"] == one(run, "aws:secretsmanager/secret:Secret").outputs["arn"]
    assert writer.inputs["keyFile"].endswith(f"devices/canary-{region}.key") and writer.inputs["region"] == region


def _writer(run: StackRun):
    (writer,) = [r for r in run.resources if r.type.startswith("pulumi-python:dynamic") and "canary" in r.name]
    return writer


def test_the_serialized_key_writer_holds_no_key_material(canary_primary, canary_pki):
    """Not even in the serialized dynamic provider (``__provider``, base64 dill) Pulumi stores (red team, issue 20)."""
    import base64

    from cryptography.hazmat.primitives import serialization

    pem = (canary_pki / "devices" / "canary-eu-west-1.key").read_text()
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    scalar = key.private_numbers().private_value.to_bytes(48, "big").lstrip(b"\0")
    writer = _writer(canary_primary)
    blob = base64.b64decode(writer.inputs["__provider"])
    for needle in (pem.encode(), der, scalar, b"PRIVATE KEY", *[line.encode() for line in pem.splitlines()[1:-1]]):
        assert needle not in blob
    assert set(writer.inputs) == {"__provider", "keyFile", "publicKeySha256", "region", "secretArn"}


def test_the_key_writer_loads_without_the_project_and_refresh_keeps_its_state(canary_primary, tmp_path):
    import subprocess
    import sys

    writer = _writer(canary_primary)
    script = ("import base64, dill, sys\n"
              "assert not any('work/main' in p and 'site-packages' not in p for p in sys.path)\n"
              "p = dill.loads(base64.b64decode(sys.stdin.read()))\n"
              "r = p.read('v1', {'secretArn': 'a', 'publicKeySha256': 'd'})\n"
              "print(r.id, r.outs)\n"
              "print(p.delete('v1', {}))\n")
    done = subprocess.run([sys.executable, "-c", script], input=writer.inputs["__provider"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["v1 {'secretArn': 'a', 'publicKeySha256': 'd'}", "None"]


@pytest.mark.parametrize("run_name, region", RUNS)
def test_the_secret_policy_and_the_canary_come_after_the_key_is_written(request, run_name, region):
    run = request.getfixturevalue(run_name)
    (writer,) = [r for r in run.resources if r.type.startswith("pulumi-python:dynamic") and "canary" in r.name]
    assert writer.urn in one(run, "aws:secretsmanager/secretPolicy:SecretPolicy").dependencies
    assert writer.urn in one(run, "aws:lambda/function:Function").dependencies


@pytest.mark.parametrize("run_name, region", RUNS)
def test_the_canary_has_reserved_concurrency_so_a_storm_cannot_throttle_it(request, run_name, region):
    function = one(request.getfixturevalue(run_name), "aws:lambda/function:Function").inputs
    assert function["reservedConcurrentExecutions"] == 2


@pytest.mark.parametrize("run_name, region", RUNS)
def test_three_failed_minutes_of_three_take_the_region_out_whichever_way_route53_reads_the_alarm(
        request, run_name, region):
    """Route 53 records only EvaluationPeriods, Threshold, ComparisonOperator, Period and Statistic of the alarm
    (botocore's CloudWatchAlarmConfiguration): with DatapointsToAlarm = EvaluationPeriods, reading the alarm's state
    and evaluating its datapoints agree (register row route53.alarm-health-check-reading)."""
    from botocore.loaders import Loader

    recorded = set(Loader().load_service_model("route53", "service-2")["shapes"]["CloudWatchAlarmConfiguration"]
                   ["members"])
    assert {"EvaluationPeriods", "Threshold", "ComparisonOperator", "Period", "Statistic"} <= recorded
    assert not {"DatapointsToAlarm", "TreatMissingData"} & recorded
    a = one(request.getfixturevalue(run_name), "aws:cloudwatch/metricAlarm:MetricAlarm").inputs
    assert (a["datapointsToAlarm"], a["evaluationPeriods"], a["period"]) == (3, 3, 60)  # 3 failed minutes of 3
    assert a["treatMissingData"] == "breaching"  # a canary that stops running still fails the region
    function = one(request.getfixturevalue(run_name), "aws:lambda/function:Function").inputs
    assert function["timeout"] == 30


class _Recorder:
    def __init__(self):
        self.put = []

    def put_metric_data(self, **kwargs):
        self.put.append(kwargs["MetricData"][0]["Value"])


@pytest.mark.parametrize("failure", ["secret", "probe"])
def test_a_canary_run_that_fails_before_probing_puts_a_zero_not_nothing(failure):
    """A missing minute may be read by Route 53 as insufficient data (= Unhealthy), so every failure is a 0."""
    from functions.canary import handler

    class Secrets:
        def get_secret_value(self, SecretId):
            if failure == "secret":
                raise TimeoutError("read timed out")
            return {"SecretString": "key"}

    def probe(*_args):
        raise ValueError("bad key")

    env = {"ENDPOINT_HOST": "h", "SERVER_NAME": "iot.example.com", "KEY_SECRET_ARN": "arn", "CLIENT_ID": "canary-x",
           "CERTIFICATE_PEM": "c", "TRUST_PEM": "t", "TOPIC": "canary/canary-x", "METRIC_NAMESPACE": "n",
           "METRIC_REGION": "eu-west-1"}
    cloudwatch = _Recorder()
    result = handler.run(env, secrets=Secrets(), cloudwatch=cloudwatch, probe=probe)
    assert cloudwatch.put == [0.0]
    assert (result["success"], result["step"]) == (False, "error")
    assert ("TimeoutError" if failure == "secret" else "ValueError") in result["detail"]


def test_the_canary_s_sdk_calls_end_inside_the_function_timeout():
    """Two attempts of at most 2 s to connect and 2 s to read, for the key and for the metric, plus the probe's 8 s:
    inside the 30 s timeout, so Lambda never kills a run before it puts its datapoint."""
    import inspect

    from components.canary import TIMEOUT_SECONDS
    from functions.canary import handler, probe

    config = handler.SDK_CONFIG
    per_call = config.retries["total_max_attempts"] * (config.connect_timeout + config.read_timeout)
    probe_budget = inspect.signature(probe.probe).parameters["timeout_s"].default
    assert 2 * per_call + probe_budget + 2 < TIMEOUT_SECONDS


def test_the_canary_reserved_concurrency_is_configurable(canary_pki):
    run = run_stack("eu-west-1", config_overrides={"pkiDir": str(canary_pki), "canaryReservedConcurrency": 5})
    assert one(run, "aws:lambda/function:Function").inputs["reservedConcurrentExecutions"] == 5


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
