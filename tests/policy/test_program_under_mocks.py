"""The pack over the real program: both stacks, run under Pulumi mocks, comply; tampering is caught.

This is what ``python -m localcloud preview STACK --policy-pack policy`` will do: records from
``localcloud.mockrun`` (``Resource.as_policy_dict`` plus the mock id) fed to ``policy.offline.evaluate``.
"""

from __future__ import annotations

import copy
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
    primary = run_stack("eu-west-1", config_overrides={"pkiDir": str(out)})
    secondary = run_stack("us-west-2", config_overrides={"pkiDir": str(out)},
                          stack_outputs={PRIMARY_REF: primary.outputs})
    return {run.stack: [dict(r.as_policy_dict(), id=r.id) for r in run.resources] for run in (primary, secondary)}


@pytest.mark.parametrize("stack", ["eu-west-1", "us-west-2"])
def test_both_stacks_comply_with_the_pack(records, stack: str) -> None:
    violations = evaluate(records[stack])
    assert violations == [], format_report(violations)


def test_the_pack_is_not_vacuous_over_the_program(records) -> None:
    types = {r["type"] for r in records["eu-west-1"]}
    for expected in ("aws:iot/domainConfiguration:DomainConfiguration", "aws:iot/policy:Policy",
                     "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy", "aws:dynamodb/table:Table",
                     "aws:sfn/stateMachine:StateMachine", "aws:s3/bucket:Bucket", "aws:lambda/function:Function",
                     "aws:cloudwatch/logGroup:LogGroup", "aws:iot/topicRule:TopicRule"):
        assert expected in types


def _first(resources: list[dict], resource_type: str) -> dict:
    return next(r for r in resources if r["type"] == resource_type)


def test_tampered_program_records_are_caught(records) -> None:
    resources = copy.deepcopy(records["eu-west-1"])
    _first(resources, "aws:iot/domainConfiguration:DomainConfiguration")["props"].pop("tlsConfig")
    seed_policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:*", "logs:*"], "Resource": "*"}]}
    _first(resources, "aws:iam/rolePolicy:RolePolicy")["props"]["policy"] = json.dumps(seed_policy)
    resources.remove(_first(resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"))
    found = sorted({v.policy_name for v in evaluate(resources)})
    assert found == ["iam-no-wildcard-actions", "iam-wildcard-resource-only-when-required", "iot-domain-tls13",
                     "s3-bucket-public-access-blocked"]


def test_with_an_alarm_topic_every_alarm_notifies_it_and_a_forgotten_one_is_caught(tmp_path):
    """With ``alarmTopicArn`` set, every alarm of the program (JITR failures, dead letters, telemetry errors,
    replication lag) notifies it, so the stack complies; an alarm stripped of its actions is caught."""
    pki.init_pki(tmp_path, "iot.example.com")
    topic = "arn:aws:sns:eu-west-1:123456789012:iot-alarms"
    run = run_stack("eu-west-1", config_overrides={"pkiDir": str(tmp_path), "alarmTopicArn": topic})
    resources = [dict(r.as_policy_dict(), id=r.id) for r in run.resources]
    assert evaluate(resources) == [], format_report(evaluate(resources))
    alarms = [r for r in resources if r["type"] == "aws:cloudwatch/metricAlarm:MetricAlarm"]
    assert len(alarms) >= 4 and all(a["props"]["alarmActions"] == [topic] for a in alarms)
    alarms[-1]["props"]["alarmActions"] = []
    found = evaluate(resources)
    assert [(v.policy_name, alarms[-1]["props"]["name"] in v.message) for v in found] == [
        ("cloudwatch-alarm-actions", True)], format_report(found)
