"""Fix: ``DeleteThing`` of a thing with an attached principal fails with AWS's status code, not 409.

AWS refuses with ``InvalidRequestException`` "Cannot delete. Thing <name> is still attached to one or more
principals"; botocore's model gives ``InvalidRequestException`` HTTP 400. moto 5.2.5 raises the same code and
message (``ThingStillAttached``) with HTTP 409. The code is what botocore and Step Functions name the error by
(``Iot.InvalidRequestException``); the status is corrected so callers that look at it see what AWS sends.
With ``iot_detach_propagation`` a principal whose detach has not propagated yet still counts as attached.
"""
from __future__ import annotations

from typing import Any

from ._patching import Ledger

NAME = "iot_delete_thing"
LEDGER = Ledger(NAME)


def apply() -> None:
    from moto.iot.exceptions import IoTClientError, ThingStillAttached

    def __init__(self: Any, name: str) -> None:
        IoTClientError.__init__(
            self, "InvalidRequestException", f"Cannot delete. Thing {name} is still attached to one or more principals"
        )
        self.code = 400

    LEDGER.set(ThingStillAttached, "__init__", __init__)


def revert() -> None:
    LEDGER.revert()
