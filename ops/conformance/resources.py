"""The run's temporary resources: names, tags, creation (each registered for deletion before it is created), deletion
at the end or on failure, and the sweep that finds what an earlier, aborted run left behind.

Every resource is named ``iotmr-conf-<run id>-<what>`` (topic rules, whose names allow no dash:
``iotmr_conf_<run id>_<what>``; IAM roles also live under the path ``/iotmr-conformance/``) and tagged
``iotmr:conformance-run=<run id>`` where the resource takes tags. Things and certificates take none: a thing carries
the attribute ``iotmr_conformance_run=run-<run id>``, and every certificate the kit makes has one of the run's IoT
policies attached or was signed by the run's CA, which is how the sweep finds them.
"""
from __future__ import annotations

import io
import json
import re
import secrets
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from ops.clients import error_code
from ops.conformance import certs
from ops.conformance.world import World

TAG_KEY = "iotmr:conformance-run"
NAME_PREFIX = "iotmr-conf-"
RULE_PREFIX = "iotmr_conf_"
ROLE_PATH = "/iotmr-conformance/"
THING_ATTRIBUTE = "iotmr_conformance_run"
_RUN_IN_NAME = re.compile(r"^iotmr[-_]conf[-_]([0-9a-f]{8})[-_]")
LAMBDA_RUNTIME = "python3.12"
HOOK_PAYLOAD_VERSION = "2020-04-01"

