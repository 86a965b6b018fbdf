"""Data at rest: DynamoDB recovery and encryption, SQS queue encryption, CloudWatch log retention."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from . import types as t
from .common import MISSING, UNKNOWN, get, items


def _is_true(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def validate_dynamodb_pitr(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != t.DYNAMODB_TABLE:
        return
    enabled = get(args.props, "pointInTimeRecovery", "enabled")
    if enabled is not UNKNOWN and not _is_true(enabled):
        report('The table does not enable point-in-time recovery; set point_in_time_recovery={"enabled": True}.',
               None)
    for replica in items(get(args.props, "replicas")):
        if replica is UNKNOWN:
            continue
        region = get(replica, "regionName")
        replica_pitr = get(replica, "pointInTimeRecovery")
        if replica_pitr is not UNKNOWN and not _is_true(replica_pitr):
            name = region if isinstance(region, str) else "?"
            report(f'Replica "{name}" does not enable point-in-time recovery; set point_in_time_recovery=True '
                   "on that replica (each replica has its own setting).", None)


def validate_dynamodb_sse(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != t.DYNAMODB_TABLE:
        return
    enabled = get(args.props, "serverSideEncryption", "enabled")
    if enabled is UNKNOWN or _is_true(enabled):
        return
    report("The table is encrypted only with the AWS owned key (server_side_encryption is not enabled); set "
           'server_side_encryption={"enabled": True} (optionally with kms_key_arn) so the key is visible and '
           "auditable in the account.", None)


def validate_sqs_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A queue is encrypted if it says so: SSE-SQS (``sqsManagedSseEnabled``) or a KMS key
    (``kmsMasterKeyId``). Dead letters carry whole device records (certificate PEMs)."""
    if args.resource_type != t.SQS_QUEUE:
        return
    sse = get(args.props, "sqsManagedSseEnabled")
    kms = get(args.props, "kmsMasterKeyId")
    if sse is UNKNOWN or kms is UNKNOWN or _is_true(sse) or (isinstance(kms, str) and kms):
        return
    report("The queue does not declare encryption at rest; set sqs_managed_sse_enabled=True (SSE-SQS, which "
           "EventBridge can deliver to) or kms_master_key_id.", None)


def validate_log_group_retention(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != t.LOG_GROUP:
        return
    days = get(args.props, "retentionInDays")
    if days is UNKNOWN:
        return
    if days is MISSING or days == 0 or days == "0":
        report("The log group keeps its events forever; set retention_in_days (e.g. 30).", None)


def policies() -> list[ResourceValidationPolicy]:
    mandatory = EnforcementLevel.MANDATORY
    return [
        ResourceValidationPolicy(
            name="dynamodb-point-in-time-recovery",
            description="DynamoDB tables and every replica enable point-in-time recovery.",
            validate=validate_dynamodb_pitr,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="dynamodb-server-side-encryption",
            description="DynamoDB tables enable server-side encryption with a KMS key.",
            validate=validate_dynamodb_sse,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="sqs-queue-encrypted",
            description="SQS queues declare server-side encryption (SSE-SQS or a KMS key).",
            validate=validate_sqs_encryption,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="log-group-retention",
            description="CloudWatch log groups set a retention period.",
            validate=validate_log_group_retention,
            enforcement_level=mandatory,
        ),
    ]
