"""Step Functions: every state machine logs, and runs as a Standard (exactly-once) workflow."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from . import types as t
from .common import MISSING, UNKNOWN, get

LOGGING_LEVELS = ("ALL", "ERROR", "FATAL")


def validate_sfn_logging(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != t.SFN_STATE_MACHINE:
        return
    logging = get(args.props, "loggingConfiguration")
    if logging is UNKNOWN:
        return
    if logging is MISSING:
        report('The state machine has no logging_configuration; set level "ERROR" (or "ALL") and '
               'log_destination "<log group ARN>:*".', None)
        return
    level = get(logging, "level")
    destination = get(logging, "logDestination")
    if level is not UNKNOWN and level not in LOGGING_LEVELS:
        shown = "OFF (the default)" if level is MISSING else f'"{level}"'
        report(f'The state machine logs at level {shown}; set logging_configuration.level to "ERROR" or "ALL".',
               None)
    if destination is MISSING or destination == "":
        report("The state machine's logging_configuration has no log_destination; set it to "
               '"<log group ARN>:*" of a log group with retention.', None)


def validate_sfn_standard(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != t.SFN_STATE_MACHINE:
        return
    kind = get(args.props, "type")
    if isinstance(kind, str) and kind.upper() == "EXPRESS":
        report('The state machine is an EXPRESS workflow, which runs at-least-once when started asynchronously; '
               'use type "STANDARD" (exactly-once), as the design requires.', None)


def policies() -> list[ResourceValidationPolicy]:
    mandatory = EnforcementLevel.MANDATORY
    return [
        ResourceValidationPolicy(
            name="sfn-logging-enabled",
            description="Step Functions state machines log executions to CloudWatch Logs.",
            validate=validate_sfn_logging,
            enforcement_level=mandatory,
        ),
        ResourceValidationPolicy(
            name="sfn-standard-workflow",
            description="Step Functions state machines are Standard workflows.",
            validate=validate_sfn_standard,
            enforcement_level=mandatory,
        ),
    ]
