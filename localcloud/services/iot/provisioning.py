"""AWS IoT provisioning over moto's registry (which has none): provisioning templates, and JITP on connect.

``apply_template(backend, template, parameters, certificate)`` does what AWS IoT does with a provisioning template
(https://docs.aws.amazon.com/iot/latest/developerguide/provision-template.html): resolves ``Ref`` against the
parameters (and each parameter's ``Default``), then for

* ``AWS::IoT::Thing``: creates the thing with its ``AttributePayload``; a thing that exists keeps its attributes
  when ``OverrideSettings.AttributePayload`` is ``DO_NOTHING`` (``REPLACE``/``MERGE`` update them);
* ``AWS::IoT::Certificate``: sets the certificate's ``Status``;
* ``AWS::IoT::Policy`` (``PolicyName``): attaches that existing policy to the certificate;

and attaches the certificate to the thing. A template that names a missing policy, or a parameter without a value,
raises ``TemplateError`` (AWS fails the provisioning) and changes nothing.

``provision_jitp(backend, ca, certificate)`` is the JITP workflow on a device's first connection, called by
``IotCore`` right after it auto-registered the certificate ``PENDING_ACTIVATION`` and published the registration
event: when the CA's registration config carries a template, it runs it with the parameters JITP extracts from the
certificate (``AWS::IoT::Certificate::CommonName``, ``::SerialNumber``, ``::Id``, ...). The connection is still
refused: the device reconnects once provisioned (docs/emulator.md, "JITP").
"""
from __future__ import annotations

import json
from typing import Any
from collections.abc import Mapping

from cryptography import x509
from cryptography.x509.oid import NameOID
from ...assumptions import THINGS_REGISTRATION_POLICY, Assumptions, active
from ...compat.moto.iot import FakeCertificate, IoTBackend


class TemplateError(Exception):
    """AWS IoT would fail this provisioning: the template cannot be applied as written."""


#: What JITP extracts from the device certificate's subject (jit-provisioning.html), by template parameter.
JITP_SUBJECT_PARAMETERS = {
    "AWS::IoT::Certificate::Country": NameOID.COUNTRY_NAME,
    "AWS::IoT::Certificate::Organization": NameOID.ORGANIZATION_NAME,
    "AWS::IoT::Certificate::OrganizationalUnit": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "AWS::IoT::Certificate::DistinguishedNameQualifier": NameOID.DN_QUALIFIER,
    "AWS::IoT::Certificate::StateName": NameOID.STATE_OR_PROVINCE_NAME,
    "AWS::IoT::Certificate::CommonName": NameOID.COMMON_NAME,
    "AWS::IoT::Certificate::SerialNumber": NameOID.SERIAL_NUMBER,
}


def jitp_parameters(certificate: x509.Certificate, certificate_id: str) -> dict[str, str]:
    values = {"AWS::IoT::Certificate::Id": certificate_id}
    for parameter, oid in JITP_SUBJECT_PARAMETERS.items():
        found = certificate.subject.get_attributes_for_oid(oid)
        if found:
            values[parameter] = str(found[0].value)
    return values


def _resolve(value: Any, parameters: Mapping[str, str]) -> Any:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        name = value["Ref"]
        if name not in parameters:
            raise TemplateError(f"template parameter {name!r} has no value")
        return parameters[name]
    if isinstance(value, dict):
        return {k: _resolve(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, parameters) for v in value]
    return value


