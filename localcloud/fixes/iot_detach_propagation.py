"""Fix: ``DetachThingPrincipal`` is asynchronous, as in AWS; the attachment lingers for a while.

AWS (botocore's model and the API reference): "This call is asynchronous. It might take several seconds for the
detachment to propagate." A ``DeleteThing`` straight after the detach therefore fails with
``InvalidRequestException`` ("still attached to one or more principals"). moto 5.2.5 removes the attachment at
once, so a state machine that deletes the thing right after detaching it passes locally and fails in AWS.

Model: the detach returns success at once but the attachment stays in moto's ``principal_things`` (so
``ListThingPrincipals``, ``ListPrincipalThings``, ``DeleteThing``, ``DeleteCertificate`` and the IoT Core data
plane all still see it) until ``SETTINGS.detach_delay_calls`` further IoT API calls have been answered in the
same account and region; the call after those sees it gone. There is no wall clock in the local cloud, so time
is measured in calls: a state machine that retries ``DeleteThing`` gets there even though its retry sleeps are
scaled to 0 (``sfn_retry_sleep``), and one that does not retry fails as it would in AWS. ``0`` = synchronous.

Nothing else completes a pending detach: not ``Engines.settle()`` (a settle does not stand for "several seconds
passed"; it runs executions, which would otherwise never meet the race). Call :func:`complete_pending_detaches`
to jump to "later" explicitly. Attaching the same pair again while its detach is pending cancels the detach
(the later request wins).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from ..patching import Patch
from .settings import SETTINGS

NAME = "iot_detach_propagation"
PATCH = Patch(NAME)

_STATE = "_localcloud_detach_propagation"  # attribute on each moto IoTBackend (reset with the backend)
_LOCK = threading.RLock()


@dataclass
class _Propagation:
    """One backend's IoT API call counter and its pending detaches: (principal ARN, thing name) -> due call."""

    calls: int = 0
    pending: dict[tuple[str, str], int] = field(default_factory=dict)


def _state(backend: Any) -> _Propagation:
    state = backend.__dict__.get(_STATE)
    if state is None:
        state = _Propagation()
        setattr(backend, _STATE, state)
    return state


def _complete(backend: Any, keys: list[tuple[str, str]]) -> int:
    state = _state(backend)
    for key in keys:
        state.pending.pop(key, None)
        backend.principal_things.pop(key, None)
    return len(keys)


def _tick(backend: Any) -> None:
    """One more IoT API call reached this backend: complete the detaches it makes due."""
    with _LOCK:
        state = _state(backend)
        state.calls += 1
        if state.pending:
            _complete(backend, [key for key, due in state.pending.items() if state.calls > due])


def pending_detaches(account_id: str | None = None, region: str | None = None) -> list[tuple[str, str, str, str]]:
    """Detaches not yet propagated, as (account, region, principal ARN, thing name)."""
    from ..compat.moto.iot import iot_backends

    found = []
    with _LOCK:
        for account, region_name, backend in _backends(iot_backends, account_id, region):
            state = backend.__dict__.get(_STATE)
            for principal, thing in (state.pending if state else {}):
                found.append((account, region_name, principal, thing))
    return found


def complete_pending_detaches(account_id: str | None = None, region: str | None = None) -> int:
    """Propagate every pending detach now (optionally of one account / region); returns how many."""
    from ..compat.moto.iot import iot_backends

    done = 0
    with _LOCK:
        for _, _, backend in _backends(iot_backends, account_id, region):
            state = backend.__dict__.get(_STATE)
            if state and state.pending:
                done += _complete(backend, list(state.pending))
    return done


def _backends(backends: Any, account_id: str | None, region: str | None) -> list[tuple[str, str, Any]]:
    found = []
    for account, regional in list(backends.items()):
        if account_id is not None and account != account_id:
            continue
        for region_name, backend in list(regional.items()):
            if region is None or region_name == region:
                found.append((account, region_name, backend))
    return found


def apply() -> None:
    from ..compat.moto.iot import IoTBackend, IoTResponse, ResourceNotFoundException

    original_call_action = IoTResponse.call_action
    original_detach = IoTBackend.detach_thing_principal
    original_attach = IoTBackend.attach_thing_principal

    def call_action(self: Any) -> Any:
        # Count the call once it has been answered, so the detach call itself and the
        # ``detach_delay_calls`` calls after it still see the attachment.
        try:
            return original_call_action(self)
        finally:
            backend = _backend_of(self)
            if backend is not None:
                _tick(backend)

    def detach_thing_principal(self: Any, thing_name: str, principal_arn: str) -> None:
        delay = SETTINGS.detach_delay_calls
        if delay <= 0:
            with _LOCK:
                _state(self).pending.pop((principal_arn, thing_name), None)
            return original_detach(self, thing_name, principal_arn)
        self._get_principal(principal_arn)  # ResourceNotFoundException as moto (and AWS) raise them
        self.describe_thing(thing_name)
        key = (principal_arn, thing_name)
        with _LOCK:
            if key not in self.principal_things:
                raise ResourceNotFoundException()
            state = _state(self)
            # due: the count after which it is gone. This call is counted once answered (calls + 1),
            # then ``delay`` more calls still see the attachment: gone once the count passes calls + delay.
            state.pending.setdefault(key, state.calls + delay)

    def attach_thing_principal(self: Any, thing_name: str, principal_arn: str) -> None:
        original_attach(self, thing_name, principal_arn)
        with _LOCK:
            _state(self).pending.pop((principal_arn, thing_name), None)

    PATCH.set(IoTResponse, "call_action", call_action)
    PATCH.set(IoTBackend, "detach_thing_principal", detach_thing_principal)
    PATCH.set(IoTBackend, "attach_thing_principal", attach_thing_principal)


def _backend_of(response: Any) -> Any:
    """The moto IoT backend a response object answered for (None if it never got that far)."""
    from ..compat.moto.iot import iot_backends

    account, region = getattr(response, "current_account", None), getattr(response, "region", None)
    if not account or not region:
        return None
    try:
        return iot_backends[account][region]
    except KeyError:
        return None


def revert() -> None:
    PATCH.undo()