#: Error codes that mean "already gone" when deleting.
NOT_FOUND = frozenset({"ResourceNotFoundException", "NoSuchEntity", "NoSuchEntityException",
                       "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "ResourceNotFound"})


def new_run_id() -> str:
    """Eight hex digits: two runs (or a run and the leftovers of an aborted one) never share a name."""
    return secrets.token_hex(4)


def run_of(name: str) -> str | None:
    """The run id in a kit resource's name, or None for a name the kit does not make."""
    found = _RUN_IN_NAME.match(name)
    return found.group(1) if found else None


@dataclass(frozen=True)
class Run:
    id: str

    def name(self, what: str) -> str:
        return f"{NAME_PREFIX}{self.id}-{what}"

    def rule(self, what: str) -> str:
        return f"{RULE_PREFIX}{self.id}_{what.replace('-', '_')}"

    @property
    def thing_attribute(self) -> str:
        return f"run-{self.id}"

    @property
    def tags(self) -> list[dict[str, str]]:  # IAM, DynamoDB, Lambda-style lists
        return [{"Key": TAG_KEY, "Value": self.id}]

    @property
    def iot_tags(self) -> list[dict[str, str]]:
        return [{"Key": TAG_KEY, "Value": self.id}]

    @property
    def tag_map(self) -> dict[str, str]:  # SQS, Lambda
        return {TAG_KEY: self.id}

    @property
    def rule_tags(self) -> str:  # CreateTopicRule: a query string
        return f"{TAG_KEY}={self.id}"


@dataclass
class Resource:
    kind: str
    name: str
    region: str
    delete: Callable[[], None] = field(repr=False)
    error: str = ""


class Tracker:
    """What a run (or one probe) created, oldest first, with how to delete each; ``cleanup`` deletes newest first."""

    def __init__(self) -> None:
        self.items: list[Resource] = []
        self.deleted: list[Resource] = []

    def add(self, kind: str, name: str, region: str, delete: Callable[[], None]) -> Resource:
        resource = Resource(kind, name, region, delete)
        self.items.append(resource)
        return resource

    def adopt(self, other: Tracker) -> None:
        """Take over what ``other`` could not delete (its cleanup failed): the run retries it at the end."""
        self.items.extend(other.items)
        self.deleted.extend(other.deleted)
        other.items = []

    def cleanup(self, world: World, passes: int = 6) -> list[Resource]:
        """Delete everything, newest first; a deletion that fails (a detach still propagating, a dependency) is tried
        again in the next pass, after a pause. Returns what could not be deleted (with ``error``)."""
        for attempt in range(passes):
            remaining = []
            for resource in reversed(self.items):
                try:
                    resource.delete()
                    self.deleted.append(resource)
                except ClientError as error:
                    if error_code(error) in NOT_FOUND:
                        self.deleted.append(resource)
                        continue
                    resource.error = f"{error_code(error)}: {error.response.get('Error', {}).get('Message', '')}"
                    remaining.append(resource)
                except Exception as error:  # noqa: BLE001 - keep deleting the others; report it
                    resource.error = f"{type(error).__name__}: {error}"
                    remaining.append(resource)
            self.items = list(reversed(remaining))
            if not self.items:
                break
            if attempt < passes - 1:
                world.sleep(min(2.0 * 2 ** attempt, 20.0))
        return list(self.items)


def _ignore_missing(call: Callable[[], Any]) -> None:
    try:
        call()
    except ClientError as error:
        if error_code(error) not in NOT_FOUND:
            raise


@dataclass
class ProbeContext:
    """What a probe works with: the world, the run (names, tags) and the tracker its resources are registered in."""

    world: World
    run: Run
    tracker: Tracker
    label: str = ""  # the probe's own part of every name (p1, p2, ...): probes never share a name

    def name(self, what: str) -> str:
        return self.run.name(f"{self.label}-{what}" if self.label else what)

    def rule(self, what: str) -> str:
        return self.run.rule(f"{self.label}_{what}" if self.label else what)

    @property
    def region(self) -> str:
        return self.world.region

    @property
    def account_id(self) -> str:
        return self.world.account_id

    def client(self, service: str, region: str | None = None) -> Any:
        return self.world.client(service, region)

    def arn(self, service: str, resource: str, region: str | None = None) -> str:
        return f"arn:{self.world.partition}:{service}:{region or self.region}:{self.account_id}:{resource}"

    def wait_for(self, check: Callable[[], Any], timeout_s: float, interval_s: float = 2.0) -> Any:
        """``check()`` until it returns something truthy (returned) or ``timeout_s`` passed (its last value)."""
        deadline = self.world.now() + timeout_s
        while True:
            value = check()
            if value or self.world.now() >= deadline:
                return value
            self.world.sleep(interval_s)

    def retry_while(self, create: Callable[[], Any], codes: Iterable[str], timeout_s: float = 60.0) -> Any:
        """``create()``, retried while it fails with one of ``codes`` (a role or permission not propagated yet)."""
        deadline = self.world.now() + timeout_s
        while True:
            try:
                return create()
            except ClientError as error:
                if error_code(error) not in set(codes) or self.world.now() >= deadline:
                    raise
                self.world.sleep(3.0)


# -- creators: each registers the deletion first, so an interruption between the two leaves nothing unknown -------
def role(ctx: ProbeContext, what: str, service: str, policy: dict[str, Any] | None = None,
         managed: Iterable[str] = ()) -> str:
    from builders.iam import service_trust_policy

    iam, name = ctx.client("iam"), ctx.name(what)
    ctx.tracker.add("IAM role", name, "global", lambda: delete_role(ctx.world, name))
    arn = iam.create_role(RoleName=name, Path=ROLE_PATH, Tags=ctx.run.tags,
                          Description=f"iotmr conformance run {ctx.run.id} (temporary)",
                          AssumeRolePolicyDocument=json.dumps(service_trust_policy(service, ctx.account_id)),
                          )["Role"]["Arn"]
    if policy is not None:
        iam.put_role_policy(RoleName=name, PolicyName="probe", PolicyDocument=json.dumps(policy))
    for policy_arn in managed:
        iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    return arn


def delete_role(world: World, name: str) -> None:
    iam = world.client("iam")
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
        for attached in page["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
        for inline in page["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=inline)
    iam.delete_role(RoleName=name)


def table(ctx: ProbeContext, what: str, key: str = "Id", region: str | None = None) -> tuple[str, str]:
    region = region or ctx.region
    dynamodb, name = ctx.client("dynamodb", region), ctx.name(what)
    ctx.tracker.add("DynamoDB table", name, region, lambda: dynamodb.delete_table(TableName=name))
    arn = dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", Tags=ctx.run.tags,
                                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}])["TableDescription"]["TableArn"]
    ctx.wait_for(lambda: dynamodb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE", 120, 2)
    return name, arn


def items(ctx: ProbeContext, table_name: str, region: str | None = None) -> list[dict[str, Any]]:
    """Every item of a (small) table, strongly consistent, as plain strings."""
    dynamodb = ctx.client("dynamodb", region)
    found = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table_name, ConsistentRead=True):
        for item in page["Items"]:
            found.append({k: next(iter(v.values())) for k, v in item.items()})
    return found


def queue(ctx: ProbeContext, what: str) -> tuple[str, str]:
    sqs, name = ctx.client("sqs"), ctx.name(what)
    url_holder: list[str] = []
    ctx.tracker.add("SQS queue", name, ctx.region,
                    lambda: sqs.delete_queue(QueueUrl=url_holder[0] if url_holder else
                                             sqs.get_queue_url(QueueName=name)["QueueUrl"]))
    url = sqs.create_queue(QueueName=name, tags=ctx.run.tag_map)["QueueUrl"]
    url_holder.append(url)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def topic_rule(ctx: ProbeContext, what: str, sql: str, actions: list[dict[str, Any]],
               error_action: dict[str, Any] | None = None) -> str:
    iot, name = ctx.client("iot"), ctx.rule(what)
    ctx.tracker.add("IoT topic rule", name, ctx.region, lambda: iot.delete_topic_rule(ruleName=name))
    payload: dict[str, Any] = {"sql": sql, "awsIotSqlVersion": "2016-03-23", "ruleDisabled": False,
                               "actions": actions, "description": f"iotmr conformance run {ctx.run.id}"}
    if error_action is not None:
        payload["errorAction"] = error_action
    ctx.retry_while(lambda: iot.create_topic_rule(ruleName=name, topicRulePayload=payload, tags=ctx.run.rule_tags),
                    ["InvalidRequestException"], timeout_s=30)
    return name


def iot_policy(ctx: ProbeContext, what: str, document: dict[str, Any], region: str | None = None) -> str:
    region = region or ctx.region
    iot, name = ctx.client("iot", region), ctx.name(what)
    ctx.tracker.add("IoT policy", name, region, lambda: delete_policy(ctx.world, region, name))
    iot.create_policy(policyName=name, policyDocument=json.dumps(document), tags=ctx.run.iot_tags)
    return name


def delete_policy(world: World, region: str, name: str) -> None:
    iot = world.client("iot", region)
    for page in iot.get_paginator("list_targets_for_policy").paginate(policyName=name):
        for target in page.get("targets", []):
            _ignore_missing(lambda t=target: iot.detach_policy(policyName=name, target=t))
    iot.delete_policy(policyName=name)


def marker_policy(ctx: ProbeContext) -> str:
    """The probe's marker: an IoT policy allowing nothing useful, attached to every certificate the probe makes so
    that a later sweep finds the certificate through the policy's targets."""
    document = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "iot:Connect",
        "Resource": ctx.arn("iot", f"client/{ctx.name('marker')}")}]}
    return iot_policy(ctx, "marker", document)


