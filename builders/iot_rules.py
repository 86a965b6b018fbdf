"""SQL of the IoT topic rules (SQL version 2016-03-23) and rule naming."""

from __future__ import annotations

import re
from dataclasses import dataclass

from functions.certificate_inspector import lease

SQL_VERSION = "2016-03-23"
TELEMETRY_TOPIC_FILTER = "i/+/m"


def rule_name(application: str, purpose: str) -> str:
    """IoT rule names allow only letters, digits and underscores."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", f"{application}_{purpose}")
    return name[:128]


@dataclass(frozen=True)
class LeaseLookup:
    """Where the JITR rule looks up a certificate's registration lease: the region's lease table, read with the
    rule's own role (``dynamodb:GetItem`` on that table only: builders.iam.rule_lease_lookup_statement)."""

    table: str
    role_arn: str


def jitr_sql(ca_certificate_id: str, leases: LeaseLookup | None = None) -> str:
    """Certificates auto-registered under our CA and waiting for activation, nothing else.

    With ``leases``, an event for a certificate whose registration lease is held and unexpired
    (functions/certificate_inspector/lease.py) starts nothing: AWS IoT publishes the event again on every
    connection of a PENDING_ACTIVATION certificate, and while one execution holds the lease every other would
    end as a duplicate after a StartExecution, its transitions and a Lambda invocation. One ``get_dynamodb()``
    (AWS allows one per statement) reads the lease; an absent or expired lease lets the event through.

    The filter is written for IoT SQL's Undefined: ``get_dynamodb(...)`` of a missing item, and every operator on
    it, is Undefined, and a WHERE that is not true drops the event, so ``NOT (lease is held)`` would drop a new
    device's first event. ``CASE held WHEN true THEN 'held' END`` is Undefined unless the lease is held (no
    match, or an Undefined subject: developer guide, iot-sql-case.md), and ``isUndefined`` of it is the answer.
    If the lookup itself fails, the rule runs no action and the device's next connection sends the event again.
    """
    sql = (f"SELECT * FROM '$aws/events/certificates/registered/{ca_certificate_id}' "
           "WHERE certificateStatus = 'PENDING_ACTIVATION'")
    if leases is None:
        return sql
    for what, value in (("lease table", leases.table), ("lookup role ARN", leases.role_arn)):
        if not value or "'" in value:
            raise ValueError(f"jitr_sql: the {what} {value!r} cannot be quoted in IoT SQL; pass the table's name "
                             "and the rule role's ARN as Pulumi resolves them")
    held = (f"get_dynamodb('{leases.table}', '{lease.KEY}', certificateId, '{leases.role_arn}')"
            f".{lease.EXPIRES} * 1000 > timestamp()")
    return f"{sql} AND isUndefined(CASE {held} WHEN true THEN 'held' END)"


def telemetry_sql(region: str) -> str:
    """One item per message: PK = thing (from the topic, which the device policy pins to the
    connected thing), SK = receive time in ms plus a unique suffix (two messages in the same
    millisecond must not overwrite each other), and the region that received it."""
    return (
        "SELECT topic(2) AS PK, "
        "concat(cast(timestamp() AS String), '#', newuuid()) AS SK, "
        "topic(2) AS Device, "
        f"'{region}' AS Region, "
        "timestamp() AS ReceivedAt, "
        "message AS Message "
        f"FROM '{TELEMETRY_TOPIC_FILTER}'"
    )
