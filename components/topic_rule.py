"""An IoT topic rule with its own role and an error action, so that no failed action goes unseen.

AWS runs a rule's error action when one of its actions fails, with one message per rule and message:
ruleName, topic, clientId, base64OriginalPayload and the failures
(https://docs.aws.amazon.com/iot/latest/developerguide/rule-error-handling.html). By default the error action
writes that message to a CloudWatch Logs group of the rule; a rule whose messages must not be lost (telemetry)
gives ``error_queue`` instead, and the message, with the original payload, waits in that SQS queue."""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

import pulumi
import pulumi_aws as aws

from builders import arns, iam
from builders.iot_rules import SQL_VERSION
from components.context import RegionContext
from components.roles import service_role


def topic_rule(name: str, *, rule_name: str, context: RegionContext, description: str,
               sql: pulumi.Input[str],
               action_statement: pulumi.Input[dict],
               actions: Callable[[pulumi.Output[str]], dict[str, Any]],
               parent: pulumi.Resource, depends_on: list[pulumi.Resource] | None = None,
               error_queue: aws.sqs.Queue | None = None, enabled: bool = True) -> aws.iot.TopicRule:
    """Create ``rule_name``. ``action_statement`` is the IAM statement its actions need;
    ``actions(role_arn)`` returns the TopicRule action arguments (e.g. ``{"step_functions": [...]}``).
    Failed actions go to ``error_queue`` (sqs:SendMessage on that queue only) or, without one, to the log group
    ``/aws/iot/rules/<rule_name>/errors``."""
    errors: aws.cloudwatch.LogGroup | None = None
    if error_queue is not None:
        error_statement = error_queue.arn.apply(iam.rule_error_queue_statement)
    else:
        errors = aws.cloudwatch.LogGroup(
            f"{name}-errors",
            name=f"/aws/iot/rules/{rule_name}/errors",
            retention_in_days=context.log_retention_days,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        error_statement = errors.arn.apply(iam.rule_error_log_statement)
    role = service_role(
        name,
        service="iot",
        account_id=context.account_id,
        source_arn=arns.topic_rule(context.region, context.account_id, rule_name),
        policy=pulumi.Output.all(action_statement, error_statement).apply(lambda v: iam.document([v[0], v[1]])),
        parent=parent,
        description=f"Lets the {rule_name} topic rule run its actions",
    )
    if error_queue is not None:
        error_action = aws.iot.TopicRuleErrorActionArgs(sqs=aws.iot.TopicRuleErrorActionSqsArgs(
            queue_url=error_queue.url, role_arn=role.arn, use_base64=False))
    else:
        assert errors is not None, "made above when there is no error queue"
        error_action = aws.iot.TopicRuleErrorActionArgs(cloudwatch_logs=aws.iot.TopicRuleErrorActionCloudwatchLogsArgs(
            log_group_name=errors.name, role_arn=role.arn))
    return aws.iot.TopicRule(
        name,
        name=rule_name,
        description=description,
        enabled=enabled,
        sql=sql,
        sql_version=SQL_VERSION,
        error_action=error_action,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=role.ready() + list(depends_on or [])),
        **actions(role.arn),
    )