def delete_certificate(world: World, region: str, certificate_id: str) -> None:
    """Detach a certificate from its things and policies, deactivate it and delete it."""
    iot = world.client("iot", region)
    arn = iot.describe_certificate(certificateId=certificate_id)["certificateDescription"]["certificateArn"]
    for page in iot.get_paginator("list_principal_things").paginate(principal=arn):
        for thing in page.get("things", []):
            _ignore_missing(lambda t=thing: iot.detach_thing_principal(thingName=t, principal=arn))
    for page in iot.get_paginator("list_attached_policies").paginate(target=arn):
        for policy in page.get("policies", []):
            _ignore_missing(lambda p=policy["policyName"]: iot.detach_policy(policyName=p, target=arn))
    status = iot.describe_certificate(certificateId=certificate_id)["certificateDescription"]["status"]
    if status in ("ACTIVE", "PENDING_ACTIVATION"):
        iot.update_certificate(certificateId=certificate_id, newStatus="INACTIVE")
    iot.delete_certificate(certificateId=certificate_id, forceDelete=True)


def track_certificate(ctx: ProbeContext, certificate_id: str, marker: str | None = None,
                      region: str | None = None) -> None:
    region = region or ctx.region
    ctx.tracker.add("IoT certificate", certificate_id, region,
                    lambda: delete_certificate(ctx.world, region, certificate_id))
    if marker:
        ctx.client("iot", region).attach_policy(policyName=marker, target=ctx.arn(
            "iot", f"cert/{certificate_id}", region))


