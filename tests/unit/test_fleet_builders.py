"""Fleet provisioning's pure builders: the template names the thing after SerialNumber, records the owner, attaches
the device policy and activates; the claim policy allows exactly our template's MQTT API and nothing else; the two
Lambdas' policies are least privilege."""

import json

import pytest

from builders import fleet

REGION, ACCOUNT, TEMPLATE = "eu-west-1", "123456789012", "app-fleet"


def test_the_template_names_the_thing_after_the_serial_records_its_owner_and_activates():
    template = fleet.fleet_template("app-device")
    thing = template["Resources"]["thing"]
    assert thing["Properties"]["ThingName"] == {"Ref": "SerialNumber"}
    assert thing["Properties"]["AttributePayload"] == {"certificateId": {"Ref": "AWS::IoT::Certificate::Id"}}
    assert thing["OverrideSettings"]["AttributePayload"] == "DO_NOTHING"
    assert template["Resources"]["certificate"]["Properties"]["Status"] == "ACTIVE"
    assert template["Resources"]["policy"]["Properties"] == {"PolicyName": "app-device"}
    assert set(template["Parameters"]) == {"SerialNumber", "AWS::IoT::Certificate::Id"}
    json.dumps(template)


def test_the_claim_policy_allows_exactly_our_templates_topics():
    policy = fleet.claim_policy(REGION, ACCOUNT, TEMPLATE)
    allowed = {(a, r) for s in policy["Statement"] for a in s["Action"] for r in s["Resource"]}
    arn = f"arn:aws:iot:{REGION}:{ACCOUNT}:"
    csr, provision = "$aws/certificates/create-from-csr/json", f"$aws/provisioning-templates/{TEMPLATE}/provision/json"
    replies = [f"{t}/{r}" for t in (csr, provision) for r in ("accepted", "rejected")]
    assert allowed == {("iot:Connect", arn + "client/claim-*"),  # client ids of its own only (claim- is reserved)
                       *{("iot:Publish", arn + "topic/" + t) for t in (csr, provision)},
                       *{("iot:Subscribe", arn + "topicfilter/" + t) for t in replies},
                       *{("iot:Receive", arn + "topic/" + t) for t in replies}}
    assert [r for _, r in allowed if "*" in r] == [arn + "client/claim-*"]


def test_each_claim_connection_gets_a_client_id_of_its_own_that_no_device_can_have():
    from contract import names

    ids = {fleet.claim_client_id() for _ in range(100)}
    assert len(ids) == 100 and all(i.startswith("claim-") and len(i.encode()) <= 128 for i in ids)
    assert all(names.is_reserved(i) for i in ids)  # no thing, hence no device, may be named so


@pytest.mark.parametrize("name", ["", "a" * 37, "bad/name", "x*"])
def test_a_template_name_aws_would_refuse_is_refused(name):
    with pytest.raises(ValueError, match="is not a provisioning template name"):
        fleet.claim_policy(REGION, ACCOUNT, name)


def test_the_certificate_provider_may_only_sign_with_the_ca_key_read_and_record_the_enrolment_and_log():
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/mrk-0123"
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/app-allow-list"
    policy = fleet.certificate_provider_policy(key, f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:x", table)
    sign = [s for s in policy["Statement"] if "kms:Sign" in s["Action"]]
    assert sign == [{"Effect": "Allow", "Action": ["kms:Sign"], "Resource": [key], "Sid": "SignWithCaKey"}]
    data = [s for s in policy["Statement"] if any(a.startswith("dynamodb:") for a in s["Action"])]
    assert [(s["Action"], s["Resource"]) for s in data] == [(["dynamodb:GetItem", "dynamodb:UpdateItem"], [table])]
    assert not [a for s in policy["Statement"] for a in s["Action"] if a.startswith("iot:")]


@pytest.mark.parametrize("allow_list_region", [None, "us-west-2"])
def test_the_hook_may_only_read_and_update_the_allow_list_and_the_inventory(allow_list_region):
    policy = fleet.hook_policy(REGION, ACCOUNT, "app-allow-list", "app-device-inventory", "arn:aws:logs:x",
                               allow_list_region=allow_list_region)
    data = [s for s in policy["Statement"] if any(a.startswith("dynamodb:") for a in s["Action"])]
    assert data[0]["Action"] == ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    assert sorted(data[0]["Resource"]) == sorted([
        f"arn:aws:dynamodb:{allow_list_region or REGION}:{ACCOUNT}:table/app-allow-list",
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/app-device-inventory"])
    assert not [a for s in policy["Statement"] for a in s["Action"] if a.startswith(("iot:", "kms:"))]