def _parameters(template: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    values = {name: spec["Default"] for name, spec in (template.get("Parameters") or {}).items()
              if isinstance(spec, dict) and "Default" in spec}
    values.update(given)
    return values


def apply_template(backend: IoTBackend, template: Mapping[str, Any], parameters: Mapping[str, str],
                   certificate: FakeCertificate) -> dict[str, Any]:
    """Apply ``template`` for ``certificate``; return ``{"thingName": ..., "policies": [...], "status": ...}``."""
    values = _parameters(template, parameters)
    resources = {name: {**spec, "Properties": _resolve(spec.get("Properties") or {}, values)}
                 for name, spec in (template.get("Resources") or {}).items()}
    things = [r for r in resources.values() if r.get("Type") == "AWS::IoT::Thing"]
    policies = [r["Properties"].get("PolicyName") for r in resources.values() if r.get("Type") == "AWS::IoT::Policy"]
    statuses = [r["Properties"].get("Status") for r in resources.values() if r.get("Type") == "AWS::IoT::Certificate"]
    if len(things) > 1:
        raise TemplateError("a provisioning template declares at most one thing")
    for name in policies:
        if name not in backend.policies:
            raise TemplateError(f"policy {name!r} does not exist in {backend.region_name}")
    thing_name = None
    if things:
        properties, overrides = things[0]["Properties"], things[0].get("OverrideSettings") or {}
        thing_name = properties["ThingName"]
        attributes = {str(k): str(v) for k, v in (properties.get("AttributePayload") or {}).items()}
        arn = f"arn:aws:iot:{backend.region_name}:{backend.account_id}:thing/{thing_name}"
        existing = backend.things.get(arn)
        if existing is None:
            backend.create_thing(thing_name, None, {"attributes": attributes})
        elif overrides.get("AttributePayload", "REPLACE") in ("REPLACE", "MERGE"):
            merged = attributes if overrides.get("AttributePayload", "REPLACE") == "REPLACE" \
                else {**existing.attributes, **attributes}
            existing.attributes = merged
        backend.attach_thing_principal(thing_name, certificate.arn)
    for name in policies:
        if (certificate.arn, name) not in backend.principal_policies:
            backend.attach_policy(name, certificate.arn)
    status = statuses[0] if statuses else None
    if status:
        certificate.status = status
    return {"thingName": thing_name, "policies": policies, "status": certificate.status}


def jitp_template(ca: Any) -> dict[str, Any] | None:
    """The template of the CA's registration config (``templateBody``), or None (no JITP for this CA)."""
    config = getattr(ca, "registration_config", None) or {}
    body = config.get("templateBody")
    return json.loads(body) if body else None


def role_refusal(account_id: str, role_arn: str | None, assumptions: Assumptions | None = None) -> str | None:
    """Why AWS IoT would not provision with the template's role ``role_arn``, or None.

    AWS's JITP and fleet provisioning guides say the role "must" have ``AWSIoTThingsRegistration`` attached; whether
    a narrower role that allows every call the template makes suffices is not documented (docs/emulator.md,
    assumptions register ``fleet.register-thing-role``). Under the default assumption the managed policy is required;
    under ``permissions_suffice`` the role's permissions are not evaluated (no IAM is emulated)."""
    if (assumptions or active()).provisioning_role != "managed_policy_required":
        return None
    if not role_arn:
        return "the template has no provisioning role"
    from ...compat.moto.iam import iam_backends

    try:
        role = iam_backends[account_id]["aws"].get_role_by_arn(role_arn)
    except Exception:  # noqa: BLE001 - moto's NoSuchEntity: AWS cannot assume a role that does not exist
        return f"the provisioning role {role_arn} does not exist"
    if THINGS_REGISTRATION_POLICY not in role.managed_policies:
        return (f"the provisioning role {role_arn} does not have {THINGS_REGISTRATION_POLICY} attached, which AWS's "
                "JITP and fleet provisioning guides say it must (assumptions register fleet.register-thing-role)")
    return None


def provision_jitp(backend: IoTBackend, ca: Any, certificate: FakeCertificate,
                   parsed_certificate: x509.Certificate, *,
                   assumptions: Assumptions | None = None) -> dict[str, Any] | None:
    """Run the CA's JITP template for a certificate just auto-registered; None when the CA has no template. A
    template that fails (or a provisioning role AWS would refuse, ``role_refusal``) leaves the certificate
    PENDING_ACTIVATION (the next connection tries again), as AWS logs a provisioning failure."""
    template = jitp_template(ca)
    if template is None:
        return None
    refused = role_refusal(backend.account_id, (getattr(ca, "registration_config", None) or {}).get("roleArn"),
                           assumptions)
    if refused is not None:
        return {"error": refused, "status": certificate.status}
    try:
        return apply_template(backend, template, jitp_parameters(parsed_certificate, certificate.certificate_id),
                              certificate)
    except TemplateError as error:
        return {"error": str(error), "status": certificate.status}
