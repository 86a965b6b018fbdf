"""Named fixes to moto: each one corrects a moto 5.2.5 behaviour that differs from AWS's, by name.

This is the second of the local cloud's three kinds of code (docs/emulator.md, "Layout"): AWS behaviour moto lacks
lives in ``localcloud.services``, the speed-ups in ``localcloud.speedups``; a fix here makes something moto already
does behave as AWS does (error names, status codes, ids, idempotency, asynchrony), or runs what moto would hand to
Docker (``lambda_inprocess``).

Use ``localcloud.fixes.apply()`` (idempotent) once per process, or ``with localcloud.fixes.patched():`` to scope them.
Each fix lives in its own module with ``NAME``, ``PATCH`` (its ``localcloud.patching.Patch``: what it changed, undone
by ``revert()``), ``apply()`` and ``revert()`` and is tested in
``tests/statemachines/test_patches.py``. Knobs (retry time scale, synchronous executions, detach propagation delay)
are in ``settings``; what each IoT fix models, and AWS's sources, are in ``docs/emulator.md``.

| module | fixes |
|---|---|
| ``sfn_sdk_shapes`` | aws-sdk task parameters PascalCase -> API shape, results -> PascalCase, timestamps as strings |
| ``sfn_error_names`` | aws-sdk errors named ``Iot.ResourceAlreadyExistsException`` / ``DynamoDb.…`` like Step Functions |
| ``sfn_execution_names`` | unnamed executions get a UUID instead of colliding on ``None`` |
| ``sfn_retry_sleep`` | retry intervals sleep ``interval * settings.retry_time_scale`` |
| ``sfn_runtime_errors`` | ``States.Runtime`` (a path selecting nothing) fails the execution: no Retry/Catch matches it, ``States.ALL`` included; a Choice rule on a missing path raises it |
| ``sfn_serial_executions`` | executions run synchronously (or one at a time): no dict races, deterministic |
| ``lambda_inprocess`` | Lambda Invoke runs the registered handler in-process with the function's env and region |
| ``iot_certificate_ids`` | certificate id = SHA-256 of the DER |
| ``iot_ca_link`` | certificates link to the registered CA that signed them; DescribeCertificate returns caCertificateId |
| ``iot_ca_registration`` | RegisterCACertificate keeps certificateMode / allowAutoRegistration |
| ``iot_event_configurations`` | Update/DescribeEventConfigurations implemented |
| ``iot_create_thing`` | CreateThing is idempotent for identical configuration |
| ``iot_detach_propagation`` | DetachThingPrincipal is asynchronous: the attachment lingers ``settings.detach_delay_calls`` IoT calls |
| ``iot_delete_thing`` | DeleteThing of a thing still attached: ``InvalidRequestException`` with HTTP 400, as AWS |
| ``iot_delete_certificate`` | DeleteCertificate refuses ACTIVE / attached certificates as AWS; forceDelete drops policy attachments |
| ``iot_certificate_status`` | UpdateCertificate: REVOKED is final (REVOKED -> REVOKED is a no-op); PENDING_* cannot be set |
| ``iot_detach_policy`` | DetachPolicy from a target not in the region: ``InvalidRequestException``, not ResourceNotFound |
| ``s3_secure_transport`` | bucket policies: ``Bool aws:SecureTransport`` evaluated, requests count as TLS (moto ignores the operator) |
| ``aws_calls`` | hooks ``localcloud.interception`` into moto's stubber: every call recorded, faults injected, gates and observers asked (not a moto gap: the hook tests need, applied with the fixes) |

Shared: ``localcloud.patching`` (the one patch mechanism: each fix's ``Patch``, which refuses a moto other than
``localcloud.compat.moto.WRITTEN_FOR``), ``localcloud.compat.moto`` (every moto internal a fix touches),
``localcloud.botocore_models`` (cached service models), ``settings`` (the knobs above).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from types import ModuleType
from collections.abc import Iterator

from . import (
    aws_calls,
    iot_ca_link,
    iot_ca_registration,
    iot_certificate_ids,
    iot_certificate_status,
    iot_create_thing,
    iot_delete_certificate,
    iot_delete_thing,
    iot_detach_policy,
    iot_detach_propagation,
    iot_event_configurations,
    lambda_inprocess,
    s3_secure_transport,
    sfn_error_names,
    sfn_execution_names,
    sfn_retry_sleep,
    sfn_runtime_errors,
    sfn_sdk_shapes,
    sfn_serial_executions,
)
from .settings import SETTINGS, Settings

FIXES: tuple[ModuleType, ...] = (
    sfn_sdk_shapes,
    sfn_error_names,
    sfn_execution_names,
    sfn_retry_sleep,
    sfn_runtime_errors,
    sfn_serial_executions,
    lambda_inprocess,
    iot_certificate_ids,
    iot_ca_link,
    iot_ca_registration,
    iot_event_configurations,
    iot_create_thing,
    iot_detach_propagation,
    iot_delete_thing,
    iot_delete_certificate,
    iot_certificate_status,
    iot_detach_policy,
    s3_secure_transport,
    aws_calls,
)
_LOCK = threading.Lock()

__all__ = ["FIXES", "SETTINGS", "Settings", "apply", "revert", "patched", "applied"]


def applied() -> list[str]:
    """Names of the fixes currently applied."""
    return [fix.NAME for fix in FIXES if fix.PATCH.applied]


def apply(only: tuple[str, ...] | None = None) -> None:
    """Apply every fix (or those named in ``only``); applying twice is harmless."""
    names = {fix.NAME for fix in FIXES}
    unknown = set(only or ()) - names
    if unknown:
        raise ValueError(f"unknown fix(es) {sorted(unknown)}; known: {sorted(names)}")
    with _LOCK:
        for fix in FIXES:
            if (only is None or fix.NAME in only) and not fix.PATCH.applied:
                fix.apply()


def revert() -> None:
    """Undo every applied fix (reverse order)."""
    with _LOCK:
        for fix in reversed(FIXES):
            fix.revert()


@contextmanager
def patched(only: tuple[str, ...] | None = None) -> Iterator[None]:
    """Apply the fixes for the duration of the block, then revert the ones this block applied."""
    before = set(applied())
    apply(only)
    try:
        yield
    finally:
        with _LOCK:
            for fix in reversed(FIXES):
                if fix.NAME not in before:
                    fix.revert()
