"""The probes: one per assumptions-register row a live account can settle (docs/emulator.md, the register).

A probe has a name, its ``register_row`` (the register's key), what it creates (for the plan, the estimate and the
cleanup), a time estimate, and ``run(ctx) -> observed``: it makes its resources through ``ops.conformance.resources``
(registered for deletion before they exist) and observes through ``ctx.world``, so the same code runs against AWS
and, with ``--local``, against the local cloud. The expected values are not here but in
``ops.conformance.expectations`` (the local cloud's answers); ``agrees(expected, observed)`` compares them.
"""
from __future__ import annotations

import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ops.clients import error_code
from ops.conformance import certs
from ops.conformance import resources as res
from ops.conformance.resources import ProbeContext
from ops.conformance.world import Refused

#: How long a probe waits for something asynchronous that should happen (a rule action, an error action).
ARRIVAL_S = 60.0
#: How long it keeps looking for something that should not happen, once the control has arrived.
ABSENCE_S = 15.0
DYNAMODB_V2, SQS = "dynamoDBv2", "sqs"


@dataclass(frozen=True)
class Probe:
    name: str
    register_row: str
    does: str  # one line: what it does
    creates: tuple[tuple[int, str], ...]  # (count, kind) of temporary resources
    usage: tuple[tuple[int, str], ...]  # (count, priced unit), for the estimate (ops.conformance.estimate)
    seconds: float  # expected duration against AWS (an estimate)
    run: Callable[[ProbeContext], dict[str, Any]]
    agrees: Callable[[dict[str, Any], dict[str, Any]], bool] | None = None

    def agreement(self, expected: dict[str, Any], observed: dict[str, Any]) -> bool:
        if self.agrees is not None:
            return self.agrees(expected, observed)
        return all(observed.get(key) == value for key, value in expected.items())


def _code(error: ClientError) -> str:
    return error_code(error) or "ClientError"


# -- 1. get_dynamodb() of a missing item in WHERE --------------------------------------------------------------------
def _lease_where(table: str, key: str, role_arn: str) -> str:
    """The JITR rule's duplicate filter as it was written (issue 20): Undefined lets a message through."""
    return (f"isUndefined(CASE get_dynamodb('{table}', 'CertificateId', '{key}', '{role_arn}').ExpiresAt * 1000 "
            "> timestamp() WHEN true THEN 'held' END)")


def get_dynamodb_missing_item(ctx: ProbeContext) -> dict[str, Any]:
    leases, leases_arn = res.table(ctx, "leases", key="CertificateId")
    results, results_arn = res.table(ctx, "results")
    queue_url, queue_arn = res.queue(ctx, "errors")
    role_arn = res.role(ctx, "rule", "iot", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": [leases_arn]},
        {"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": [results_arn]},
        {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [queue_arn]}]})
    ctx.client("dynamodb").put_item(TableName=leases, Item={"CertificateId": {"S": "present"}, "ExpiresAt": {"N": "0"}})
    ctx.world.settle_iam()
    base = f"iotmr-conf/{ctx.run.id}/get-dynamodb"
    for case, key in (("missing", f"absent-{ctx.run.id}"), ("control", "present")):
        res.topic_rule(ctx, f"gd_{case}",
                       f"SELECT '{case}' AS Id, topic() AS Topic FROM '{base}/{case}' "
                       f"WHERE {_lease_where(leases, key, role_arn)}",
                       [{DYNAMODB_V2: {"roleArn": role_arn, "putItem": {"tableName": results}}}],
                       error_action={SQS: {"roleArn": role_arn, "queueUrl": queue_url, "useBase64": False}})
    ctx.world.settle_rules()
    for case in ("missing", "control"):
        ctx.world.publish(ctx.region, f"{base}/{case}", {"run": ctx.run.id})

    def ran() -> set[str]:
        return {item["Id"] for item in res.items(ctx, results)}

    control = bool(ctx.wait_for(lambda: "control" in ran(), ARRIVAL_S))
    sqs, messages = ctx.client("sqs"), []

    def look() -> bool:  # short polls (SQS samples servers: several of them over the window)
        messages.extend(sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []))
        return False

    ctx.wait_for(look, ABSENCE_S if control else 0.0)  # what should not happen has had its time
    return {"action_ran": "missing" in ran(), "error_action_ran": bool(messages), "control_action_ran": control}


