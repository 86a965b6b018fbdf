"""The project's CloudWatch alarms: one shape, "in alarm while the metric is above zero", notifying the optional
``alarmTopicArn`` both when it goes off and when it clears."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


def above_zero_alarm(resource_name: str, *, alarm_name: str, description: str, namespace: str, metric_name: str,
                     dimensions: pulumi.Input[dict[str, pulumi.Input[str]]], statistic: str, topic_arn: str | None,
                     opts: pulumi.ResourceOptions, period_seconds: int = 300) -> aws.cloudwatch.MetricAlarm:
    """An alarm on ``namespace``/``metric_name`` > 0 over one ``period_seconds`` period; no data is not a breach (an
    idle metric reports nothing)."""
    actions = [topic_arn] if topic_arn else []
    return aws.cloudwatch.MetricAlarm(
        resource_name,
        name=alarm_name,
        alarm_description=description,
        namespace=namespace,
        metric_name=metric_name,
        dimensions=dimensions,
        statistic=statistic,
        period=period_seconds,
        evaluation_periods=1,
        threshold=0,
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="notBreaching",
        alarm_actions=actions,
        ok_actions=actions,
        opts=opts,
    )
