"""An IoT topic rule with its own role and an error action that logs failed actions."""

from __future__ import annotations

from typing import Any, Callable

import pulumi
import pulumi_aws as aws

from builders import arns, iam
from builders.iot_rules import SQL_VERSION
from components.roles import service_role


def topic_rule(name: str, *, rule_name: str, region: str, account_id: str, description: str,
               sql: pulumi.Input[str], action_statement: pulumi.Input[dict],
               actions: Callable[[pulumi.Output[str]], dict[str, Any]], log_retention_days: int,
               parent: pulumi.Resource, depends_on: list[pulumi.Resource] | None = None) -> aws.iot.TopicRule:
    """Create ``rule_name``. ``action_statement`` is the IAM statement its actions need;
    ``actions(role_arn)`` returns the TopicRule action arguments (e.g. ``{"step_functions": [...]}``)."""
    errors = aws.cloudwatch.LogGroup(
        f"{name}-errors",
        name=f"/aws/iot/rules/{rule_name}/errors",
        retention_in_days=log_retention_days,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    role = service_role(
        name,
        service="iot",
        account_id=account_id,
        source_arn=arns.topic_rule(region, account_id, rule_name),
        policy=pulumi.Output.all(action_statement, errors.arn).apply(
            lambda v: iam.document([v[0], iam.rule_error_log_statement(v[1])])),
        parent=parent,
        description=f"Lets the {rule_name} topic rule run its actions",
    )
    return aws.iot.TopicRule(
        name,
        name=rule_name,
        description=description,
        enabled=True,
        sql=sql,
        sql_version=SQL_VERSION,
        error_action=aws.iot.TopicRuleErrorActionArgs(cloudwatch_logs=aws.iot.TopicRuleErrorActionCloudwatchLogsArgs(
            log_group_name=errors.name, role_arn=role.arn)),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=role.ready() + list(depends_on or [])),
        **actions(role.arn),
    )
