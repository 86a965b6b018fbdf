"""What the local cloud does, per assumptions-register row: the one list a live run and ``--local`` are held to.

Each value is read from where the local cloud (or the design it was built to prove) decides it, wherever that is a
value: ``localcloud.assumptions`` (what AWS leaves undocumented), the constants the local cloud's IoT engine and the
state machines share, the TLS policy of our domain configuration. The rest are the local cloud's answers written
once here, each naming where the local cloud gives it; ``--local`` runs the same probes against the local cloud and
must agree with every value (tests/ops/test_conformance_local.py), so this list and the local cloud cannot drift.

The keys of each value are what a probe's ``observed`` is compared on; a probe may observe more (shown, not
compared).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from localcloud.assumptions import AWS_AS_REPORTED, Assumptions


@dataclass(frozen=True)
class Expectation:
    value: dict[str, Any]
    source: str  # where the local cloud decides it


def _detach_budget_s() -> float:
    """The decommission machine's DeleteThing retry budget: the longest it waits for a detach to propagate."""
    from builders.asl.retire import DETACH_WAIT

    interval, total = float(DETACH_WAIT["IntervalSeconds"]), 0.0
    for _ in range(int(DETACH_WAIT["MaxAttempts"])):
        total += min(interval, float(DETACH_WAIT["MaxDelaySeconds"]))
        interval *= float(DETACH_WAIT["BackoffRate"])
    return total


def _still_attached_code() -> str:
    """The error DeleteThing's retry waits out: what the local cloud answers and the machines depend on."""
    from builders.asl.retire import STILL_ATTACHED

    return STILL_ATTACHED[0].split(".", 1)[1]  # Step Functions names it Iot.<Code>


def _error_message_keys() -> list[str]:
    """The top-level keys of the local cloud's error-action message (``IotCore.error_message``)."""
    from localcloud.services.iot.core import IotCore, RuleInvocation

    invocation = RuleInvocation("us-east-1", "rule", "topic", "client", b"{}", {}, remaining=0)
    return sorted(IotCore().error_message(invocation))


def _tls_versions(policy: str) -> dict[str, str]:
    """What a TLS security policy admits, from its name: ``IoTSecurityPolicy_TLS13_1_3_*`` is TLS 1.3 only,
    ``..._1_2_*`` also 1.2 (AWS IoT developer guide, transport-security: the policy's minimum version is its
    second number)."""
    minimum = "1.3" if "_TLS13_1_3_" in policy else "1.2"
    return {"tls1.2": "refused" if minimum == "1.3" else "accepted", "tls1.3": "accepted"}


def expectations(assumptions: Assumptions = AWS_AS_REPORTED) -> dict[str, Expectation]:
    """Every register row a probe settles, with the local cloud's answer under ``assumptions``."""
    from components.config import DEFAULT_TLS_POLICY
    from localcloud.services.iot.core import FAILED_ACTION_NAMES

    a = assumptions
    missing_is_error = a.get_dynamodb_missing_item == "function_error"
    return {
        "iot-sql.get-dynamodb-missing-item": Expectation(
            {"action_ran": not missing_is_error, "error_action_ran": False, "control_action_ran": True},
            f"localcloud/assumptions.py get_dynamodb_missing_item={assumptions.get_dynamodb_missing_item!r}: "
            "FunctionExecution error, no match, no error action (services/iot/core.py)"),
        "iot.jitr-event-on-reconnect": Expectation(
            {"registration_events_first_connect": 1, "registration_events_on_reconnect": 1},
            "services/iot/core.py: a PENDING_ACTIVATION certificate presented again publishes the event again (§6)"),
        "iot.jitp-registration-event": Expectation(
            {"registration_events": 1 if a.jitp_registration_event == "published" else 0, "provisioned": True},
            f"localcloud/assumptions.py jitp_registration_event={a.jitp_registration_event!r}; "
            "services/iot/core.py, provisioning.py (§9)"),
        "iot.delete-thing-with-principal": Expectation(
            {"outcome": _still_attached_code() if a.delete_thing_with_principal == "refused" else "deleted"},
            f"localcloud/assumptions.py delete_thing_with_principal={a.delete_thing_with_principal!r}; "
            "fixes/iot_delete_thing.py (§2); the code builders/asl/retire.py STILL_ATTACHED retries"),
        "iot.detach-propagation": Expectation(
            {"propagated_within_s_at_most": _detach_budget_s()},
            "fixes/iot_detach_propagation.py lingers detach_delay_calls IoT calls (§1); the decommission machine "
            "retries DeleteThing for the budget builders/asl/retire.py DETACH_WAIT allows"),
        "iot.revoked-is-final": Expectation(
            {"INACTIVE->PENDING_ACTIVATION": "InvalidRequestException", "REVOKED->ACTIVE": "CertificateStateException",
             "REVOKED->INACTIVE": "CertificateStateException", "REVOKED->REVOKED": "ok"},
            "fixes/iot_certificate_status.py (§4)"),
        "iot.delete-certificate-active": Expectation(
            {"ACTIVE": "CertificateStateException", "INACTIVE, thing attached, forceDelete": "DeleteConflictException",
             "INACTIVE, policy attached": "DeleteConflictException",
             "INACTIVE, policy attached, forceDelete": "deleted"},
            "fixes/iot_delete_certificate.py (§3)"),
        "iot.certificate-id": Expectation(
            {"id_is_sha256_of_der": True, "same_id_in_both_regions": True},
            "fixes/iot_certificate_ids.py; LocalCloud's moto config use_valid_cert"),
        "iot.error-action-message": Expectation(
            {"keys": _error_message_keys(), "failure_keys": ["errorMessage", "failedAction", "failedResource"],
             "failedAction": FAILED_ACTION_NAMES["dynamoDBv2"]},
            "services/iot/core.py IotCore.error_message, FAILED_ACTION_NAMES (§10)"),
        "fleet.hook-invoke-source": Expectation(
            {"source_account_permission": "invoked",
             "template_arn_permission": "invoked" if a.hook_invoke_source == "template_arn" else "not invoked",
             "event_keys": sorted(["certificateId", "certificatePem", "claimCertificateId", "clientId", "parameters",
                                   "templateArn"])},
            f"localcloud/assumptions.py hook_invoke_source={a.hook_invoke_source!r}; services/iot/fleet.py "
            "hook_invoke_refusal, and the hook's event keys"),
        "fleet.certificate-provider-per-account": Expectation(
            {"second_provider_other_region": "refused" if a.certificate_provider_scope == "account" else "created"},
            f"localcloud/assumptions.py certificate_provider_scope={a.certificate_provider_scope!r}; "
            "localcloud/services/iot/fleet_resources.py"),
        "fleet.register-thing-role": Expectation(
            {"least_privilege_role": "accepted" if a.provisioning_role == "permissions_suffice" else "rejected",
             "AWSIoTThingsRegistration": "accepted"},
            f"localcloud/assumptions.py provisioning_role={a.provisioning_role!r}; services/iot/provisioning.py "
            "role_refusal"),
        "fleet.csr-certificate-status": Expectation(
            {"status": "PENDING_ACTIVATION", "same_csr_again": "new certificate"},
            "services/iot/fleet.py registers each signed CSR PENDING_ACTIVATION"),
        "mqtt.tls12-refused": Expectation(
            _tls_versions(DEFAULT_TLS_POLICY),
            f"components/config.py DEFAULT_TLS_POLICY={DEFAULT_TLS_POLICY}; services/iot/mqtt/tls.py (TLS 1.3 only)"),
    }
