"""The registration lease: one JITR execution at a time works on a certificate in a region.

AWS IoT publishes the registration event again on every connection of a PENDING_ACTIVATION certificate, so in a storm
(devices reconnecting while the IoT control plane throttles) one certificate starts many JITR executions. Each would
spend a DescribeCertificate (10 TPS per account and region) and then the IoT steps again before it could tell it was a
duplicate. The inspector therefore takes a lease first: a conditional PutItem on a small regional table keyed by
certificate id, with an explicit expiry checked in the condition (DynamoDB TTL deletes expired items only eventually,
so an expired lease must be taken over on its ``ExpiresAt``, not on its absence). The item is
``contract/items.py``'s (the JITR machine releases it, ``components/registration.py`` makes its table). A duplicate fails the condition and
raises :class:`RegistrationInProgress` before any IoT call. Every duplicate registration event reaches this
condition: the JITR topic rule cannot read the lease safely (``builders.iot_rules.jitr_sql``).

The owner is the execution: a Step Functions retry of the inspector task (the same execution) takes its own lease
again. The JITR machine releases the lease on every path that leaves the certificate PENDING_ACTIVATION (a
conditional DeleteItem on the owner), so the device's next connection retries at once; if even that fails the lease
expires after ``LEASE_SECONDS``. A successful registration leaves it to expire (the certificate is ACTIVE: no
more events). Nothing here decides ownership of the thing name: that stays the inventory's conditional write.
"""
from __future__ import annotations

import time
from typing import Any
from collections.abc import Callable

from contract.items import LEASE_CONDITION, LEASE_EXPIRES, LEASE_KEY, LEASE_OWNER, LEASE_SECONDS


class RegistrationInProgress(Exception):
    """Another execution holds this certificate's registration lease in this region: this one is a duplicate."""


def take(dynamodb: Any, table: str, certificate_id: str, owner: str, *,
         clock: Callable[[], float] | None = None, seconds: int = LEASE_SECONDS) -> None:
    """Take (or take again, as the same ``owner``) the lease of ``certificate_id``; raise
    :class:`RegistrationInProgress` while another owner holds an unexpired one. ``clock`` defaults to the wall
    clock (read when called, so a simulation can stand in for it)."""
    now = int((clock or time.time)())
    try:
        dynamodb.put_item(
            TableName=table,
            Item={LEASE_KEY: {"S": certificate_id}, LEASE_OWNER: {"S": owner},
                  LEASE_EXPIRES: {"N": str(now + seconds)}},
            ConditionExpression=LEASE_CONDITION,
            ExpressionAttributeNames={"#owner": LEASE_OWNER},
            ExpressionAttributeValues={":now": {"N": str(now)}, ":owner": {"S": owner}},
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        raise RegistrationInProgress(
            f"certificate {certificate_id} is being registered by another execution in this region; "
            "this duplicate registration event needs nothing done") from None