def keys_and_certificate(ctx: ProbeContext, marker: str, active: bool = False) -> dict[str, str]:
    created = ctx.client("iot").create_keys_and_certificate(setAsActive=active)
    track_certificate(ctx, created["certificateId"], marker)
    return {"id": created["certificateId"], "arn": created["certificateArn"], "pem": created["certificatePem"],
            "key": created["keyPair"]["PrivateKey"]}


def thing(ctx: ProbeContext, what: str) -> str:
    iot, name = ctx.client("iot"), ctx.name(what)
    ctx.tracker.add("IoT thing", name, ctx.region, lambda: delete_thing(ctx.world, ctx.region, name))
    iot.create_thing(thingName=name, attributePayload={"attributes": {THING_ATTRIBUTE: ctx.run.thing_attribute}})
    return name


def delete_thing(world: World, region: str, name: str) -> None:
    """Detach the thing's principals and delete it (refused while a detach propagates: the tracker tries again)."""
    iot = world.client("iot", region)
    for page in iot.get_paginator("list_thing_principals").paginate(thingName=name):
        for principal in page.get("principals", []):
            _ignore_missing(lambda p=principal: iot.detach_thing_principal(thingName=name, principal=p))
    iot.delete_thing(thingName=name)


def ca_certificate(ctx: ProbeContext, what: str, registration_config: dict[str, str] | None = None,
                   ) -> tuple[str, certs.Material]:
    """A new CA registered SNI_ONLY (no verification certificate needed), ACTIVE, auto-registration on (JITR; with
    a ``registration_config`` template, JITP). Its subject's CN is the run's name for it (how a sweep finds it)."""
    iot, material = ctx.client("iot"), certs.new_ca(ctx.name(what))
    holder: list[str] = []
    ctx.tracker.add("IoT CA certificate", ctx.name(what), ctx.region,
                    lambda: delete_ca_certificate(ctx.world, ctx.region, holder[0]) if holder else None)
    request: dict[str, Any] = {"caCertificate": material.certificate_pem, "setAsActive": True,
                               "allowAutoRegistration": True, "certificateMode": "SNI_ONLY", "tags": ctx.run.iot_tags}
    if registration_config:
        request["registrationConfig"] = registration_config
    registered = iot.register_ca_certificate(**request)
    holder.append(registered["certificateId"])
    return registered["certificateId"], material


def delete_ca_certificate(world: World, region: str, ca_id: str) -> None:
    """Delete the certificates a CA signed (JITR registered them), then deactivate and delete the CA."""
    iot = world.client("iot", region)
    for page in iot.get_paginator("list_certificates_by_ca").paginate(caCertificateId=ca_id):
        for certificate in page.get("certificates", []):
            _ignore_missing(lambda c=certificate["certificateId"]: delete_certificate(world, region, c))
    iot.update_ca_certificate(certificateId=ca_id, newStatus="INACTIVE")
    iot.delete_ca_certificate(certificateId=ca_id)