# -- 2. the registration event again when a PENDING_ACTIVATION certificate reconnects --------------------------------
def jitr_event_on_reconnect(ctx: ProbeContext) -> dict[str, Any]:
    ca_id, ca = res.ca_certificate(ctx, "ca")
    results, results_arn = res.table(ctx, "events")
    role_arn = res.role(ctx, "events-rule", "iot", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": [results_arn]}]})
    ctx.world.settle_iam()
    topic = f"$aws/events/certificates/registered/{ca_id}"
    res.topic_rule(ctx, "registered", f"SELECT newuuid() AS Id, certificateId, certificateStatus FROM '{topic}'",
                   [{DYNAMODB_V2: {"roleArn": role_arn, "putItem": {"tableName": results}}}])
    ctx.world.settle_rules()
    device = certs.issue(ca, ctx.name("jitr-device"))
    counts, refusals = [], []
    for attempt in range(2):
        try:
            ctx.world.mqtt(ctx.region, device.certificate_pem, device.key_pem, ctx.name("jitr-device"),
                           chain_pem=ca.certificate_pem).close()
            refusals.append("connected")
        except Refused as refused:
            refusals.append(f"refused: {refused.reason}")
        ctx.wait_for(lambda attempt=attempt: len(res.items(ctx, results)) > attempt, ARRIVAL_S)
        ctx.wait_for(lambda: False, ABSENCE_S / 3)  # a duplicate event would arrive meanwhile
        counts.append(len(res.items(ctx, results)))
    return {"registration_events_first_connect": counts[0], "registration_events_on_reconnect": counts[1] - counts[0],
            "connections": refusals}


# -- does JITP's auto-registration publish the registration event? ---------------------------------------------------
def jitp_registration_event(ctx: ProbeContext) -> dict[str, Any]:
    from builders.provisioning import jitp_template

    device_policy = res.iot_policy(ctx, "jitp-device", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "iot:Connect",
        "Resource": ctx.arn("iot", "client/${iot:Connection.Thing.ThingName}")}]})
    provisioning_role = res.role(ctx, "jitp", "iot", managed=[
        f"arn:{ctx.world.partition}:iam::aws:policy/service-role/AWSIoTThingsRegistration"])
    results, results_arn = res.table(ctx, "jitp-events")
    rule_role = res.role(ctx, "jitp-rule", "iot", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": [results_arn]}]})
    ctx.world.settle_iam()
    ca_id, ca = res.ca_certificate(ctx, "jitp-ca", registration_config={
        "templateBody": json.dumps(jitp_template(device_policy)), "roleArn": provisioning_role})
    topic = f"$aws/events/certificates/registered/{ca_id}"
    res.topic_rule(ctx, "jitp_registered", f"SELECT newuuid() AS Id, certificateId FROM '{topic}'",
                   [{DYNAMODB_V2: {"roleArn": rule_role, "putItem": {"tableName": results}}}])
    ctx.world.settle_rules()
    thing = ctx.name("jitp-device")  # the template names the thing after the certificate's CN
    ctx.tracker.add("IoT thing", thing, ctx.region, lambda: res.delete_thing(ctx.world, ctx.region, thing))
    device = certs.issue(ca, thing)
    try:
        ctx.world.mqtt(ctx.region, device.certificate_pem, device.key_pem, thing, chain_pem=ca.certificate_pem).close()
        first = "accepted"
    except Refused as refused:
        first = f"refused: {refused.reason}"
    provisioned = ctx.wait_for(lambda: _certificate_status(ctx, ca_id) == "ACTIVE", ARRIVAL_S)
    ctx.wait_for(lambda: False, ABSENCE_S)  # the event, if there is one, has had its time
    return {"registration_events": len(res.items(ctx, results)), "provisioned": bool(provisioned),
            "first_connection": first}


def _certificate_status(ctx: ProbeContext, ca_id: str) -> str:
    found = ctx.client("iot").list_certificates_by_ca(caCertificateId=ca_id).get("certificates", [])
    return found[0]["status"] if found else ""


# -- 3 and 4. DeleteThing with a principal attached; how long a detach takes to show ----------------------------------
def _thing_with_certificate(ctx: ProbeContext, what: str, marker: str | None = None) -> tuple[str, dict[str, str]]:
    marker = marker or res.marker_policy(ctx)
    certificate = res.keys_and_certificate(ctx, marker)
    name = res.thing(ctx, what)
    ctx.client("iot").attach_thing_principal(thingName=name, principal=certificate["arn"])
    return name, certificate


def delete_thing_with_principal(ctx: ProbeContext) -> dict[str, Any]:
    name, _ = _thing_with_certificate(ctx, "attached")
    try:
        ctx.client("iot").delete_thing(thingName=name)
        return {"outcome": "deleted"}
    except ClientError as error:
        return {"outcome": _code(error), "http_status": error.response.get("ResponseMetadata", {}).get(
            "HTTPStatusCode")}


def detach_propagation(ctx: ProbeContext) -> dict[str, Any]:
    name, certificate = _thing_with_certificate(ctx, "detach")
    iot = ctx.client("iot")
    iot.detach_thing_principal(thingName=name, principal=certificate["arn"])
    started, still = ctx.world.now(), 0
    budget = 130.0
    while certificate["arn"] in iot.list_thing_principals(thingName=name).get("principals", []):
        still += 1
        if ctx.world.now() - started > budget:
            return {"propagated_within_s": None, "list_calls_still_attached": still}
        ctx.world.sleep(0.25)
    return {"propagated_within_s": round(ctx.world.now() - started, 2), "list_calls_still_attached": still}


def _within_budget(expected: dict[str, Any], observed: dict[str, Any]) -> bool:
    seconds = observed.get("propagated_within_s")
    return seconds is not None and seconds <= expected["propagated_within_s_at_most"]


# -- 5. REVOKED is final -----------------------------------------------------------------------------------------------
def revoked_is_final(ctx: ProbeContext) -> dict[str, Any]:
    marker = res.marker_policy(ctx)
    certificate = res.keys_and_certificate(ctx, marker)
    iot = ctx.client("iot")

    def set_status(status: str) -> str:
        try:
            iot.update_certificate(certificateId=certificate["id"], newStatus=status)
            return "ok"
        except ClientError as error:
            return _code(error)

    observed = {"INACTIVE->PENDING_ACTIVATION": set_status("PENDING_ACTIVATION")}
    if set_status("REVOKED") != "ok":
        raise RuntimeError("could not revoke the probe's certificate: nothing to observe")
    for status in ("ACTIVE", "INACTIVE", "REVOKED"):
        observed[f"REVOKED->{status}"] = set_status(status)
    observed["final_status"] = iot.describe_certificate(certificateId=certificate["id"])[
        "certificateDescription"]["status"]
    return observed


# -- DeleteCertificate of an ACTIVE or attached certificate ----------------------------------------------------------
def delete_certificate_active(ctx: ProbeContext) -> dict[str, Any]:
    iot, marker = ctx.client("iot"), res.marker_policy(ctx)

    def delete(certificate_id: str, force: bool) -> str:
        try:
            iot.delete_certificate(certificateId=certificate_id, forceDelete=force)
            return "deleted"
        except ClientError as error:
            return _code(error)

    # nothing attached, so that only its status can refuse it (tracked, but no marker: a sweep after a kill
    # would not find this one certificate)
    active = iot.create_keys_and_certificate(setAsActive=True)
    res.track_certificate(ctx, active["certificateId"])
    observed = {"ACTIVE": delete(active["certificateId"], False)}
    name, certificate = _thing_with_certificate(ctx, "delete-certificate", marker)
    observed["INACTIVE, thing attached, forceDelete"] = delete(certificate["id"], True)
    iot.detach_thing_principal(thingName=name, principal=certificate["arn"])
    ctx.wait_for(lambda: not iot.list_principal_things(principal=certificate["arn"]).get("things"), 130, 0.5)
    observed["INACTIVE, policy attached"] = delete(certificate["id"], False)
    observed["INACTIVE, policy attached, forceDelete"] = delete(certificate["id"], True)
    return observed


# -- a certificate's id: SHA-256 of its DER, the same in every region ----------------------------------------------
def certificate_id(ctx: ProbeContext) -> dict[str, Any]:
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    material = certs.new_ca(ctx.name("certificate-id"))  # any certificate will do: self-signed
    der = x509.load_pem_x509_certificate(material.certificate_pem.encode("ascii")).public_bytes(
        serialization.Encoding.DER)
    ids = {}
    for region in dict.fromkeys((ctx.region, ctx.world.partner_region)):
        marker = res.marker_policy(ctx) if region == ctx.region else res.iot_policy(ctx, "marker", {
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": ctx.arn(
                "iot", f"client/{ctx.name('marker')}", region)}]}, region=region)
        registered = ctx.client("iot", region).register_certificate_without_ca(
            certificatePem=material.certificate_pem, status="INACTIVE")
        res.track_certificate(ctx, registered["certificateId"], marker, region=region)
        ids[region] = registered["certificateId"]
    return {"id_is_sha256_of_der": all(i == hashlib.sha256(der).hexdigest() for i in ids.values()),
            "same_id_in_both_regions": len(set(ids.values())) == 1, "ids": ids}


