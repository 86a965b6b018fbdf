"""The IoT policy attached to every device certificate.

Scoped by the ``iot:Connection.Thing.ThingName`` policy variable: a device may only connect
with its own thing name as client id (and only while its certificate is attached to that
thing), publish under ``i/<thing>/``, and subscribe/receive under ``e/<thing>/``. Because the
topic carries the thing name and the broker enforces it, rules may trust ``topic(2)``.
"""

from __future__ import annotations

from builders import arns

THING = "${iot:Connection.Thing.ThingName}"


def device_policy(region: str, account_id: str) -> dict:
    """Return the device policy document for one region."""

    def arn(resource: str) -> str:
        return arns.iot(region, account_id, resource)

    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ConnectAsOwnThing",
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": arn(f"client/{THING}"),
                "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
            },
            {
                "Sid": "PublishOwnTelemetry",
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": arn(f"topic/i/{THING}/*"),
            },
            {
                "Sid": "SubscribeOwnEvents",
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": arn(f"topicfilter/e/{THING}/*"),
            },
            {
                "Sid": "ReceiveOwnEvents",
                "Effect": "Allow",
                "Action": "iot:Receive",
                "Resource": arn(f"topic/e/{THING}/*"),
            },
        ],
    }
