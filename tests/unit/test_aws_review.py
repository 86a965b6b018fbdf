"""What a review of the program against AWS's documentation found (issue 11), under Pulumi mocks.

Each test names the AWS page that settles the expected behaviour."""

from __future__ import annotations

import json
import re

import pytest

from components.config import ConfigError
from localcloud.mockrun import StackRun, run_stack

PRIMARY_REF = "organization/multi-region-iot/eu-west-1"


def role_policy_by_role_arn(run: StackRun) -> dict[str, dict]:
    """Inline policy document of each role, keyed by the role's ARN."""
    arn_by_name = {role.outputs["name"]: role.outputs["arn"] for role in run.of_type("aws:iam/role:Role")}
    return {arn_by_name[p.inputs["role"]]: json.loads(p.inputs["policy"])
            for p in run.of_type("aws:iam/rolePolicy:RolePolicy")}


# -- 1. The CloudWatch Logs rule action needs CreateLogStream, DescribeLogStreams and PutLogEvents ------------
# https://docs.aws.amazon.com/iot/latest/developerguide/cloudwatch-logs-rule-action.html (Requirements)

@pytest.mark.parametrize("run_name", ["primary_run", "secondary_run"])
def test_every_rules_error_action_role_may_describe_the_log_streams_of_its_log_group(request, run_name):
    run = request.getfixturevalue(run_name)
    policies = role_policy_by_role_arn(run)
    groups = {g.inputs["name"]: g.outputs["arn"] for g in run.of_type("aws:cloudwatch/logGroup:LogGroup")}
    rules = [r for r in run.of_type("aws:iot/topicRule:TopicRule") if "cloudwatchLogs" in r.inputs["errorAction"]]
    assert rules  # the telemetry rule's error action is an SQS queue (tests/unit/test_telemetry_errors.py)
    for rule in rules:
        action = rule.inputs["errorAction"]["cloudwatchLogs"]
        document = policies[action["roleArn"]]
        (granted,) = [s for s in document["Statement"] if any(a.startswith("logs:") for a in s["Action"])]
        assert granted["Action"] == ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
        assert granted["Resource"] == [f"{groups[action['logGroupName']]}:*"], rule.inputs["name"]


# -- 2. The JITR event needs no account-wide event configuration ---------------------------------------------
# https://docs.aws.amazon.com/iot/latest/developerguide/auto-register-device-cert.html: AWS IoT publishes the
# registration event when it auto-registers a certificate or a PENDING_ACTIVATION certificate connects; the event
# configurations (https://docs.aws.amazon.com/iot/latest/developerguide/iot-events.html) are account-and-region wide.

@pytest.mark.parametrize("run_name", ["primary_run", "secondary_run"])
def test_no_stack_owns_the_accounts_event_configurations(request, run_name):
    run = request.getfixturevalue(run_name)
    assert not run.of_type("aws:iot/eventConfigurations:EventConfigurations")
    (rule,) = [r for r in run.of_type("aws:iot/topicRule:TopicRule") if r.inputs["name"] == "multi_region_iot_jitr"]
    assert "$aws/events/certificates/registered/" in rule.inputs["sql"]


# -- 3. Replicas are deletion-protected: dropping a region from `regions` must not delete its data -----------
# TableReplicaArgs.deletion_protection_enabled (pulumi-aws): "Default is `false`".

def tables(run: StackRun) -> list:
    # the global tables; the regional registration leases and pacing queues hold nothing that outlives a storm
    found = [t for t in run.of_type("aws:dynamodb/table:Table")
             if t.inputs["name"] not in ("multi-region-iot-registration-leases", "multi-region-iot-api-pacing")]
    assert len(found) == 3  # inventory, data, allow-list
    return found


def test_tables_and_every_replica_are_deletion_protected(primary_run):
    for table in tables(primary_run):
        assert table.inputs["deletionProtectionEnabled"] is True
        assert [(r["regionName"], r["deletionProtectionEnabled"]) for r in table.inputs["replicas"]] == \
            [("us-west-2", True)], table.inputs["name"]