# -- 6. the error action's message ------------------------------------------------------------------------------------
def error_action_message(ctx: ProbeContext) -> dict[str, Any]:
    queue_url, queue_arn = res.queue(ctx, "error-action")
    absent = ctx.name("absent")  # a table that never exists: the action fails
    role_arn = res.role(ctx, "error-rule", "iot", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": [ctx.arn("dynamodb", f"table/{absent}")]},
        {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [queue_arn]}]})
    ctx.world.settle_iam()
    topic = f"iotmr-conf/{ctx.run.id}/error-action"
    res.topic_rule(ctx, "error_action", f"SELECT 'x' AS Id FROM '{topic}'",
                   [{DYNAMODB_V2: {"roleArn": role_arn, "putItem": {"tableName": absent}}}],
                   error_action={SQS: {"roleArn": role_arn, "queueUrl": queue_url, "useBase64": False}})
    ctx.world.settle_rules()
    ctx.world.publish(ctx.region, topic, {"run": ctx.run.id})
    sqs = ctx.client("sqs")

    def receive() -> list[dict[str, Any]]:
        return sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1).get("Messages", [])

    messages = ctx.wait_for(receive, ARRIVAL_S, 1.0)
    if not messages:
        return {"keys": None, "failure_keys": None, "failedAction": None, "detail": "no error-action message"}
    message = json.loads(messages[0]["Body"])
    failures = message.get("failures") or [{}]
    return {"keys": sorted(message), "failure_keys": sorted(failures[0]), "failedAction": failures[0].get(
        "failedAction"), "errorMessage": failures[0].get("errorMessage")}


