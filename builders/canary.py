"""The regional canary's names and documents (docs/design.md, "Health-checked failover").

The canary is a program-made device: its certificate (``python -m pki issue-device canary-<region>``) is registered
ACTIVE by the program with RegisterCertificateWithoutCA, so a connection never triggers just-in-time registration,
the certificate inspector never sees it and no inventory item (hence no replication) is ever written for it. Thing
names with the reserved prefix ``canary-`` are refused wherever a name enters (one rule,
``contract/names.py``: pki, ops allow-list, the provisioning API, fleet provisioning, the inspector), so
a device naming itself a canary cannot claim that name either.
"""

from __future__ import annotations

from builders import arns
from builders.iam import document, log_writer_statement, statement
from contract.names import CANARY_PREFIX

#: Thing names starting with this are the program's canaries; every way in refuses them (contract/names.py).
RESERVED_PREFIX = CANARY_PREFIX
METRIC_NAME = "Success"
DIMENSION = "Region"
THING = "${iot:Connection.Thing.ThingName}"


def thing_name(region: str) -> str:
    """The canary's thing name, client id and certificate CN in ``region``."""
    return f"{RESERVED_PREFIX}{region}"


def topic(thing: str) -> str:
    """The one topic the canary publishes to and subscribes to: outside ``i/+/m``, so no rule stores it."""
    return f"canary/{thing}"


def metric_namespace(application: str) -> str:
    return f"{application}/Canary"


def iot_policy(region: str, account_id: str, thing: str) -> dict:
    """Connect as the canary thing only (attached certificate), publish/subscribe/receive its own topic only.

    Resources use the thing-name policy variable (the policy pack's device rule) and every statement also pins the
    variable's value to ``thing`` with ``StringEquals``, so the policy grants nothing to any other thing even if it
    were attached to another certificate."""
    def arn(resource: str) -> str:
        return arns.iot(region, account_id, resource)

    only_the_canary = {"StringEquals": {"iot:Connection.Thing.ThingName": thing}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ConnectAsTheCanary", "Effect": "Allow", "Action": "iot:Connect",
             "Resource": arn(f"client/{THING}"),
             "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}, **only_the_canary}},
            {"Sid": "PublishAndReceiveOwnTopic", "Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
             "Resource": arn(f"topic/canary/{THING}"), "Condition": only_the_canary},
            {"Sid": "SubscribeOwnTopic", "Effect": "Allow", "Action": "iot:Subscribe",
             "Resource": arn(f"topicfilter/canary/{THING}"), "Condition": only_the_canary},
        ],
    }


def role_policy(*, region: str, secret_arn: str, kms_key_arn: str, namespace: str, log_group_arn: str) -> dict:
    """Read its one secret (decrypting through Secrets Manager only), put metrics in its one namespace, log."""
    return document([
        statement(["secretsmanager:GetSecretValue"], [secret_arn], sid="ReadCanaryKey"),
        statement(["kms:Decrypt"], [kms_key_arn], sid="DecryptCanaryKeyThroughSecretsManager",
                  condition={"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}),
        # PutMetricData has no resource type ("*" only); the namespace condition key narrows it.
        statement(["cloudwatch:PutMetricData"], ["*"], sid="PutCanaryMetric",
                  condition={"StringEquals": {"cloudwatch:namespace": namespace}}),
        log_writer_statement(log_group_arn),
    ])


def secret_policy(reader_role_arn: str, deployer_arn: str) -> dict:
    """The secret's resource policy: nobody but the canary's role and the principal that deploys the stack (which
    wrote the key and manages the secret: `pulumi refresh` and `destroy` run as it) may read its value. A Deny, so an
    identity policy elsewhere in the account granting secretsmanager:GetSecretValue on "*" does not reach it. In a
    secret's resource policy ``"Resource": "*"`` means that secret. For an assumed role, ``aws:PrincipalArn`` is the
    role's ARN, which is what ``deployer_arn`` must be (aws.iam.get_session_context's issuer_arn)."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "OnlyTheCanaryAndTheDeployerRead", "Effect": "Deny", "Principal": "*",
            "Action": "secretsmanager:GetSecretValue", "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:PrincipalArn": [reader_role_arn, deployer_arn]}},
        }],
    }
