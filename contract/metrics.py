"""Our own CloudWatch metrics, each fact once: name, unit, dimension names and, where they are a fixed set, the
dimension values. The Lambdas emit them (:func:`emit`, one embedded-metric-format line per event: ``contract/emf.py``),
the dashboard builder graphs them (``builders/dashboard.py``) and the alarms watch them: a metric renamed here is
renamed everywhere, and tests/unit/test_metrics.py proves each function really writes the lines this catalog names.

Namespace: the one ``application`` setting (:func:`namespace`), handed to every function in its environment as
``METRICS_NAMESPACE`` (``components/function.py``). CloudWatch metrics are regional, so no metric carries a region
dimension except the canary's (the dimension its ``Success`` metric already has).

Every line is also the structured log record of its event: the fields (``thingName``, ``certificateId``,
``executionId``, ``api``, ``reason``, ``message``, ``level``, ...) are members of the JSON object, never text inside a
message. Without ``METRICS_NAMESPACE`` (a function run outside the program, e.g. by a test harness) the same line is
written without ``_aws``: a log record, no metric.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from . import emf, errors

#: The function environment variable holding the namespace.
NAMESPACE_VARIABLE = "METRICS_NAMESPACE"


def namespace(application: str) -> str:
    """Our metrics' namespace: the application itself (the canary's ``Success`` is in ``<application>/Canary``)."""
    return application


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    dimensions: tuple[str, ...]
    emitted_by: str  # the function folder under functions/
    description: str
    #: The values a dimension takes, where they are a fixed set (the dashboard graphs one line per value).
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False, compare=False)


# ---- dimension values ----------------------------------------------------------------------------------------------
#: The certificate inspector's verdicts (functions/certificate_inspector/inspector.py, ``verdict_for``).
REGISTRATION_VERDICTS = ("NEW", "KNOWN", "ROTATION")
#: Every error the inspector raises on purpose: the JITR machine's refusals, duplicates and lost claims.
REFUSAL_REASONS = tuple(name for names in errors.INSPECTOR.values() for name in names)
#: Why the pacer gave no slot (functions/pacer/pacing.py).
PACER_REFUSAL_REASONS = ("QueueTooLong", errors.PACING_CONTENTION)
#: The provisioning API's answers: ``Provisioned`` (200) or the ``error`` of its body (functions/provisioning_api).
PROVISIONING_OUTCOMES = ("Provisioned", "BadRequest", "Stale", "NotAuthorized", "Replayed", "BadCsr", "NotEnrolled",
                         "InProgress", "AlreadyProvisioned", "ThingNameTaken", "RetryLater", "ProvisioningFailed")
#: The fleet pre-provisioning hook's answer (``allowProvisioning``).
HOOK_VERDICTS = ("Admitted", "Refused")
#: The fleet certificate provider's answer to a CSR.
CERTIFICATE_VERDICTS = ("Certified", "Refused")

# ---- the metrics ---------------------------------------------------------------------------------------------------
REGISTRATIONS = Metric(
    "Registrations", "Count", ("Verdict",), "certificate_inspector",
    "Certificates the JITR inspector accepted, by verdict (NEW device, KNOWN here already, ROTATION)",
    {"Verdict": REGISTRATION_VERDICTS})
REFUSALS = Metric(
    "RegistrationRefusals", "Count", ("Reason",), "certificate_inspector",
    "Certificates the JITR inspector refused or deferred, by error name (impostor, decommissioned, duplicate, ...)",
    {"Reason": REFUSAL_REASONS})
PACER_SLOTS = Metric(
    "PacerSlots", "Count", ("Api",), "pacer",
    "Throttled AWS calls given a slot on their API's queue (one per throttled call the machines pace)")
PACER_WAIT = Metric(
    "PacerWait", "Seconds", ("Api",), "pacer",
    "How long a paced call waits for its slot: the API's backlog in this region")
PACER_REFUSALS = Metric(
    "PacerRefusals", "Count", ("Api", "Reason"), "pacer",
    "Throttled calls the pacer gave no slot (queue beyond the caller's horizon, or contention)",
    {"Reason": PACER_REFUSAL_REASONS})
PROVISIONING_REQUESTS = Metric(
    "ProvisioningRequests", "Count", ("Outcome",), "provisioning_api",
    "Provisioning API requests by outcome", {"Outcome": PROVISIONING_OUTCOMES})
FLEET_HOOK_VERDICTS = Metric(
    "FleetProvisioningVerdicts", "Count", ("Verdict",), "fleet_provisioning",
    "RegisterThing calls the pre-provisioning hook admitted or refused", {"Verdict": HOOK_VERDICTS})
FLEET_CERTIFICATES = Metric(
    "FleetCertificateRequests", "Count", ("Verdict",), "fleet_provisioning",
    "CreateCertificateFromCsr requests the certificate provider signed or refused", {"Verdict": CERTIFICATE_VERDICTS})
CANARY_ROUND_TRIP = Metric(
    "CanaryRoundTrip", "Milliseconds", ("Region",), "canary",
    "The canary's TLS connect, subscribe, publish and receive, end to end (successful probes only)")

CATALOG: tuple[Metric, ...] = (REGISTRATIONS, REFUSALS, PACER_SLOTS, PACER_WAIT, PACER_REFUSALS,
                               PROVISIONING_REQUESTS, FLEET_HOOK_VERDICTS, FLEET_CERTIFICATES, CANARY_ROUND_TRIP)


def emit(values: Sequence[tuple[Metric, float]], *, dimensions: Mapping[str, str],
         fields: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None,
         stream: TextIO | None = None, timestamp_ms: int | None = None) -> dict[str, Any]:
    """Write one line for one event: ``values`` (metrics of this catalog sharing one set of dimension names) under
    ``dimensions``, with ``fields`` as log fields; return the object written. The namespace is the environment's
    ``METRICS_NAMESPACE``; without it the line has no ``_aws`` (a log record only)."""
    for metric, _ in values:
        if metric not in CATALOG:
            raise ValueError(f"{metric.name} is not in contract.metrics.CATALOG")
        if tuple(dimensions) != metric.dimensions:
            raise ValueError(f"{metric.name} has dimensions {metric.dimensions}, got {tuple(dimensions)}")
    target = os.environ if environ is None else environ
    name = target.get(NAMESPACE_VARIABLE, "")
    data = [(metric.name, value, metric.unit) for metric, value in values]
    if name:
        root = emf.document(name, data, dimensions=dimensions, fields=fields, timestamp_ms=timestamp_ms)
    else:
        root = {**dimensions, **{n: v for n, v, _ in data}, **{k: v for k, v in (fields or {}).items() if v is not None}}
    emf.write(root, stream)
    return root


def log(fields: Mapping[str, Any], *, stream: TextIO | None = None) -> dict[str, Any]:
    """Write one structured log line with no metric (an event our catalog does not count, e.g. a fault)."""
    root = {k: v for k, v in fields.items() if v is not None}
    emf.write(root, stream)
    return root
