"""IoT Core: the CA, domain configurations, event configurations, policies, certificates, things and their
attachments, topic rules; and fleet provisioning's resources moto does not keep (templates, the certificate provider
and its guard), which ``localcloud.services.iot.fleet_resources`` records on the region's moto IoT backend."""

from __future__ import annotations

from typing import Any

import pulumi

from localcloud.services.iot import fleet_resources

from .common import client, ints, physical_name
from .registry import DYNAMIC_TYPE, DeployContext, Result, UnsupportedResource, creates

# IoT topic rule: the pulumi-aws input (list per action kind) -> the API's action member name.
TOPIC_RULE_ACTIONS = {
    "stepFunctions": "stepFunctions",
    "dynamodbv2s": "dynamoDBv2",
    "dynamodbs": "dynamoDB",
    "lambdas": "lambda",
    "cloudwatchLogs": "cloudwatchLogs",
    "sqs": "sqs",
    "sns": "sns",
    "republishes": "republish",
    "s3": "s3",
}


def _topic_rule_action(key: str, spec: dict[str, Any]) -> dict[str, Any]:
    api = TOPIC_RULE_ACTIONS.get(key)
    if api is None:
        raise UnsupportedResource(f"aws:iot/topicRule:TopicRule action {key!r} is not known to the local cloud; "
                                  f"known: {sorted(TOPIC_RULE_ACTIONS)}")
    return {api: ints(spec)}


@creates("aws:iot/caCertificate:CaCertificate")
def ca_certificate(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                   region: str) -> Result:
    request: dict[str, Any] = {
        "caCertificate": inputs["caCertificatePem"],
        "setAsActive": bool(inputs.get("active", False)),
        "allowAutoRegistration": bool(inputs.get("allowAutoRegistration", False)),
        "certificateMode": inputs.get("certificateMode", "DEFAULT"),
    }
    if inputs.get("verificationCertificatePem"):
        request["verificationCertificate"] = inputs["verificationCertificatePem"]
    if inputs.get("registrationConfig"):  # JITP: the template and the role AWS IoT runs it with
        config = inputs["registrationConfig"]
        request["registrationConfig"] = {k: config[k] for k in ("templateBody", "roleArn", "templateName")
                                         if config.get(k)}
    response = client("iot", region).register_ca_certificate(**request)
    return response["certificateId"], {**inputs, "arn": response["certificateArn"]}


@creates("aws:iot/domainConfiguration:DomainConfiguration")
def domain_configuration(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                         region: str) -> Result:
    name = physical_name(args, inputs, limit=128)
    request: dict[str, Any] = {"domainConfigurationName": name}
    for key in ("domainName", "serverCertificateArns", "validationCertificateArn", "serviceType"):
        if inputs.get(key):
            request[key] = inputs[key]
    if inputs.get("tlsConfig"):
        request["tlsConfig"] = inputs["tlsConfig"]
    response = client("iot", region).create_domain_configuration(**request)
    return name, {**inputs, "name": name, "arn": response["domainConfigurationArn"]}


@creates("aws:iot/eventConfigurations:EventConfigurations")
def event_configurations(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                         region: str) -> Result:
    configurations = {k: {"Enabled": bool(v)} for k, v in (inputs.get("eventConfigurations") or {}).items()}
    client("iot", region).update_event_configurations(eventConfigurations=configurations)
    return region, {**inputs}


@creates("aws:iot/policy:Policy")
def policy(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any], region: str) -> Result:
    name = physical_name(args, inputs, limit=128)
    response = client("iot", region).create_policy(policyName=name, policyDocument=inputs["policy"])
    return name, {**inputs, "name": name, "arn": response["policyArn"],
                  "defaultVersionId": response.get("policyVersionId", "1")}


@creates("aws:iot/certificate:Certificate")
def certificate(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                region: str) -> Result:
    """A given certificate registered with its CA (``caPem``) or without one (fleet provisioning's claim)."""
    iot = client("iot", region)
    status = "ACTIVE" if inputs.get("active") else "INACTIVE"
    if inputs.get("csr") or not inputs.get("certificatePem"):
        raise UnsupportedResource(f"aws:iot/certificate:Certificate {args.name!r}: only registering a given "
                                  "certificate is emulated")
    if inputs.get("caPem"):
        created = iot.register_certificate(certificatePem=inputs["certificatePem"], caCertificatePem=inputs["caPem"],
                                           status=status)
    else:
        created = iot.register_certificate_without_ca(certificatePem=inputs["certificatePem"], status=status)
    return created["certificateId"], {**inputs, "arn": created["certificateArn"]}


@creates("aws:iot/thing:Thing")
def thing(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any], region: str) -> Result:
    name = physical_name(args, inputs, limit=128)
    created = client("iot", region).create_thing(thingName=name)
    return name, {**inputs, "name": name, "arn": created["thingArn"], "defaultClientId": name}


@creates("aws:iot/thingPrincipalAttachment:ThingPrincipalAttachment")
def thing_principal_attachment(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                               region: str) -> Result:
    client("iot", region).attach_thing_principal(thingName=inputs["thing"], principal=inputs["principal"])
    return f"{inputs['thing']}|{inputs['principal']}", {**inputs}


@creates("aws:iot/policyAttachment:PolicyAttachment")
def policy_attachment(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                      region: str) -> Result:
    client("iot", region).attach_policy(policyName=inputs["policy"], target=inputs["target"])
    return f"{inputs['policy']}|{inputs['target']}", {**inputs}


@creates("aws:iot/topicRule:TopicRule")
def topic_rule(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
               region: str) -> Result:
    name = physical_name(args, inputs, limit=128).replace("-", "_")
    actions: list[dict[str, Any]] = []
    ignored = {"name", "description", "sql", "sqlVersion", "enabled", "errorAction", "tags", "tagsAll", "region"}
    for key, value in inputs.items():
        if key in ignored or value in (None, [], {}):
            continue
        for spec in value:
            actions.append(_topic_rule_action(key, spec))
    payload: dict[str, Any] = {"sql": inputs["sql"], "awsIotSqlVersion": inputs.get("sqlVersion", "2016-03-23"),
                               "ruleDisabled": not inputs.get("enabled", True), "actions": actions}
    if inputs.get("description"):
        payload["description"] = inputs["description"]
    if inputs.get("errorAction"):
        (key, spec), = inputs["errorAction"].items()
        api = TOPIC_RULE_ACTIONS.get(key, key)
        payload["errorAction"] = {api: ints(spec[0] if isinstance(spec, list) else spec)}
    client("iot", region).create_topic_rule(ruleName=name, topicRulePayload=payload)
    arn = f"arn:aws:iot:{region}:{ctx.account_id}:rule/{name}"
    return name, {**inputs, "name": name, "arn": arn}


# -- fleet provisioning (kept by localcloud/services/iot/fleet_resources.py) -------------------------------------------
@creates("aws:iot/provisioningTemplate:ProvisioningTemplate")
def provisioning_template(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                          region: str) -> Result:
    return fleet_resources.provisioning_template(ctx.account_id, region, args.name, inputs)


@creates("aws-native:iot:CertificateProvider")
def certificate_provider(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                         region: str) -> Result:
    return fleet_resources.aws_native_certificate_provider(ctx.account_id, region, args.name, inputs)


@creates(f"{DYNAMIC_TYPE}/fleet:CertificateProviderGuard")
def certificate_provider_guard(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                               region: str) -> Result:
    return fleet_resources.certificate_provider_guard(ctx.account_id, region, args.name, inputs)
