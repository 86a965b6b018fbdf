"""What a review of the program against AWS's documentation found (issue 11), under Pulumi mocks.

Each test names the AWS page that settles the expected behaviour."""

from __future__ import annotations

import json

import pytest

from localcloud.mockrun import StackRun


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
    rules = run.of_type("aws:iot/topicRule:TopicRule")
    assert len(rules) >= 2
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
