"""Provisioning templates and the provisioning role's policy (pure builders, see docs/design.md "Provisioning modes").

``jitp_template`` is the template the CA registration carries for just-in-time provisioning (JITP): AWS IoT runs it
on a device's first connection with a certificate our CA signed. It names the thing after the certificate's CN,
records the owner certificate in the thing attribute ``certificateId`` (the owner attribute of "One owner per thing
name"; an existing thing keeps its attributes: ``DO_NOTHING``), attaches the device policy and activates the
certificate. Template syntax: https://docs.aws.amazon.com/iot/latest/developerguide/provision-template.html and
https://docs.aws.amazon.com/iot/latest/developerguide/jit-provisioning.html.

The provisioning role carries the AWS managed policy ``THINGS_REGISTRATION_POLICY_ARN``: AWS's JITP and fleet
provisioning guides say the role "must" have it, and no AWS source says a narrower one suffices
(docs/design.md, "Provisioning modes"). ``provisioning_role_policy`` is that narrower candidate: what our templates
call, on our resources only. It is not deployed; the live conformance kit (``python -m ops conformance``, probe
``fleet.register-thing-role``) runs RegisterThing with it and with the managed policy, so the choice can be made
again on evidence.
"""
from __future__ import annotations

from typing import Any

from builders import arns, iam
from contract.items import OWNER_ATTRIBUTE

#: What AWS's guides say the provisioning role must have attached (jit-provisioning.html, provision-wo-cert.html).
THINGS_REGISTRATION_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AWSIoTThingsRegistration"
COMMON_NAME = "AWS::IoT::Certificate::CommonName"
CERTIFICATE_ID = "AWS::IoT::Certificate::Id"


def _require(name: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def device_template(name_parameter: str, device_policy_name: str) -> dict[str, Any]:
    """A provisioning template body (a dict; the component JSON-encodes it): a thing named from the template parameter
    ``name_parameter`` that records its owner certificate, the device policy, the certificate ACTIVE. A thing that
    exists already (replicated here, or another certificate's) keeps its owner attribute: whoever writes the inventory
    then finds the name claimed (docs/design.md, "One owner per thing name")."""
    _require("device_policy_name", device_policy_name)
    return {
        "Parameters": {name_parameter: {"Type": "String"}, CERTIFICATE_ID: {"Type": "String"}},
        "Resources": {
            "thing": {
                "Type": "AWS::IoT::Thing",
                "Properties": {
                    "ThingName": {"Ref": name_parameter},
                    "AttributePayload": {OWNER_ATTRIBUTE: {"Ref": CERTIFICATE_ID}},
                },
                "OverrideSettings": {"AttributePayload": "DO_NOTHING", "ThingTypeName": "DO_NOTHING",
                                     "ThingGroups": "DO_NOTHING"},
            },
            "certificate": {
                "Type": "AWS::IoT::Certificate",
                "Properties": {"CertificateId": {"Ref": CERTIFICATE_ID}, "Status": "ACTIVE"},
            },
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": device_policy_name}},
        },
    }


def jitp_template(device_policy_name: str) -> dict[str, Any]:
    """The JITP template body: the thing is named from the certificate's CN (the recorder then claims the name)."""
    return device_template(COMMON_NAME, device_policy_name)


TEMPLATE_ACTIONS = {
    "thing": ("iot:CreateThing", "iot:DescribeThing", "iot:UpdateThing"),
    "attach": ("iot:AttachThingPrincipal",),
    "certificate": ("iot:DescribeCertificate", "iot:UpdateCertificate"),
    "policy": ("iot:AttachPolicy", "iot:GetPolicy"),
}


def provisioning_role_policy(region: str, account_id: str, device_policy_name: str) -> dict[str, Any]:
    """Least privilege for AWS IoT running our templates in ``region``: things, certificates, the device policy.
    Not deployed (see the module docstring): the conformance kit's candidate against the managed policy."""
    for name, value in (("region", region), ("account_id", account_id), ("device_policy_name", device_policy_name)):
        _require(name, value)
    iot = lambda resource: arns.iot(region, account_id, resource)
    return iam.document([
        iam.statement(TEMPLATE_ACTIONS["thing"], [iot("thing/*")], sid="Things"),
        iam.statement(TEMPLATE_ACTIONS["attach"], [iot("thing/*"), iot("cert/*")], sid="AttachCertificateToThing"),
        iam.statement(TEMPLATE_ACTIONS["certificate"], [iot("cert/*")], sid="Certificates"),
        iam.statement(["iot:AttachPolicy"], [iot(f"policy/{device_policy_name}"), iot("cert/*")], sid="AttachDevicePolicy"),
        iam.statement(["iot:GetPolicy"], [iot(f"policy/{device_policy_name}")], sid="ReadDevicePolicy"),
    ])
