"""SQL of the IoT topic rules (SQL version 2016-03-23); their names derive in ``contract/resources.py``."""

from __future__ import annotations

from contract.resources import rule_name  # noqa: F401 - re-exported: the components name their rules with it

SQL_VERSION = "2016-03-23"
TELEMETRY_TOPIC_FILTER = "i/+/m"


def jitr_sql(ca_certificate_id: str) -> str:
    """Certificates auto-registered under our CA and waiting for activation, nothing else.

    Every such event starts an execution, duplicates included (AWS IoT publishes the event again on each
    connection of a PENDING_ACTIVATION certificate): the state machine's inspector ends a duplicate at the
    certificate's registration lease (functions/certificate_inspector/lease.py). The rule reads nothing else:
    AWS does not document ``get_dynamodb()`` of a missing item, and a re:Post answer
    (repost.aws/questions/QUtmrQNjM4SkiP8mWy31_8Ew) reports a FunctionExecution error that makes the rule match
    nothing, with no error action (those cover failed actions only: rule-error-handling.html). A lease lookup in
    WHERE would then drop every new certificate's first event, since it has no lease yet (docs/design.md,
    "Duplicate registration events end at the lease").
    """
    return (f"SELECT * FROM '$aws/events/certificates/registered/{ca_certificate_id}' "
            "WHERE certificateStatus = 'PENDING_ACTIVATION'")


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
