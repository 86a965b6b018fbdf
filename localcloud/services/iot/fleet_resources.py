"""Fleet provisioning's resources the local cloud keeps (``localcloud/deploy/iot.py`` registers their creators).

moto registers certificates without CA and attaches policies, but keeps no provisioning templates and no
certificate providers: those are recorded on the region's moto IoT backend (``_localcloud_provisioning_templates``
by name, ``_localcloud_certificate_provider``), where ``localcloud.services.iot.fleet`` finds them, as AWS IoT would.
"""
from __future__ import annotations

from typing import Any

from ...assumptions import active
from ...compat.moto.iot import iot_backends

TEMPLATES, PROVIDER = "_localcloud_provisioning_templates", "_localcloud_certificate_provider"


class CertificateProviderExists(Exception):
    """CreateCertificateProvider refused: the account (or region) already has one (ResourceAlreadyExistsException)."""


def templates(account: str, region: str) -> dict[str, dict[str, Any]]:
    backend = iot_backends[account][region]
    if not hasattr(backend, TEMPLATES):
        setattr(backend, TEMPLATES, {})
    return getattr(backend, TEMPLATES)


def certificate_provider(account: str, region: str) -> dict[str, Any] | None:
    return getattr(iot_backends[account][region], PROVIDER, None)


def account_certificate_provider(account: str) -> tuple[str, dict[str, Any] | None]:
    """(region, provider) of the account's certificate provider in any region, or ("", None)."""
    for region, backend in list(iot_backends[account].items()):
        provider = getattr(backend, PROVIDER, None)
        if provider is not None:
            return region, provider
    return "", None


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
    if getattr(backend, PROVIDER, None) is not None:
        raise CertificateProviderExists(f"{name}: {region} already has a certificate provider")
    # "You can only create one certificate provider per AWS account" (API reference, CreateCertificateProvider).
    # Whether that spans regions is not documented: by default (assumptions register
    # fleet.certificate-provider-per-account) it does, and the one provider serves the region it was created in.
    if active().certificate_provider_scope == "account":
        elsewhere = [other for other, regional in iot_backends[account].items()
                     if other != region and getattr(regional, PROVIDER, None) is not None]
        if elsewhere:
            raise CertificateProviderExists(
                f"{name}: account {account} already has a certificate provider (in {', '.join(sorted(elsewhere))}); "
                "AWS allows one per account (assumptions register fleet.certificate-provider-per-account)")
    provider_name = inputs.get("certificateProviderName") or name
    arn = f"arn:aws:iot:{region}:{account}:certificateprovider/{provider_name}"
    setattr(backend, PROVIDER, {"name": provider_name, "arn": arn, "lambdaFunctionArn": inputs["lambdaFunctionArn"],
                                "accountDefaultForOperations": list(inputs["accountDefaultForOperations"])})
    return provider_name, {**inputs, "arn": arn}


def certificate_provider_guard(account: str, region: str, name: str,
                               inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The guard in front of the account's certificate provider (components/certificate_provider_guard.py): its own
    decision over the providers the local cloud keeps (moto has no ListCertificateProviders), so a deployment that
    would make a second one is refused as the guard's check refuses it in a preview."""
    import base64

    import dill

    guard = dill.loads(base64.b64decode(inputs["__provider"]))  # noqa: S301 - the program's own, pickled by Pulumi
    # Every region of the account, as the guard lists every IoT region of the partition.
    found = {r: [provider["name"]] for r, regional in iot_backends[account].items()
             if (provider := getattr(regional, PROVIDER, None)) is not None}
    problems = guard.conflicts(found, inputs["ownerRegion"], inputs["providerName"], inputs["regions"])
    if problems:
        raise CertificateProviderExists(f"{name}: " + "; ".join(problems))
    return f"{inputs['ownerRegion']}/{inputs['providerName']}", {k: v for k, v in inputs.items() if k != "__provider"}
