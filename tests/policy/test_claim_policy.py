"""A fleet-provisioning claim policy written with wildcards (every provisioning template, every topic under
$aws/certificates, any client id) is refused by the pack: a claim certificate ships in every device, so its policy
must name our template's topics exactly (docs/design.md, "Provisioning modes")."""

from __future__ import annotations

from policy_harness import allow, doc, iot_arn, run_resource

IOT_POLICY = "aws:iot/policy:Policy"


def wildcard_claim_policy() -> dict:
    return {"name": "claim", "policy": doc(
        allow("iot:Connect", iot_arn("client/*")),
        allow(["iot:Publish", "iot:Receive"], [iot_arn("topic/$aws/certificates/create-from-csr/*"),
                                               iot_arn("topic/$aws/provisioning-templates/*/provision/*")]),
        allow("iot:Subscribe", [iot_arn("topicfilter/$aws/certificates/create-from-csr/*"),
                                iot_arn("topicfilter/$aws/provisioning-templates/*/provision/*")]),
    )}


def test_a_claim_policy_with_wildcard_topics_and_client_is_refused() -> None:
    messages = run_resource("iot-policy-device-scoped", IOT_POLICY, wildcard_claim_policy())
    refused = " ".join(messages)
    assert "provisioning-templates/*/provision/*" in refused
    assert "create-from-csr/*" in refused
    assert "client/*" in refused


def test_a_claim_policy_allowing_every_iot_action_is_refused() -> None:
    policy = {"name": "claim", "policy": doc(allow("iot:*", iot_arn("topic/$aws/provisioning-templates/t/provision/json")))}
    assert run_resource("iot-policy-no-wildcard-actions", IOT_POLICY, policy)
