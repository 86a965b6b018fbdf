"""The local cloud's choices where AWS's documentation does not settle a behaviour.

Each field is one row of the assumptions register (docs/emulator.md, "Assumptions register"; the row key is the
field's ``metadata["row"]``) whose source is only a forum answer, an issue thread or our judgement. The default is
the outcome worse for our design; the other value is the switch a test uses to run the design under both outcomes.
A behaviour the API reference or developer guide settles is not a switch: the local cloud models it as documented.

Where each is read: ``IotCore.assumptions`` (``localcloud/services/iot/core.py``, and through it ``fleet.py`` and
``provisioning.py``); :func:`active` for code that has no engine at hand (the moto fixes in ``localcloud/fixes/``,
``localcloud/services/iot/fleet_resources.py`` while the deployer creates resources). ``Engines`` makes its
assumptions the active ones while it is activated; ``LocalCloud.assuming(...)`` changes them for a block (tests run one deployed
cloud under both outcomes that way).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

MissingItem = Literal["function_error", "undefined"]
JitpEvent = Literal["not_published", "published"]
JitpFirstConnection = Literal["refused", "accepted"]
ExpiredAtHandshake = Literal["accepted", "refused"]
DeleteThingAttached = Literal["refused", "detaches"]
HookInvokeSource = Literal["account_only", "template_arn"]
ProvisioningRole = Literal["managed_policy_required", "permissions_suffice"]
ProviderScope = Literal["account", "region"]
ProviderServes = Literal["own_region", "every_region"]
UndecodablePayload = Literal["no_error_action", "error_action"]
AlarmReading = Literal["data_stream", "alarm_state"]

#: The managed policy AWS's JITP and fleet provisioning guides say the provisioning role "must" have attached.
THINGS_REGISTRATION_POLICY = "arn:aws:iam::aws:policy/service-role/AWSIoTThingsRegistration"


def _row(key: str, default: Any) -> Any:
    return field(default=default, metadata={"row": key})


@dataclass(frozen=True)
class Assumptions:
    """What the local cloud does where AWS is not documented (defaults: the outcome worse for the design)."""

    # IoT SQL get_dynamodb() of a key with no item. re:Post QUtmrQNjM4SkiP8mWy31_8Ew: "will cause the
    # FunctionExecution error" and, in WHERE, the rule "failed to produce a match ... no action was triggered";
    # error actions cover failed actions only (rule-error-handling.html). "undefined" is the other reading.
    get_dynamodb_missing_item: MissingItem = _row("iot-sql.get-dynamodb-missing-item", "function_error")

    # Whether JITP's auto-registration publishes $aws/events/certificates/registered/<ca> as JITR's does. The JITP
    # guide says only that it "first registers a certificate with a status value of PENDING_ACTIVATION"; no source
    # says the event follows. Worse: not published (our JITP recorder is started by that event).
    jitp_registration_event: JitpEvent = _row("iot.jitp-registration-event", "not_published")

    # A JITP device's first connection: refused while the template runs (AWS's JITP blog and workshop; the guide
    # does not say) or accepted once provisioned. Worse: refused (the device must reconnect).
    jitp_first_connection: JitpFirstConnection = _row("iot.jitp-first-connection", "refused")

    # A client certificate outside its validity window at the TLS handshake: AWS documents no such check (design.md,
    # "Certificates refused"). Worse: accepted (auto-registered, event published; only the inspector refuses it).
    expired_certificate_handshake: ExpiredAtHandshake = _row("iot.handshake-certificate-validity", "accepted")

    # DeleteThing of a thing with a principal attached: refused with InvalidRequestException (issue threads quoting
    # AWS since 2019) or, as AWS did before (moto issues 2514/2586), the principals detached and the thing deleted.
    delete_thing_with_principal: DeleteThingAttached = _row("iot.delete-thing-with-principal", "refused")

    # The source IoT presents when it invokes a pre-provisioning hook: the guide says to condition the permission on
    # "source-arn or source-account" without naming the ARN. Worse: the account only (a permission pinned to the
    # template ARN then refuses the invoke, and the provisioning is ACCESS_DENIED).
    hook_invoke_source: HookInvokeSource = _row("fleet.hook-invoke-source", "account_only")

    # The provisioning role of JITP and fleet templates: the guides say it "must" have AWSIoTThingsRegistration;
    # whether a narrower role that allows every call works is unproven. Worse: the managed policy is required.
    provisioning_role: ProvisioningRole = _row("fleet.register-thing-role", "managed_policy_required")

    # "You can only create one certificate provider per AWS account" (API reference, CreateCertificateProvider):
    # per account across regions, or per region. Worse: one per account, serving the region it was created in.
    certificate_provider_scope: ProviderScope = _row("fleet.certificate-provider-per-account", "account")

    # Which regions' CreateCertificateFromCsr the account's one certificate provider signs: "The signing behavior
    # change applies to the entire fleet that calls the CreateCertificateFromCsr MQTT API" (provisioning-cert-provider)
    # does not say whether IoT in another region calls it. Worse: its own region only (elsewhere AWS signs with its own
    # CA, which our hook refuses; the local cloud rejects the request).
    certificate_provider_serves: ProviderServes = _row("fleet.certificate-provider-regions", "own_region")

    # A payload whose JSON the rules engine cannot parse (nested deeper than any parser goes): AWS documents no
    # depth. Worse: a SQL evaluation problem, so no action and no error action (rule-error-handling: SQL problems go
    # to IoT logging); the other: every matched action fails and the error action runs.
    undecodable_payload: UndecodablePayload = _row("iot-sql.undecodable-payload", "no_error_action")

    # How a Route 53 CLOUDWATCH_METRIC health check reads its alarm: Route 53 records only EvaluationPeriods,
    # Threshold, ComparisonOperator, Period and Statistic of it (botocore's CloudWatchAlarmConfiguration) and its guide
    # speaks of the alarm's data stream; nothing says it honours DatapointsToAlarm or TreatMissingData. Worse:
    # "data_stream", the metric evaluated over EvaluationPeriods with every period breaching, and a period with no
    # datapoint = insufficient data (InsufficientDataHealthStatus); the other, "alarm_state": the alarm's own state.
    route53_alarm_reading: AlarmReading = _row("route53.alarm-health-check-reading", "data_stream")

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            allowed = get_args(spec.type if not isinstance(spec.type, str) else _TYPES[spec.type])
            value = getattr(self, spec.name)
            if value not in allowed:
                raise ValueError(f"{spec.name} must be one of {', '.join(repr(a) for a in allowed)}, not {value!r}")

    def with_other(self, *names: str) -> Assumptions:
        """A copy with the named fields at their other value (each field has two)."""
        unknown = sorted(set(names) - {spec.name for spec in dataclasses.fields(self)})
        if unknown:
            raise ValueError(f"no assumption named {unknown}; known: {[s.name for s in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **{name: other_value(name, getattr(self, name)) for name in names})


_TYPES: dict[str, Any] = {
    "MissingItem": MissingItem, "JitpEvent": JitpEvent, "JitpFirstConnection": JitpFirstConnection,
    "ExpiredAtHandshake": ExpiredAtHandshake, "DeleteThingAttached": DeleteThingAttached,
    "HookInvokeSource": HookInvokeSource, "ProvisioningRole": ProvisioningRole, "ProviderScope": ProviderScope,
    "ProviderServes": ProviderServes,
    "UndecodablePayload": UndecodablePayload, "AlarmReading": AlarmReading,
}


def values(name: str) -> tuple[str, str]:
    """(default, other) of the field ``name``."""
    spec = next(s for s in dataclasses.fields(Assumptions) if s.name == name)
    allowed = get_args(_TYPES[spec.type] if isinstance(spec.type, str) else spec.type)
    return spec.default, next(a for a in allowed if a != spec.default)  # pyright: ignore[reportReturnType]  # every field has a default


def other_value(name: str, value: str) -> str:
    default, other = values(name)
    return other if value == default else default


def register_rows() -> dict[str, str]:
    """Field name -> register row key (docs/emulator.md, "Assumptions register")."""
    return {spec.name: spec.metadata["row"] for spec in dataclasses.fields(Assumptions)}


AWS_AS_REPORTED = Assumptions()
#: Every switch at its other value: what the design meets if AWS turns out kinder on every row.
KINDER = AWS_AS_REPORTED.with_other(*register_rows())

#: The rows under whose default (worse) outcome today's design does not work: JITP devices never reach the inventory
#: (no registration event), and fleet provisioning works only in the region that owns the account's certificate
#: provider. docs/emulator.md's register says what breaks; the JITP and fleet end-to-end tests show each still breaks
#: under its default (remove a name here once the design no longer depends on it, and those tests will say so).
DESIGN_DEPENDS_ON = ("jitp_registration_event", "certificate_provider_serves")
#: What the JITP and fleet tests and the demo's second deployment run under until then: the defaults, except those.
AS_THE_DESIGN_NEEDS = AWS_AS_REPORTED.with_other(*DESIGN_DEPENDS_ON)

# ---- the assumptions in force, for code with no engine at hand ------------------------------------------------------
_LOCK = threading.Lock()
_ACTIVE: list[Assumptions] = []


def active() -> Assumptions:
    """The assumptions of the innermost activated ``Engines`` (or ``LocalCloud.assuming`` block); the defaults
    outside any."""
    with _LOCK:
        return _ACTIVE[-1] if _ACTIVE else AWS_AS_REPORTED


def push(assumptions: Assumptions) -> None:
    with _LOCK:
        _ACTIVE.append(assumptions)


def pop(assumptions: Assumptions) -> None:
    """Remove the innermost occurrence of ``assumptions`` (blocks may end out of order across threads)."""
    with _LOCK:
        for index in range(len(_ACTIVE) - 1, -1, -1):
            if _ACTIVE[index] is assumptions:
                del _ACTIVE[index]
                return


@contextmanager
def activated(assumptions: Assumptions) -> Iterator[Assumptions]:
    push(assumptions)
    try:
        yield assumptions
    finally:
        pop(assumptions)
