"""An encrypted SQS queue kept 14 days, and an alarm while it holds a message: where work that must not be
lost waits for an operator (the replication dead letters and the telemetry errors)."""

from __future__ import annotations

from typing import NamedTuple

import pulumi
import pulumi_aws as aws

from components.alarms import above_zero_alarm

# SQS's maximum retention: an operator has two weeks to notice, fix the cause and take the messages back.
RETENTION_SECONDS = 14 * 24 * 60 * 60


class WatchedQueue(NamedTuple):
    queue: aws.sqs.Queue
    alarm: aws.cloudwatch.MetricAlarm


def watched_queue(name: str, *, queue_name: str, alarm_name: str, alarm_description: str,
                  alarm_topic_arn: str | None, parent: pulumi.Resource) -> WatchedQueue:
    """``<name>`` (SSE-SQS, 14 days) and ``<name>-alarm`` on its ApproximateNumberOfMessagesVisible > 0,
    notifying ``alarm_topic_arn`` (when given) on the way into alarm and back to OK."""
    queue = aws.sqs.Queue(
        name,
        name=queue_name,
        sqs_managed_sse_enabled=True,
        message_retention_seconds=RETENTION_SECONDS,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    alarm = above_zero_alarm(
        f"{name}-alarm",
        alarm_name=alarm_name,
        description=alarm_description,
        namespace="AWS/SQS",
        metric_name="ApproximateNumberOfMessagesVisible",
        dimensions={"QueueName": queue.name},
        statistic="Maximum",
        topic_arn=alarm_topic_arn,
        opts=pulumi.ResourceOptions(parent=queue),
    )
    return WatchedQueue(queue, alarm)
