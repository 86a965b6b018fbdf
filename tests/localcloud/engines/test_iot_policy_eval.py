"""IoT policy evaluation: actions, resources, variables, conditions, Deny, refusals."""

from __future__ import annotations

import json

import pytest

from localcloud.services.iot.policy_eval import IotPolicyError, RequestContext, is_allowed

ARN = "arn:aws:iot:eu-west-1:123456789012"
THING = "${iot:Connection.Thing.ThingName}"
DEVICE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": f"{ARN}:client/{THING}",
                "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
            },
            {"Effect": "Allow", "Action": ["iot:Publish"], "Resource": [f"{ARN}:topic/i/{THING}/*"]},
            {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": f"{ARN}:topicfilter/e/{THING}/*"},
        ],
    }
)
ATTACHED = RequestContext(client_id="dev-1", thing_name="dev-1")
UNATTACHED = RequestContext(client_id="dev-1", thing_name=None)


def allowed(action: str, resource: str, context: RequestContext = ATTACHED, doc: str = DEVICE_POLICY) -> bool:
    return is_allowed([("p", doc)], action, f"{ARN}:{resource}", context)


def test_thing_name_variable_scopes_connect_publish_and_subscribe() -> None:
    assert allowed("iot:Connect", "client/dev-1")
    assert not allowed("iot:Connect", "client/dev-2")
    assert allowed("iot:Publish", "topic/i/dev-1/m")
    assert not allowed("iot:Publish", "topic/i/dev-2/m")
    assert allowed("iot:Subscribe", "topicfilter/e/dev-1/x")
    assert not allowed("iot:Receive", "topic/e/dev-1/x")  # nothing allows Receive


def test_without_an_attached_thing_the_variable_statements_do_not_apply() -> None:
    assert not allowed("iot:Connect", "client/dev-1", UNATTACHED)
    assert not allowed("iot:Publish", "topic/i/dev-1/m", UNATTACHED)


def test_a_variable_value_is_literal_not_a_wildcard() -> None:
    sneaky = RequestContext(client_id="*", thing_name="*")
    assert not allowed("iot:Publish", "topic/i/dev-2/m", sneaky)


def test_client_id_variable_wildcards_and_action_case() -> None:
    doc = json.dumps(
        {"Statement": [{"Effect": "Allow", "Action": "IOT:*", "Resource": f"{ARN}:client/${{iot:ClientId}}"}]}
    )
    assert allowed("iot:Connect", "client/dev-1", UNATTACHED, doc)
    assert not allowed("iot:Connect", "client/dev-2", UNATTACHED, doc)


def test_explicit_deny_wins_over_allow() -> None:
    doc = json.dumps(
        {
            "Statement": [
                {"Effect": "Allow", "Action": "iot:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "iot:Publish", "Resource": f"{ARN}:topic/forbidden"},
            ]
        }
    )
    assert allowed("iot:Publish", "topic/ok", doc=doc)
    assert not allowed("iot:Publish", "topic/forbidden", doc=doc)


def test_no_policy_means_deny() -> None:
    assert not is_allowed([], "iot:Connect", f"{ARN}:client/dev-1", ATTACHED)


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        ({"Effect": "Allow", "NotAction": "iot:Connect", "Resource": "*"}, "NotAction"),
        ({"Effect": "Allow", "Action": "iot:Connect", "Resource": "${iot:Certificate.Subject.CommonName}"},
         "iot:Certificate.Subject.CommonName"),
        ({"Effect": "Allow", "Action": "iot:Connect", "Resource": "*",
          "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020"}}}, "DateGreaterThan"),
        ({"Effect": "Allow", "Action": "iot:Connect", "Resource": "*",
          "Condition": {"StringEquals": {"aws:SourceIp": "1.2.3.4"}}}, "aws:SourceIp"),
        ({"Effect": "Maybe", "Action": "iot:Connect", "Resource": "*"}, "Effect"),
    ],
)  # fmt: skip
def test_unsupported_constructs_are_refused_by_name(statement: dict, named: str) -> None:
    with pytest.raises(IotPolicyError, match=named.replace(".", r"\.").replace("$", r"\$")):
        allowed("iot:Connect", "client/dev-1", doc=json.dumps({"Statement": [statement]}))


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("topic/i/*", "topic/i/dev-1/m", True),
        ("topic/i/*/m", "topic/i/dev-1/m", True),
        ("topic/i/*/m", "topic/i/dev-1/x", False),
        ("topic/*/*/m", "topic/i/a/b/m", True),
        ("topic/i/dev-?/m", "topic/i/dev-1/m", True),
        ("topic/i/dev-?/m", "topic/i/dev-12/m", False),
        ("*", "", True),
        ("a*b*c", "aXXbYYc", True),
        ("a*b*c", "aXXbYY", False),
        ("Topic/x", "topic/x", False),  # resources are case-sensitive
    ],
)
def test_resource_wildcards(pattern: str, text: str, expected: bool) -> None:
    doc = json.dumps({"Statement": [{"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ARN}:{pattern}"}]})
    assert is_allowed([("p", doc)], "iot:Publish", f"{ARN}:{text}", ATTACHED) is expected
