"""SQS: queues (the pulumi-aws inputs as CreateQueue's string attributes) and queue policies."""

from __future__ import annotations

from typing import Any

import pulumi

from .common import client, ints, physical_name
from .registry import DeployContext, Result, UnsupportedResource, creates

# The pulumi-aws input -> the queue attribute CreateQueue takes (all strings).
QUEUE_ATTRIBUTES = {
    "delaySeconds": "DelaySeconds",
    "maxMessageSize": "MaximumMessageSize",
    "messageRetentionSeconds": "MessageRetentionPeriod",
    "receiveWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "visibilityTimeoutSeconds": "VisibilityTimeout",
    "sqsManagedSseEnabled": "SqsManagedSseEnabled",
    "kmsMasterKeyId": "KmsMasterKeyId",
    "kmsDataKeyReusePeriodSeconds": "KmsDataKeyReusePeriodSeconds",
    "fifoQueue": "FifoQueue",
    "contentBasedDeduplication": "ContentBasedDeduplication",
    "policy": "Policy",
    "redrivePolicy": "RedrivePolicy",
    "redriveAllowPolicy": "RedriveAllowPolicy",
}


def _attribute(value: Any) -> str:
    """SQS attributes are strings: booleans lower-case, Pulumi's float numbers as integers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(ints(value))


@creates("aws:sqs/queue:Queue")
def queue(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any], region: str) -> Result:
    name = physical_name(args, inputs, limit=80)
    unknown = set(inputs) - set(QUEUE_ATTRIBUTES) - {"name", "tags", "tagsAll", "region"}
    if unknown:
        raise UnsupportedResource(f"aws:sqs/queue:Queue {name!r}: inputs {sorted(unknown)} are not emulated")
    attributes = {member: _attribute(inputs[key]) for key, member in QUEUE_ATTRIBUTES.items()
                  if inputs.get(key) is not None}
    sqs = client("sqs", region)
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, {**inputs, "name": name, "arn": arn, "url": url}


@creates("aws:sqs/queuePolicy:QueuePolicy")
def queue_policy(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                 region: str) -> Result:
    client("sqs", region).set_queue_attributes(QueueUrl=inputs["queueUrl"], Attributes={"Policy": inputs["policy"]})
    return inputs["queueUrl"], {**inputs}
