"""A fleet-provisioning claim policy written with wildcards (every provisioning template, every topic under
$aws/certificates, any client id) is refused by the pack: a claim certificate ships in every device, so its policy
must name our template's topics exactly (docs/design.md, "Provisioning modes")."""

from __future__ import annotations

import pytest
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


IOT_POLICY_RULES = ("iot-policy-no-wildcard-actions", "iot-policy-no-wildcard-resources", "iot-policy-device-scoped")


def our_claim_policy(template: str = "multi-region-iot-fleet") -> dict:
    import json

    from builders.fleet import claim_policy

    document = claim_policy(iot_arn("x").split(":")[3], iot_arn("x").split(":")[4], template)
    return {"name": "claim", "policy": json.dumps(document)}


@pytest.mark.parametrize("rule", IOT_POLICY_RULES)
def test_the_exact_claim_policy_is_accepted(rule: str) -> None:
    assert run_resource(rule, IOT_POLICY, our_claim_policy()) == []


def test_a_claim_policy_reaching_anything_else_is_refused() -> None:
    import json

    policy = our_claim_policy()
    document = json.loads(policy["policy"])
    document["Statement"][1]["Resource"].append(iot_arn("topic/i/sensor-1/m"))
    messages = run_resource("iot-policy-device-scoped", IOT_POLICY, {**policy, "policy": json.dumps(document)})
    assert len(messages) == 1 and "topic/i/sensor-1/m" in messages[0]


def test_a_claim_policy_receiving_a_request_topic_or_connecting_as_anyone_is_refused() -> None:
    messages = run_resource("iot-policy-device-scoped", IOT_POLICY, {"name": "claim", "policy": doc(
        allow("iot:Connect", iot_arn("client/claim-device")),
        allow("iot:Receive", iot_arn("topic/$aws/certificates/create-from-csr/json")))})
    assert len(messages) == 2


@pytest.mark.parametrize("client", ["client/${iot:ClientId}", "client/*", "client/claim-*-x", "client/claim-?*"])
def test_a_claim_policy_connecting_with_any_client_id_but_its_own_is_refused(client: str) -> None:
    """Every device ships the claim: with ${iot:ClientId} (or any other pattern than client/claim-*, claim- being
    reserved) a claim holder connects with an onboarded device's or a canary's client id and ends its session."""
    import json

    policy = our_claim_policy()
    document = json.loads(policy["policy"])
    document["Statement"][0]["Resource"] = [iot_arn(client)]
    messages = run_resource("iot-policy-device-scoped", IOT_POLICY, {**policy, "policy": json.dumps(document)})
    assert len(messages) == 1 and client in messages[0] and "client/claim-*" in messages[0]