def function_zip(module: str) -> bytes:
    """A deployment package holding one module's source file at the top level."""
    path = Path(import_module(module).__file__ or "")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(path.name, date_time=(2024, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        archive.writestr(info, path.read_text(encoding="utf-8"))
    return buffer.getvalue()


def function(ctx: ProbeContext, what: str, role_arn: str, module: str, *, region: str | None = None,
             environment: dict[str, str] | None = None, timeout: int = 5) -> str:
    """A Python Lambda function whose code is ``module`` (its ``handler``)."""
    region = region or ctx.region
    lambda_, name = ctx.client("lambda", region), ctx.name(what)
    ctx.tracker.add("Lambda function", name, region, lambda: lambda_.delete_function(FunctionName=name))
    request: dict[str, Any] = {
        "FunctionName": name, "Runtime": LAMBDA_RUNTIME, "Role": role_arn, "Timeout": timeout, "MemorySize": 128,
        "Handler": f"{module.rsplit('.', 1)[-1]}.handler", "Code": {"ZipFile": function_zip(module)},
        "Description": f"iotmr conformance run {ctx.run.id} (temporary)", "Tags": ctx.run.tag_map,
        "Environment": {"Variables": dict(environment or {})}}
    arn = ctx.retry_while(lambda: lambda_.create_function(**request), ["InvalidParameterValueException"])[
        "FunctionArn"]
    ctx.wait_for(lambda: lambda_.get_function_configuration(FunctionName=name).get("State", "Active") == "Active",
                 60, 2)
    ctx.world.function_created(region, name, f"{module}:handler")
    return arn


def provisioning_template(ctx: ProbeContext, what: str, body: dict[str, Any], role_arn: str,
                          hook_arn: str | None = None) -> tuple[str, str]:
    name = ctx.name(what)
    ctx.tracker.add("IoT provisioning template", name, ctx.region,
                    lambda: ctx.world.delete_provisioning_template(ctx.region, name))
    request: dict[str, Any] = {"templateName": name, "templateBody": json.dumps(body), "enabled": True,
                               "provisioningRoleArn": role_arn, "type": "FLEET_PROVISIONING", "tags": ctx.run.iot_tags,
                               "description": f"iotmr conformance run {ctx.run.id} (temporary)"}
    if hook_arn:
        request["preProvisioningHook"] = {"targetArn": hook_arn, "payloadVersion": HOOK_PAYLOAD_VERSION}
    arn = ctx.retry_while(lambda: ctx.world.create_provisioning_template(ctx.region, **request),
                          ["InvalidRequestException"], timeout_s=60)
    return name, arn


def certificate_provider(ctx: ProbeContext, what: str, region: str, lambda_arn: str) -> str:
    name = ctx.name(what)
    ctx.tracker.add("IoT certificate provider", name, region,
                    lambda: ctx.world.delete_certificate_provider(region, name))
    ctx.world.create_certificate_provider(region, certificateProviderName=name, lambdaFunctionArn=lambda_arn,
                                          accountDefaultForOperations=["CreateCertificateFromCsr"],
                                          tags=ctx.run.iot_tags)
    return name


def domain_configuration(ctx: ProbeContext, what: str, security_policy: str) -> str:
    """A configurable endpoint on an AWS-managed domain (no custom domain: that needs a certificate and DNS)."""
    iot, name = ctx.client("iot"), ctx.name(what)
    ctx.tracker.add("IoT domain configuration", name, ctx.region,
                    lambda: delete_domain_configuration(ctx.world, ctx.region, name))
    iot.create_domain_configuration(domainConfigurationName=name, serviceType="DATA",
                                    tlsConfig={"securityPolicy": security_policy}, tags=ctx.run.iot_tags)
    return name


def delete_domain_configuration(world: World, region: str, name: str) -> None:
    """Disable, then delete ("Before you delete a domain configuration, use the UpdateDomainConfiguration API to set
    the status to DISABLED", developer guide, iot-custom-endpoints-managing.html)."""
    iot = world.client("iot", region)
    iot.update_domain_configuration(domainConfigurationName=name, domainConfigurationStatus="DISABLED")
    iot.delete_domain_configuration(domainConfigurationName=name)
