"""Fix: ``DeleteThing`` of a thing with an attached principal fails with AWS's status code, not 409.

AWS refuses with ``InvalidRequestException`` "Cannot delete. Thing <name> is still attached to one or more
principals"; botocore's model gives ``InvalidRequestException`` HTTP 400. moto 5.2.5 raises the same code and
message (``ThingStillAttached``) with HTTP 409. The code is what botocore and Step Functions name the error by
(``Iot.InvalidRequestException``); the status is corrected so callers that look at it see what AWS sends.
With ``iot_detach_propagation`` a principal whose detach has not propagated yet still counts as attached.
Under the other outcome of the assumptions register's ``iot.delete-thing-with-principal`` (``localcloud.assumptions``)
DeleteThing detaches every principal and deletes the thing, as AWS did before 2019.
"""
from __future__ import annotations

from typing import Any

from ..patching import Patch

NAME = "iot_delete_thing"
PATCH = Patch(NAME)


def apply() -> None:
    from ..compat.moto.iot import IoTBackend, IoTClientError, ThingStillAttached

    def __init__(self: Any, name: str) -> None:
        IoTClientError.__init__(
            self, "InvalidRequestException", f"Cannot delete. Thing {name} is still attached to one or more principals"
        )
        self.code = 400

    PATCH.set(ThingStillAttached, "__init__", __init__)

    from ..assumptions import active
    from . import iot_detach_propagation

    original_delete = IoTBackend.delete_thing

    def delete_thing(self: Any, thing_name: str) -> None:
        # The refusal is what AWS has answered since 2019 (issue threads); before, AWS detached the principals and
        # deleted the thing (moto issues 2514/2586). The other outcome of the assumptions register's row
        # iot.delete-thing-with-principal.
        if active().delete_thing_with_principal == "detaches":
            self.describe_thing(thing_name)  # ResourceNotFoundException first, as moto
            with iot_detach_propagation._LOCK:
                iot_detach_propagation._complete(self, [key for key in list(self.principal_things)
                                                        if key[1] == thing_name])
        return original_delete(self, thing_name)

    PATCH.set(IoTBackend, "delete_thing", delete_thing)


def revert() -> None:
    PATCH.undo()