# -- fleet provisioning: the claim, its policy and one device's exchange -------------------------------------------
@dataclass
class Claim:
    material: certs.Material
    marker: str
    device_policy: str


def _claim(ctx: ProbeContext, templates: list[str]) -> Claim:
    from builders.fleet import claim_policy

    marker = res.marker_policy(ctx)
    device_policy = res.iot_policy(ctx, "device", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "iot:Connect",
        "Resource": ctx.arn("iot", "client/${iot:Connection.Thing.ThingName}")}]})
    document = claim_policy(ctx.region, ctx.account_id, templates[0])
    for name in templates[1:]:  # the same statements, with every template's topics
        more_statements = claim_policy(ctx.region, ctx.account_id, name)["Statement"]
        for statement, more in zip(document["Statement"], more_statements, strict=True):
            statement["Resource"] = sorted(set(statement["Resource"]) | set(more["Resource"]))
    policy = res.iot_policy(ctx, "claim", document)
    claim = res.keys_and_certificate(ctx, marker, active=True)
    ctx.client("iot").attach_policy(policyName=policy, target=claim["arn"])
    return Claim(certs.Material(claim["pem"], claim["key"]), marker, device_policy)


def _provisioning_role(ctx: ProbeContext, what: str, claim: Claim, managed: bool) -> str:
    from builders.provisioning import provisioning_role_policy

    if managed:
        return res.role(ctx, what, "iot", managed=[
            f"arn:{ctx.world.partition}:iam::aws:policy/service-role/AWSIoTThingsRegistration"])
    return res.role(ctx, what, "iot", provisioning_role_policy(ctx.region, ctx.account_id, claim.device_policy))


