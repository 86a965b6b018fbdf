"""The telemetry loop: publish QoS 1 messages; when the region is lost, reconnect wherever the domain resolves.

A message counts as delivered only when its PUBACK arrived; a message whose connection closed first is sent
again on the next connection (at least once), so no message the endpoint acknowledged is missing and none is
dropped silently. Reconnection goes through the same endpoint (domain + resolver), so after a region is
marked down the DNS answer sends the device to another region.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from device.session import Lost, Refused, Session, connect_with_backoff


@dataclass
class TelemetryReport:
    acknowledged: list[int] = field(default_factory=list)  # sequence numbers with a PUBACK
    resent: list[int] = field(default_factory=list)  # sent again after losing the connection
    connections: int = 0
    attempts: int = 0


def run(make: Callable[[], Session], thing: str, *, count: int, interval_s: float = 0.0,
        topic: str | None = None, attempts: int = 10, base_s: float = 0.2, cap_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep, log: Callable[[str], None] = lambda _: None,
        before_each: Callable[[int], None] = lambda _: None) -> TelemetryReport:
    """Publish ``count`` messages ``{"seq": n, ...}`` to ``i/<thing>/m`` (or ``topic``)."""
    report = TelemetryReport()
    topic = topic or f"i/{thing}/m"
    session: Session | None = None
    sequence = 0
    try:
        while sequence < count:
            if session is None or not session.connected:
                if session is not None:
                    session.close()
                session, tries = connect_with_backoff(make, attempts=attempts, base_s=base_s, cap_s=cap_s, sleep=sleep,
                                                      on_refused=lambda n, why, d: log(f"refused ({why}); retry in {d:.2f} s"))
                report.connections += 1
                report.attempts += tries
                log(f"connected (attempt {tries})")
            before_each(sequence)
            payload = json.dumps({"seq": sequence, "message": f"telemetry {sequence} from {thing}"})
            try:
                session.publish(topic, payload, qos=1)
            except (Lost, Refused) as lost:
                log(f"message {sequence} not acknowledged ({lost}); reconnecting")
                report.resent.append(sequence)
                continue
            report.acknowledged.append(sequence)
            sequence += 1
            if interval_s:
                sleep(interval_s)
    finally:
        if session is not None:
            session.close()
    return report
