"""ARN builders for the resources our IAM and IoT policies name.

Kept in one place so that every policy narrows to the same, correct resource shapes.
"""

from __future__ import annotations


def iot(region: str, account_id: str, resource: str) -> str:
    """An AWS IoT ARN, e.g. ``iot(r, a, "thing/*")``."""
    return f"arn:aws:iot:{region}:{account_id}:{resource}"


def dynamodb_table(region: str, account_id: str, table_name: str) -> str:
    """The ARN of a table (or of one region's replica of a global table)."""
    return f"arn:aws:dynamodb:{region}:{account_id}:table/{table_name}"


def state_machine(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:states:{region}:{account_id}:stateMachine:{name}"


def execution(region: str, account_id: str, state_machine_name: str) -> str:
    """All executions of one state machine (what DescribeExecution-style actions act on)."""
    return f"arn:aws:states:{region}:{account_id}:execution:{state_machine_name}:*"


def event_bus(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:events:{region}:{account_id}:event-bus/{name}"


def event_rule(region: str, account_id: str, bus_name: str, rule_name: str) -> str:
    """A rule's ARN; rules of the account's default bus carry no bus name."""
    if bus_name == "default":
        return f"arn:aws:events:{region}:{account_id}:rule/{rule_name}"
    return f"arn:aws:events:{region}:{account_id}:rule/{bus_name}/{rule_name}"


def topic_rule(region: str, account_id: str, rule_name: str) -> str:
    return f"arn:aws:iot:{region}:{account_id}:rule/{rule_name}"


def log_group(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:logs:{region}:{account_id}:log-group:{name}"


def pipe(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:pipes:{region}:{account_id}:pipe/{name}"


def sqs_queue(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{account_id}:{name}"