def _create_from_csr(ctx: ProbeContext, claim: Claim, session: Any, csr_pem: str) -> dict[str, Any]:
    from builders.fleet import CREATE_FROM_CSR

    topic, reply = session.request(CREATE_FROM_CSR, {"certificateSigningRequest": csr_pem}, timeout_s=15)
    if topic.endswith("/accepted"):
        res.track_certificate(ctx, reply["certificateId"], claim.marker)
    return {"accepted": topic.endswith("/accepted"), **reply}


def _provision(ctx: ProbeContext, claim: Claim, template: str, serial: str) -> tuple[str, str]:
    """One device through the fleet provisioning MQTT API: (``accepted`` or ``rejected``, what was answered)."""
    from builders.fleet import SERIAL_NUMBER, claim_client_id, provision_topic, reply_topics

    try:  # the claim's policy allows its own client ids only (claim-*)
        session = ctx.world.mqtt(ctx.region, claim.material.certificate_pem, claim.material.key_pem, claim_client_id())
    except Refused as refused:
        return "claim refused", refused.reason
    try:
        for topic in reply_topics(template):
            session.subscribe(topic)
        created = _create_from_csr(ctx, claim, session, certs.new_csr(serial)[0])
        if not created["accepted"]:
            return "CreateCertificateFromCsr rejected", f"{created.get('errorCode')}: {created.get('errorMessage')}"
        ctx.tracker.add("IoT thing", serial, ctx.region, lambda: res.delete_thing(ctx.world, ctx.region, serial))
        topic, reply = session.request(provision_topic(template), {
            "certificateOwnershipToken": created["certificateOwnershipToken"], "parameters": {SERIAL_NUMBER: serial}},
            timeout_s=20)
        if topic.endswith("/accepted"):
            return "accepted", f"thing {reply.get('thingName')}"
        return "rejected", f"{reply.get('statusCode')} {reply.get('errorCode')}: {reply.get('errorMessage')}"
    except Refused as refused:
        return "connection lost", refused.reason
    finally:
        session.close()


