"""AWS API throttling on a simulated clock: a token bucket per (service, operation, region) from the quota data.

Installed as a ``localcloud.interception`` gate, so it sees every SDK call that reaches moto: Step Functions aws-sdk
tasks, the inspector Lambda's own boto3 clients, and the calls ``speedups.direct_sdk`` answers in-process (it asks the gate
too). A refused call gets the service's modelled ``ThrottlingException`` (for IoT: HTTP 400,
``x-amzn-ErrorType: ThrottlingException``): boto3 raises ``client.exceptions.ThrottlingException`` and Step Functions
names it ``Iot.ThrottlingException``, as in AWS. State transitions are not calls: ``transition_wait`` tells the
simulated clock how long one waits for the account's state-transition bucket (``storm.simulated``).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from localcloud import interception
from quotas import Quotas

from .bucket import TokenBucket

ERROR_CODE = {"iot": "ThrottlingException", "sfn": "ThrottlingException"}


class Throttle:
    """``decide`` for ``interception``; ``admitted`` and ``throttled`` count calls per (service, op, region)."""

    def __init__(self, quotas: Quotas, now: Callable[[], float]) -> None:
        self.quotas = quotas
        self.now = now
        self.buckets: dict[tuple[str, str, str], TokenBucket | None] = {}
        self.admitted: Counter[tuple[str, str, str]] = Counter()
        self.throttled: Counter[tuple[str, str, str]] = Counter()
        self.services = {service for service, _ in quotas.apis}

    def _bucket(self, key: tuple[str, str, str], limit: str | None = None) -> TokenBucket | None:
        """The bucket of ``key``, made on first use from the API's quota (or the named ``limit``'s)."""
        if key not in self.buckets:
            found = self.quotas.bucket(*key) if limit is None else self.quotas.limit(limit, key[2])
            self.buckets[key] = None if found is None else TokenBucket(found.burst, found.rate, updated=self.now())
        return self.buckets[key]

    def decide(self, call: interception.Call) -> str | None:
        key = (call.service, call.operation, call.region)
        bucket = self._bucket(key)
        if bucket is None:
            return None
        if bucket.take(self.now()):
            self.admitted[key] += 1
            return None
        self.throttled[key] += 1
        return ERROR_CODE.get(call.service, "ThrottlingException")

    def transition_wait(self, region: str) -> float:
        """Seconds a Step Functions state transition in ``region`` waits for its token (``sfn:StateTransition`` in the
        quota data's limits): AWS delays a throttled transition rather than failing it. 0 when not limited."""
        key = ("sfn", "StateTransition", region)
        bucket = self._bucket(key, limit="sfn:StateTransition")
        if bucket is None:
            return 0.0
        wait = bucket.reserve(self.now())
        if wait > 0:
            self.throttled[key] += 1
        else:
            self.admitted[key] += 1
        return wait

    def install(self) -> Throttle:
        interception.add_gate(self)
        return self

    def uninstall(self) -> None:
        interception.remove_gate(self)

    def __enter__(self) -> Throttle:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()