def test_removable_regions_turns_protection_off_for_those_replicas_only(pki_dir):
    run = run_stack("eu-west-1", config_overrides={
        "pkiDir": str(pki_dir), "regions": ["eu-west-1", "us-west-2", "ap-south-1"],
        "removableRegions": ["ap-south-1"]})
    for table in tables(run):
        assert table.inputs["deletionProtectionEnabled"] is True
        assert {r["regionName"]: r["deletionProtectionEnabled"] for r in table.inputs["replicas"]} == \
            {"us-west-2": True, "ap-south-1": False}


def test_removable_regions_may_name_a_region_already_removed(pki_dir):
    run = run_stack("eu-west-1", config_overrides={"pkiDir": str(pki_dir), "removableRegions": ["ap-south-1"]})
    for table in tables(run):
        assert [(r["regionName"], r["deletionProtectionEnabled"]) for r in table.inputs["replicas"]] == \
            [("us-west-2", True)]


@pytest.mark.parametrize("value, message", [
    (["eu-west-1"], "names the primary region eu-west-1"),
    (["us-west-9"], "removableRegions[0] = 'us-west-9' is not an AWS region"),
    (["us-west-2", "us-west-2"], "lists a region twice"),
    ("us-west-2", "must be a list"),
])
def test_bad_removable_regions_are_refused(pki_dir, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        run_stack("eu-west-1", config_overrides={"pkiDir": str(pki_dir), "removableRegions": value})


def test_removable_regions_is_a_primary_setting(pki_dir, primary_run):
    with pytest.raises(ConfigError, match=re.escape("removableRegions is set on a secondary stack")):
        run_stack("us-west-2", config_overrides={"pkiDir": str(pki_dir), "removableRegions": ["us-west-2"]},
                  stack_outputs={PRIMARY_REF: primary_run.outputs})


# -- 4. One owner for the ACM validation record ------------------------------------------------------------
# https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html: the CNAME is "created specifically for your
# domain and your account" and "the CNAME validation token works for any AWS Region".

def validation_records(run: StackRun) -> list:
    return [r for r in run.of_type("aws:route53/record:Record") if r.inputs["name"] != "iot.example.com"]


def test_the_primary_alone_writes_the_validation_record_and_exports_it(primary_run):
    (record,) = validation_records(primary_run)
    assert record.inputs["type"] == "CNAME" and record.inputs["zoneId"] == "Z0123456789EXAMPLE"
    assert not record.inputs.get("allowOverwrite")  # never takes over a record someone else wrote
    (certificate,) = [c for c in primary_run.of_type("aws:acm/certificate:Certificate") if c.inputs.get("domainName")]
    (option,) = certificate.outputs["domainValidationOptions"]
    assert record.inputs["name"] == option["resourceRecordName"]
    assert record.inputs["records"] == [option["resourceRecordValue"]]
    (validation,) = primary_run.of_type("aws:acm/certificateValidation:CertificateValidation")
    assert validation.inputs["validationRecordFqdns"] == [record.outputs["fqdn"]]
    assert primary_run.outputs["validationRecordFqdns"] == [record.outputs["fqdn"]]


def test_a_secondary_writes_no_validation_record_and_waits_on_the_primarys(secondary_run, primary_run):
    assert validation_records(secondary_run) == []
    (validation,) = secondary_run.of_type("aws:acm/certificateValidation:CertificateValidation")
    (certificate,) = [c for c in secondary_run.of_type("aws:acm/certificate:Certificate") if c.inputs.get("domainName")]
    assert validation.inputs["certificateArn"] == certificate.outputs["arn"]
    assert validation.inputs["validationRecordFqdns"] == primary_run.outputs["validationRecordFqdns"]
    # ACM gives the same record in every region of the account: the primary's record is this certificate's.
    (option,) = certificate.outputs["domainValidationOptions"]
    assert [option["resourceRecordName"].rstrip(".")] == primary_run.outputs["validationRecordFqdns"]
    assert "validationRecordFqdns" not in secondary_run.outputs


def test_a_secondary_of_a_primary_without_the_export_says_to_update_the_primary(pki_dir, primary_run):
    outputs = {k: v for k, v in primary_run.outputs.items() if k != "validationRecordFqdns"}
    with pytest.raises(ConfigError, match=r"exports no validationRecordFqdns.*`pulumi up` on the primary first"):
        run_stack("us-west-2", config_overrides={"pkiDir": str(pki_dir)}, stack_outputs={PRIMARY_REF: outputs})
