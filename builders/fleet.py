"""Fleet provisioning by claim: the template, the claim policy and its topics (pure builders; docs/design.md,
"Fleet provisioning by claim").

``fleet_template(device_policy_name)`` is the provisioning template a device runs with RegisterThing: the thing is
named after the template parameter ``SerialNumber`` (the serial the pre-provisioning hook found on the allow-list),
records its owner certificate in the attribute ``certificateId`` (the owner attribute of "One owner per thing
name"), gets the device policy, and its certificate is activated
(https://docs.aws.amazon.com/iot/latest/developerguide/provision-template.html, "Fleet provisioning").

``claim_policy(region, account_id, template_name)`` is the IoT policy of the claim certificate every device ships
with: MQTT CONNECT with a client id of its own (``claim-*``: ``claim-`` is reserved, so never a device's nor a
canary's, ``claim_client_id``), and the fleet provisioning MQTT API of our template only
(https://docs.aws.amazon.com/iot/latest/developerguide/fleet-provision-api.html): publish the two requests,
subscribe to and receive their ``accepted``/``rejected`` replies, in JSON. No wildcard but the client id's random
part; nothing else.
"""
from __future__ import annotations

import re
import secrets
from typing import Any

from builders import arns
from builders.provisioning import device_template
from contract.fleet import SERIAL_NUMBER
from contract.names import CLAIM_PREFIX

#: CreateProvisioningTemplate's templateName: 1-36 of [0-9A-Za-z_-].
TEMPLATE_NAME = re.compile(r"[0-9A-Za-z_-]{1,36}")
CREATE_FROM_CSR = "$aws/certificates/create-from-csr/json"
#: The claim's MQTT client ids: ``claim-`` (reserved for it, contract/names.py) and a random part, so the
#: claim can never take a device's or a canary's client id, nor two devices provisioning at once each other's.
CLAIM_CLIENT_ID_PATTERN = f"{CLAIM_PREFIX}*"
REPLIES = ("accepted", "rejected")


def provision_topic(template_name: str) -> str:
    """RegisterThing's request topic for ``template_name`` (JSON payloads)."""
    if not TEMPLATE_NAME.fullmatch(template_name or ""):
        raise ValueError(f"{template_name!r} is not a provisioning template name (1-36 of [0-9A-Za-z_-])")
    return f"$aws/provisioning-templates/{template_name}/provision/json"


def claim_client_id() -> str:
    """A new client id for one connection with the claim: ``claim-`` and 32 random hex digits (38 bytes)."""
    return f"{CLAIM_PREFIX}{secrets.token_hex(16)}"


def request_topics(template_name: str) -> tuple[str, str]:
    return CREATE_FROM_CSR, provision_topic(template_name)


def reply_topics(template_name: str) -> tuple[str, ...]:
    return tuple(f"{request}/{reply}" for request in request_topics(template_name) for reply in REPLIES)


def fleet_template(device_policy_name: str) -> dict[str, Any]:
    """The fleet provisioning template body: the thing is named from the ``SerialNumber`` parameter (the
    pre-provisioning hook has refused a serial already provisioned before the template runs)."""
    return device_template(SERIAL_NUMBER, device_policy_name)


def claim_policy(region: str, account_id: str, template_name: str) -> dict[str, Any]:
    """The claim certificate's IoT policy: the fleet provisioning topics of ``template_name`` and nothing else."""
    iot = lambda resource: arns.iot(region, account_id, resource)
    requests, replies = request_topics(template_name), reply_topics(template_name)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ConnectAsAClaim", "Effect": "Allow", "Action": ["iot:Connect"],
             "Resource": [iot(f"client/{CLAIM_CLIENT_ID_PATTERN}")]},
            {"Sid": "FleetProvisioningRequests", "Effect": "Allow", "Action": ["iot:Publish"],
             "Resource": [iot(f"topic/{t}") for t in requests]},
            {"Sid": "FleetProvisioningReplies", "Effect": "Allow", "Action": ["iot:Subscribe"],
             "Resource": [iot(f"topicfilter/{t}") for t in replies]},
            {"Sid": "FleetProvisioningReplyDelivery", "Effect": "Allow", "Action": ["iot:Receive"],
             "Resource": [iot(f"topic/{t}") for t in replies]},
        ],
    }


def certificate_provider_policy(signing_key_arn: str, log_group_arn: str, allow_list_table_arn: str) -> dict[str, Any]:
    """The certificate provider Lambda: ``kms:Sign`` with the CA's key (it never leaves KMS), GetItem and one
    conditional UpdateItem on the allow-list entry of the serial it certifies (this region's replica), and its own
    logs. The CA certificate it signs under comes in its environment, so it needs no IoT permission at all."""
    from builders import iam

    return iam.document([iam.statement(["kms:Sign"], [signing_key_arn], sid="SignWithCaKey"),
                         iam.statement(["dynamodb:GetItem", "dynamodb:UpdateItem"], [allow_list_table_arn],
                                       sid="ReadAndRecordTheEnrolment"),
                         iam.log_writer_statement(log_group_arn)])


def hook_policy(region: str, account_id: str, allow_list_table_name: str, inventory_table_name: str,
                log_group_arn: str, allow_list_region: str | None = None) -> dict[str, Any]:
    """The pre-provisioning hook: one conditional UpdateItem on the allow-list entry, in the certificate provider's
    region (``allow_list_region``, default this one), and one on the inventory item here (GetItem to decide a lost
    condition again), and its own logs. Nothing in IoT: the template does the rest."""
    from builders import iam

    tables = [arns.dynamodb_table(allow_list_region or region, account_id, allow_list_table_name),
              arns.dynamodb_table(region, account_id, inventory_table_name)]
    return iam.document([iam.statement(["dynamodb:GetItem", "dynamodb:UpdateItem"], tables,
                                       sid="ClaimSerialAndWriteInventory"),
                         iam.log_writer_statement(log_group_arn)])
