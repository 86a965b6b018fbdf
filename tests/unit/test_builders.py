"""The pure builders: IAM documents, the device policy, rule SQL, names."""

import pytest

from builders import arns, iam
from builders.iot_policy import device_policy
from builders.iot_rules import jitr_sql, rule_name, telemetry_sql
from components.naming import Names

REGION, ACCOUNT = "eu-west-1", "111122223333"


def test_service_trust_pins_account_and_source_arn():
    doc = iam.service_trust_policy("states", ACCOUNT, "arn:aws:states:eu-west-1:111122223333:stateMachine:x")
    (stmt,) = doc["Statement"]
    assert stmt["Principal"] == {"Service": "states.amazonaws.com"}
    assert stmt["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                                 "ArnLike": {"aws:SourceArn": "arn:aws:states:eu-west-1:111122223333:stateMachine:x"}}


@pytest.mark.parametrize("service", ["ec2", "lambda"])
def test_services_that_send_no_source_context_get_no_condition(service):
    (stmt,) = iam.service_trust_policy(service, ACCOUNT)["Statement"]
    assert "Condition" not in stmt


def test_state_machine_policy_narrows_every_action():
    resources = iam.StateMachineResources(REGION, ACCOUNT, "app-device", inventory_table_name="app-inv",
                                          event_bus_name="app-bus", function_arn="arn:aws:lambda:eu-west-1:111122223333:function:f")
    doc = iam.state_machine_policy({"iot:CreateThing", "iot:AttachPolicy", "dynamodb:UpdateItem",
                                    "events:PutEvents", "lambda:InvokeFunction"}, resources)
    by_action = {a: s["Resource"] for s in doc["Statement"] for a in s["Action"]}
    assert by_action["iot:CreateThing"] == ["arn:aws:iot:eu-west-1:111122223333:thing/*"]
    assert by_action["iot:AttachPolicy"] == ["arn:aws:iot:eu-west-1:111122223333:cert/*",
                                             "arn:aws:iot:eu-west-1:111122223333:policy/app-device"]
    assert by_action["dynamodb:UpdateItem"] == ["arn:aws:dynamodb:eu-west-1:111122223333:table/app-inv"]
    assert by_action["events:PutEvents"] == ["arn:aws:events:eu-west-1:111122223333:event-bus/app-bus"]
    assert by_action["lambda:InvokeFunction"] == ["arn:aws:lambda:eu-west-1:111122223333:function:f",
                                                  "arn:aws:lambda:eu-west-1:111122223333:function:f:*"]
    # Only the log-delivery actions, which support nothing narrower, are on "*".
    assert {a for s in doc["Statement"] if s["Resource"] == ["*"] for a in s["Action"]} == set(iam.SFN_LOG_DELIVERY_ACTIONS)


def test_an_unmapped_action_fails_instead_of_widening():
    with pytest.raises(ValueError, match="No least-privilege resource mapping for 'iot:DeleteCACertificate'"):
        iam.state_machine_policy({"iot:DeleteCACertificate"}, iam.StateMachineResources(REGION, ACCOUNT, "p"))


def test_an_action_without_its_resource_fails():
    with pytest.raises(ValueError, match="dynamodb:UpdateItem needs a resource"):
        iam.state_machine_policy({"dynamodb:UpdateItem"}, iam.StateMachineResources(REGION, ACCOUNT, "p"))


def test_tls_only_bucket_policy_denies_plain_http():
    (stmt,) = iam.tls_only_bucket_policy("arn:aws:s3:::b")["Statement"]
    assert stmt["Effect"] == "Deny"
    assert stmt["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert stmt["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]


DLQ = "arn:aws:sqs:eu-west-1:111122223333:app-replication-dlq"
RULES = ["arn:aws:events:eu-west-1:111122223333:rule/app-devices/app-replicate",
         "arn:aws:events:eu-west-1:111122223333:rule/app-devices/app-decommission"]


def test_pipe_policy_sends_only_to_its_dead_letter_queue():
    doc = iam.pipe_policy("arn:aws:dynamodb:eu-west-1:111122223333:table/t/stream/x",
                          "arn:aws:events:eu-west-1:111122223333:event-bus/app-devices", DLQ)
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["SendToDeadLetterQueue"]["Action"] == ["sqs:SendMessage"]
    assert by_sid["SendToDeadLetterQueue"]["Resource"] == [DLQ]
    # No other statement grants anything on SQS.
    assert [s["Sid"] for s in doc["Statement"] if any(a.startswith("sqs:") for a in s["Action"])] == [
        "SendToDeadLetterQueue"]


def test_dead_letter_queue_policy_admits_eventbridge_only_for_the_named_rules_of_our_account():
    (stmt,) = iam.dead_letter_queue_policy(DLQ, ACCOUNT, RULES)["Statement"]
    assert stmt["Effect"] == "Allow"
    assert stmt["Principal"] == {"Service": "events.amazonaws.com"}
    assert stmt["Action"] == "sqs:SendMessage"
    assert stmt["Resource"] == DLQ
    assert stmt["Condition"] == {"ArnEquals": {"aws:SourceArn": sorted(RULES)},
                                 "StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_dead_letter_queue_policy_without_rules_is_refused():
    with pytest.raises(ValueError, match="needs the rules"):
        iam.dead_letter_queue_policy(DLQ, ACCOUNT, [])


def test_queue_and_rule_arns_have_the_shapes_aws_gives_them():
    assert arns.sqs_queue(REGION, ACCOUNT, "app-replication-dlq") == DLQ
    assert arns.event_rule(REGION, ACCOUNT, "app-devices", "app-replicate") == RULES[0]


def test_device_policy_is_scoped_to_the_connected_thing():
    doc = device_policy(REGION, ACCOUNT)
    actions = {s["Action"]: s for s in doc["Statement"]}
    assert set(actions) == {"iot:Connect", "iot:Publish", "iot:Subscribe", "iot:Receive"}
    prefix = "arn:aws:iot:eu-west-1:111122223333:"
    assert actions["iot:Connect"]["Resource"] == prefix + "client/${iot:Connection.Thing.ThingName}"
    assert actions["iot:Connect"]["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}
    assert actions["iot:Publish"]["Resource"] == prefix + "topic/i/${iot:Connection.Thing.ThingName}/*"
    assert actions["iot:Subscribe"]["Resource"] == prefix + "topicfilter/e/${iot:Connection.Thing.ThingName}/*"
    assert actions["iot:Receive"]["Resource"] == prefix + "topic/e/${iot:Connection.Thing.ThingName}/*"
    assert all(s["Effect"] == "Allow" and "*" not in s["Action"] for s in doc["Statement"])


def test_rule_names_use_only_allowed_characters():
    assert rule_name("multi-region-iot", "jitr") == "multi_region_iot_jitr"


def test_jitr_rule_listens_only_to_our_ca_and_pending_certificates():
    sql = jitr_sql("abc123")
    assert "FROM '$aws/events/certificates/registered/abc123'" in sql
    assert sql.endswith("WHERE certificateStatus = 'PENDING_ACTIVATION'")
    assert "get_dynamodb" not in sql  # every first registration event must start onboarding


def test_telemetry_sql_stores_device_timestamp_and_receiving_region():
    sql = telemetry_sql("us-west-2")
    assert "topic(2) AS PK" in sql and "'us-west-2' AS Region" in sql and "FROM 'i/+/m'" in sql
    assert "newuuid()" in sql  # two messages in one millisecond keep distinct keys


def test_names_derive_from_the_application():
    n = Names("acme-iot")
    assert (n.inventory_table, n.data_table, n.device_policy) == ("acme-iot-device-inventory", "acme-iot-data", "acme-iot-device")
    assert n.certificate_store_bucket("eu-west-1", ACCOUNT) == "acme-iot-certs-eu-west-1-111122223333"
    assert n.telemetry_rule == "acme_iot_store_telemetry"
    assert n.replication_dead_letter_queue == "acme-iot-replication-dlq"


def test_rules_of_the_default_bus_have_no_bus_in_their_arn():
    assert arns.event_rule("eu-west-1", "123456789012", "default", "r") == "arn:aws:events:eu-west-1:123456789012:rule/r"


def test_failed_execution_pattern_names_only_the_given_machines_and_the_given_up_statuses():
    from builders import failures

    machine = "arn:aws:states:eu-west-1:123456789012:stateMachine:app-replicate-device"
    pattern = failures.failed_execution_pattern([machine, machine])
    assert pattern == {"source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"],
                       "detail": {"status": ["FAILED", "TIMED_OUT", "ABORTED"], "stateMachineArn": [machine]}}
    for bad in ([], ["app-replicate-device"]):
        with pytest.raises(ValueError, match="state machine ARNs"):
            failures.failed_execution_pattern(bad)
