"""The local cloud's creators for fleet provisioning's resources (``localcloud.deployer`` registers them).

moto registers certificates without CA and attaches policies, but keeps no provisioning templates and no
certificate providers: those are recorded on the region's moto IoT backend (``_localcloud_provisioning_templates``
by name, ``_localcloud_certificate_provider``), where ``localcloud.services.iot.fleet`` finds them, as AWS IoT would.
"""
from __future__ import annotations

from typing import Any

import boto3
from moto.iot.models import iot_backends

TEMPLATES, PROVIDER = "_localcloud_provisioning_templates", "_localcloud_certificate_provider"


def templates(account: str, region: str) -> dict[str, dict[str, Any]]:
    backend = iot_backends[account][region]
    if not hasattr(backend, TEMPLATES):
        setattr(backend, TEMPLATES, {})
    return getattr(backend, TEMPLATES)


def certificate_provider(account: str, region: str) -> dict[str, Any] | None:
    return getattr(iot_backends[account][region], PROVIDER, None)


def certificate(account: str, region: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """aws:iot/certificate:Certificate with a PEM and no CA: RegisterCertificateWithoutCA."""
    if inputs.get("caPem") or inputs.get("csr") or not inputs.get("certificatePem"):
        raise NotImplementedError(f"{name}: the local cloud registers certificates without CA only")
    response = boto3.client("iot", region_name=region).register_certificate_without_ca(
        certificatePem=inputs["certificatePem"], status="ACTIVE" if inputs.get("active") else "INACTIVE")
    return response["certificateId"], {**inputs, "arn": response["certificateArn"]}


def policy_attachment(account: str, region: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    boto3.client("iot", region_name=region).attach_policy(policyName=inputs["policy"], target=inputs["target"])
    return f"{inputs['policy']}|{inputs['target']}", dict(inputs)


def provisioning_template(account: str, region: str, name: str,
                          inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    template_name = inputs.get("name") or name
    arn = f"arn:aws:iot:{region}:{account}:provisioningtemplate/{template_name}"
    templates(account, region)[template_name] = {
        "templateArn": arn, "templateBody": inputs["templateBody"], "enabled": bool(inputs.get("enabled")),
        "provisioningRoleArn": inputs["provisioningRoleArn"], "type": inputs.get("type", "FLEET_PROVISIONING"),
        "preProvisioningHook": dict(inputs.get("preProvisioningHook") or {}) or None}
    return template_name, {**inputs, "name": template_name, "arn": arn, "defaultVersionId": 1}


def aws_native_certificate_provider(account: str, region: str, name: str,
                                    inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    backend = iot_backends[account][region]
    if getattr(backend, PROVIDER, None) is not None:  # AWS: one certificate provider per account (and region)
        raise NotImplementedError(f"{name}: {region} already has a certificate provider")
    provider_name = inputs.get("certificateProviderName") or name
    arn = f"arn:aws:iot:{region}:{account}:certificateprovider/{provider_name}"
    setattr(backend, PROVIDER, {"name": provider_name, "arn": arn, "lambdaFunctionArn": inputs["lambdaFunctionArn"],
                                "accountDefaultForOperations": list(inputs["accountDefaultForOperations"])})
    return provider_name, {**inputs, "arn": arn}