# -- 7. the pre-provisioning hook's invoke: which source IoT presents ---------------------------------------------
def hook_invoke_source(ctx: ProbeContext) -> dict[str, Any]:
    from builders.fleet import fleet_template

    variants = {"source_account_permission": "acct", "template_arn_permission": "arn"}
    templates = {variant: ctx.name(f"t-{short}") for variant, short in variants.items()}
    claim = _claim(ctx, list(templates.values()))
    records, records_arn = res.table(ctx, "hook-records")
    lambda_role = res.role(ctx, "hook", "lambda", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": [records_arn]}]})
    # the role AWS's guide names, so that only the hook's permission decides (fleet.register-thing-role probes ours)
    provisioning_role = _provisioning_role(ctx, "provisioning", claim, managed=True)
    ctx.world.settle_iam()
    lambda_ = ctx.client("lambda")
    hooks = {}
    for variant, short in variants.items():
        hooks[variant] = res.function(ctx, f"hook-{short}", lambda_role, "ops.conformance.lambdas.hook_recorder",
                                      environment={"RECORD_TABLE": records, "RECORD_AS": variant})
        condition = ({"SourceAccount": ctx.account_id} if variant == "source_account_permission" else
                     {"SourceArn": ctx.arn("iot", f"provisioningtemplate/{templates[variant]}")})
        lambda_.add_permission(FunctionName=hooks[variant], StatementId="iot-invoke", Action="lambda:InvokeFunction",
                               Principal="iot.amazonaws.com", **condition)
    for variant in variants:
        res.provisioning_template(ctx, f"t-{variants[variant]}", fleet_template(claim.device_policy),
                                  provisioning_role, hooks[variant])
    outcomes = {variant: " — ".join(_provision(ctx, claim, templates[variant], ctx.name(f"dev-{short}")))
                for variant, short in variants.items()}
    recorded = {item["Variant"]: item for item in res.items(ctx, records)}
    seen = recorded.get("source_account_permission") or next(iter(recorded.values()), {})
    observed: dict[str, Any] = {variant: "invoked" if variant in recorded else "not invoked" for variant in variants}
    observed["event_keys"] = json.loads(seen["EventKeys"]) if seen else None
    observed["register_thing"] = outcomes
    return observed


# -- 8. a second certificate provider, in another region of the account ------------------------------------------
def certificate_provider_per_account(ctx: ProbeContext) -> dict[str, Any]:
    first_region, other = ctx.region, ctx.world.partner_region
    existing = {region: ctx.world.certificate_providers(region) for region in (first_region, other)}
    role_arn = res.role(ctx, "provider", "lambda")
    ctx.world.settle_iam()

    def provider_function(region: str, what: str) -> str:
        arn = res.function(ctx, what, role_arn, "ops.conformance.lambdas.noop", region=region)
        ctx.client("lambda", region).add_permission(
            FunctionName=arn, StatementId="iot-invoke", Action="lambda:InvokeFunction",
            Principal="iot.amazonaws.com", SourceAccount=ctx.account_id)
        return arn

    observed: dict[str, Any] = {"existing_before": existing}
    if existing[first_region] and existing[other]:
        observed["second_provider_other_region"] = "created"
        observed["detail"] = "the account already has providers in both regions"
        return observed
    if not existing[first_region] and not existing[other]:
        try:
            res.certificate_provider(ctx, "provider-a", first_region, provider_function(first_region, "provider-a"))
        except ClientError as error:
            if _code(error) in ("ResourceAlreadyExistsException", "LimitExceededException"):
                # a provider in a third region of the account already refuses the first one: per account
                observed["second_provider_other_region"] = "refused"
                observed["detail"] = f"the first provider was refused too ({_code(error)}): one exists elsewhere"
            else:
                observed["second_provider_other_region"] = f"first provider refused: {_code(error)}"
            return observed
        second = other
    else:
        second = other if existing[first_region] else first_region
    try:
        res.certificate_provider(ctx, "provider-b", second, provider_function(second, "provider-b"))
        observed["second_provider_other_region"] = "created"
    except ClientError as error:
        observed["second_provider_other_region"] = "refused"
        observed["error_code"] = _code(error)
    return observed


# -- 9. RegisterThing with our least-privilege role, and with AWSIoTThingsRegistration ---------------------------------
def register_thing_role(ctx: ProbeContext) -> dict[str, Any]:
    from builders.fleet import fleet_template

    variants = {"least_privilege_role": "least", "AWSIoTThingsRegistration": "managed"}
    templates = {variant: ctx.name(f"t-{short}") for variant, short in variants.items()}
    claim = _claim(ctx, list(templates.values()))
    roles = {variant: _provisioning_role(ctx, f"prov-{short}", claim, managed=short == "managed")
             for variant, short in variants.items()}
    ctx.world.settle_iam()
    for variant, short in variants.items():
        res.provisioning_template(ctx, f"t-{short}", fleet_template(claim.device_policy), roles[variant])
    outcomes = {variant: _provision(ctx, claim, templates[variant], ctx.name(f"dev-{short}"))
                for variant, short in variants.items()}
    return {**{variant: outcome for variant, (outcome, _) in outcomes.items()},
            "detail": {variant: detail for variant, (_, detail) in outcomes.items()}}


# -- 10. CreateCertificateFromCsr: the certificate's status, and a retry ----------------------------------------------
def csr_certificate_status(ctx: ProbeContext) -> dict[str, Any]:
    from builders.fleet import CREATE_FROM_CSR

    template = ctx.name("t-csr")  # named in the claim policy only: no template is needed for this request
    claim = _claim(ctx, [template])
    from builders.fleet import claim_client_id

    serial = ctx.name("dev-csr")
    session = ctx.world.mqtt(ctx.region, claim.material.certificate_pem, claim.material.key_pem, claim_client_id())
    try:
        for reply in ("accepted", "rejected"):
            session.subscribe(f"{CREATE_FROM_CSR}/{reply}")
        csr = certs.new_csr(serial)[0]
        first, again = (_create_from_csr(ctx, claim, session, csr) for _ in range(2))
    finally:
        session.close()
    if not first["accepted"]:
        return {"status": f"rejected: {first.get('errorCode')}", "same_csr_again": None}
    status = ctx.client("iot").describe_certificate(certificateId=first["certificateId"])[
        "certificateDescription"]["status"]
    same = again.get("certificateId") == first["certificateId"]
    return {"status": status, "same_csr_again": "same certificate" if same else "new certificate"}


# -- 11. the MQTT endpoint and TLS 1.2 under our TLS policy --------------------------------------------------------
def tls12_refused(ctx: ProbeContext) -> dict[str, Any]:
    from components.config import DEFAULT_TLS_POLICY

    name = res.domain_configuration(ctx, "tls", DEFAULT_TLS_POLICY)
    target = ctx.world.tls_target(ctx.region, name)
    observed: dict[str, Any] = {"endpoint": target.host, "security_policy": DEFAULT_TLS_POLICY}
    for label, version in (("tls1.2", ssl.TLSVersion.TLSv1_2), ("tls1.3", ssl.TLSVersion.TLSv1_3)):
        outcome, detail = ctx.world.tls_handshake(target, version)
        observed[label] = outcome
        observed[f"{label}_detail"] = detail
    return observed


PROBES: tuple[Probe, ...] = (
    Probe("get_dynamodb() of a missing item in WHERE", "iot-sql.get-dynamodb-missing-item",
          "two rules with the JITR lease filter (missing item / present item), dynamoDBv2 action, sqs error action; "
          "publish to each",
          ((2, "DynamoDB table"), (1, "SQS queue"), (1, "IAM role"), (2, "IoT topic rule")),
          ((2, "IoT message"), (2, "IoT rule action"), (3, "DynamoDB write"), (4, "SQS request")), 60,
          get_dynamodb_missing_item),
    Probe("a PENDING_ACTIVATION certificate's reconnect republishes the registration event",
          "iot.jitr-event-on-reconnect",
          "a CA registered SNI_ONLY with auto-registration; a device connects twice; a rule records each "
          "registration event",
          ((1, "IoT CA certificate"), (1, "IoT certificate"), (1, "DynamoDB table"), (1, "IAM role"),
           (1, "IoT topic rule")),
          ((2, "IoT connection minute"), (2, "IoT rule action"), (2, "DynamoDB write")), 60,
          jitr_event_on_reconnect),
    Probe("JITP's auto-registration and the registration event", "iot.jitp-registration-event",
          "a CA registered SNI_ONLY with our JITP template (role with AWSIoTThingsRegistration); a device connects; a "
          "rule records registration events",
          ((1, "IoT CA certificate"), (1, "IoT certificate"), (1, "IoT thing"), (1, "IoT policy"),
           (1, "DynamoDB table"), (2, "IAM role"), (1, "IoT topic rule")),
          ((1, "IoT connection minute"), (1, "IoT rule action"), (1, "DynamoDB write")), 60,
          jitp_registration_event),
    Probe("DeleteThing while a principal is attached", "iot.delete-thing-with-principal",
          "a thing with a certificate attached; DeleteThing",
          ((1, "IoT thing"), (1, "IoT certificate"), (1, "IoT policy")), (), 10, delete_thing_with_principal),
    Probe("how long DetachThingPrincipal takes to show", "iot.detach-propagation",
          "detach a certificate from a thing; ListThingPrincipals every 0.25 s until it is gone",
          ((1, "IoT thing"), (1, "IoT certificate"), (1, "IoT policy")), (), 15, detach_propagation,
          _within_budget),
    Probe("REVOKED is final", "iot.revoked-is-final",
          "a certificate set PENDING_ACTIVATION (refused), REVOKED, then ACTIVE, INACTIVE and REVOKED again",
          ((1, "IoT certificate"), (1, "IoT policy")), (), 10, revoked_is_final),
    Probe("DeleteCertificate of an ACTIVE or attached certificate", "iot.delete-certificate-active",
          "DeleteCertificate of an ACTIVE certificate; of an INACTIVE one with a thing attached (forceDelete), then "
          "with a policy attached, without and with forceDelete",
          ((2, "IoT certificate"), (1, "IoT thing"), (1, "IoT policy")), (), 15, delete_certificate_active),
    Probe("a certificate's id is the SHA-256 of its DER, in every region", "iot.certificate-id",
          "RegisterCertificateWithoutCA of one self-signed certificate in REGION and in the partner region",
          ((2, "IoT certificate"), (2, "IoT policy")), (), 10, certificate_id),
    Probe("a rule error action's message shape", "iot.error-action-message",
          "a rule whose dynamoDBv2 action fails (no such table), error action to SQS; publish once; read the message",
          ((1, "SQS queue"), (1, "IAM role"), (1, "IoT topic rule")),
          ((1, "IoT message"), (1, "IoT rule action"), (3, "SQS request")), 40, error_action_message),
    Probe("the pre-provisioning hook's invoke: which source IoT presents", "fleet.hook-invoke-source",
          "two templates whose hooks (recording Lambdas) allow iot.amazonaws.com by source account / by the "
          "template's ARN; one device provisioned through each over MQTT",
          ((2, "IoT provisioning template"), (2, "Lambda function"), (3, "IAM role"), (1, "DynamoDB table"),
           (3, "IoT policy"), (5, "IoT certificate"), (2, "IoT thing")),
          ((4, "IoT connection minute"), (12, "IoT message"), (2, "Lambda invocation"), (2, "DynamoDB write")), 90,
          hook_invoke_source),
    Probe("a second certificate provider in another region of the account", "fleet.certificate-provider-per-account",
          "one certificate provider in REGION (unless one exists), then one in the partner region",
          ((2, "IoT certificate provider"), (2, "Lambda function"), (1, "IAM role")), (), 40,
          certificate_provider_per_account),
    Probe("RegisterThing: our least-privilege role vs AWSIoTThingsRegistration", "fleet.register-thing-role",
          "two templates, ours (builders.fleet) with our provisioning role / with the managed policy; one device "
          "provisioned through each over MQTT",
          ((2, "IoT provisioning template"), (2, "IAM role"), (3, "IoT policy"), (5, "IoT certificate"),
           (2, "IoT thing")),
          ((4, "IoT connection minute"), (12, "IoT message")), 70, register_thing_role),
    Probe("CreateCertificateFromCsr's certificate status", "fleet.csr-certificate-status",
          "a claim sends the same CSR twice over MQTT; DescribeCertificate",
          ((3, "IoT certificate"), (3, "IoT policy")), ((2, "IoT connection minute"), (6, "IoT message")), 30,
          csr_certificate_status),
    Probe("the MQTT endpoint refuses TLS 1.2 under our TLS policy", "mqtt.tls12-refused",
          "a domain configuration on an AWS-managed domain with our TLS policy (a custom domain needs a certificate "
          "and DNS, not made by the kit); a TLS 1.2-only and a TLS 1.3-only handshake on 8883",
          ((1, "IoT domain configuration"),), (), 120, tls12_refused),
)


def by_row() -> dict[str, Probe]:
    return {probe.register_row: probe for probe in PROBES}
