"""The whole program, both stack kinds, under Pulumi mocks: the wiring that matters."""

from __future__ import annotations

import json
import re

import pytest

import pki
from components.config import ConfigError
from localcloud.mockrun import run_stack

PRIMARY_REF = "organization/multi-region-iot/eu-west-1"


def policy_docs(run, type_="aws:iam/rolePolicy:RolePolicy"):
    return {r.name: json.loads(r.inputs["policy"]) for r in run.of_type(type_)}


def definition(run, machine_name):
    (sm,) = [r for r in run.of_type("aws:sfn/stateMachine:StateMachine") if r.inputs["name"] == machine_name]
    return json.loads(sm.inputs["definition"])


def task_resources(defn):
    found = []
    for state in defn["States"].values():
        found.append(state)
        for branch in state.get("Branches", []):
            found.extend(task_resources(branch))
    return found


def test_primary_owns_the_global_tables(primary_run):
    tables = {r.inputs["name"]: r for r in primary_run.of_type("aws:dynamodb/table:Table")}
    inventory, data = tables["multi-region-iot-device-inventory"], tables["multi-region-iot-data"]
    assert inventory.inputs["hashKey"] == "ThingName"
    assert inventory.inputs["streamEnabled"] and inventory.inputs["streamViewType"] == "NEW_AND_OLD_IMAGES"
    assert (data.inputs["hashKey"], data.inputs["rangeKey"]) == ("PK", "SK")
    for table in (inventory, data):
        assert table.inputs["billingMode"] == "PAY_PER_REQUEST"
        assert table.inputs["pointInTimeRecovery"] == {"enabled": True}
        assert table.inputs["serverSideEncryption"] == {"enabled": True}
        assert [r["regionName"] for r in table.inputs["replicas"]] == ["us-west-2"]
        assert all(r["pointInTimeRecovery"] for r in table.inputs["replicas"])
    assert primary_run.of_type("iotmr:global:Tables")


def test_secondary_creates_no_global_tables_only_its_regional_leases_and_pacing_queues(secondary_run):
    tables = secondary_run.of_type("aws:dynamodb/table:Table")
    assert sorted(t.inputs["name"] for t in tables) == ["multi-region-iot-api-pacing",
                                                        "multi-region-iot-registration-leases"]
    assert not any(t.inputs.get("replicas") for t in tables)
    assert not secondary_run.of_type("iotmr:global:Tables")


def test_primary_exports_each_regions_own_stream(primary_run):
    arns = primary_run.outputs["inventoryStreamArns"]
    assert set(arns) == {"eu-west-1", "us-west-2"}
    assert ":eu-west-1:" in arns["eu-west-1"] and ":us-west-2:" in arns["us-west-2"]
    assert primary_run.outputs["regions"] == ["eu-west-1", "us-west-2"]


@pytest.mark.parametrize("run_name, region", [("primary_run", "eu-west-1"), ("secondary_run", "us-west-2")])
def test_each_pipe_reads_its_own_regions_stream(request, run_name, region, primary_run):
    run = request.getfixturevalue(run_name)
    (pipe,) = run.of_type("aws:pipes/pipe:Pipe")
    assert pipe.inputs["source"] == primary_run.outputs["inventoryStreamArns"][region]
    assert f":{region}:" in pipe.inputs["source"]
    (bus,) = run.of_type("aws:cloudwatch/eventBus:EventBus")
    assert pipe.inputs["target"] == bus.outputs["arn"]
    params = pipe.inputs["targetParameters"]["eventbridgeEventBusParameters"]
    assert params["source"] == "multi-region-iot.devices"
    # The filter keeps this region's own writes out: the origin does no replication work.
    patterns = [json.loads(f["pattern"]) for f in pipe.inputs["sourceParameters"]["filterCriteria"]["filters"]]
    assert region in json.dumps(patterns)


@pytest.mark.parametrize("run_name", ["primary_run", "secondary_run"])
def test_every_region_has_every_regional_component(request, run_name):
    run = request.getfixturevalue(run_name)
    types = {r.type for r in run.resources}
    for token in ("iotmr:regional:Region", "iotmr:regional:Endpoint", "iotmr:regional:Registration",
                  "iotmr:regional:Replication", "iotmr:regional:Telemetry", "iotmr:regional:TestResources",
                  "iotmr:regional:StateMachine", "iotmr:regional:Function", "iotmr:regional:Pacing"):
        assert token in types, token


@pytest.mark.parametrize("run_name", ["primary_run", "secondary_run"])
def test_every_resource_has_a_component_parent(request, run_name):
    run = request.getfixturevalue(run_name)
    for r in run.resources:
        if r.type.startswith("pulumi:") or r.type == "iotmr:global:Tables" or r.type == "iotmr:regional:Region":
            continue
        assert (r.parent and "iotmr:" in r.parent) or "aws:" in (r.parent or ""), (r.type, r.name, r.parent)


def inspector(run):
    (fn,) = [f for f in run.of_type("aws:lambda/function:Function") if f.inputs["name"].endswith("-certificate-inspector")]
    return fn


def test_jitr_machine_names_the_inspector_and_the_inventory(primary_run):
    fn = inspector(primary_run)
    defn = json.dumps(definition(primary_run, "multi-region-iot-jitr"))
    assert fn.outputs["arn"] in defn
    assert "multi-region-iot-device-inventory" in defn
    assert "multi-region-iot-device" in defn  # the device policy it attaches
    assert fn.inputs["environment"]["variables"]["INVENTORY_TABLE"] == "multi-region-iot-device-inventory"
    assert fn.inputs["architectures"] == ["arm64"] and fn.inputs["runtime"] == "python3.12"


def test_jitr_rule_starts_the_jitr_machine_for_our_ca_only(primary_run):
    rules = {r.inputs["name"]: r for r in primary_run.of_type("aws:iot/topicRule:TopicRule")}
    rule = rules["multi_region_iot_jitr"]
    (ca,) = primary_run.of_type("aws:iot/caCertificate:CaCertificate")
    assert rule.inputs["sql"] == (f"SELECT * FROM '$aws/events/certificates/registered/{ca.id}' "
                                  "WHERE certificateStatus = 'PENDING_ACTIVATION'")
    (action,) = rule.inputs["stepFunctions"]
    assert action["stateMachineName"] == "multi-region-iot-jitr"
    assert ca.inputs["certificateMode"] == "SNI_ONLY" and ca.inputs["allowAutoRegistration"] is True


SQL_FUNCTION_CALL = re.compile(r"\b(get_dynamodb|aws_lambda|get_secret|get_registry_data|get_thing_shadow|"
                               r"machinelearning_predict|get_mqtt_property)\s*\(", re.IGNORECASE)


def test_no_jitr_rule_calls_a_sql_function_that_can_fail_and_match_nothing(primary_run, secondary_run):
    # get_dynamodb() of a missing item is reported to make the rule match nothing (re:Post QUtmrQNjM4SkiP8mWy31_8Ew)
    for run in (primary_run, secondary_run):
        (rule,) = [r for r in run.of_type("aws:iot/topicRule:TopicRule") if r.inputs["name"].endswith("_jitr")]
        assert not SQL_FUNCTION_CALL.search(rule.inputs["sql"]), rule.inputs["sql"]


def test_jitr_rule_reads_nothing_so_its_role_only_starts_the_machine_and_logs_failures(primary_run):
    rules = {r.inputs["name"]: r for r in primary_run.of_type("aws:iot/topicRule:TopicRule")}
    rule = rules["multi_region_iot_jitr"]
    (role,) = [r for r in primary_run.of_type("aws:iam/role:Role") if r.outputs["arn"] == action_role(rule)]
    (policy,) = [json.loads(p.inputs["policy"]) for p in primary_run.of_type("aws:iam/rolePolicy:RolePolicy")
                 if p.inputs["role"] in (role.id, role.outputs.get("name"), role.inputs.get("name"))]
    actions = sorted(a for s in policy["Statement"] for a in s["Action"])
    assert actions == ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents", "states:StartExecution"]


def action_role(rule):
    (action,) = rule.inputs["stepFunctions"]
    return action["roleArn"]


def test_rules_on_the_bus_start_the_right_machines(secondary_run):
    rules = {r.urn: r for r in secondary_run.of_type("aws:cloudwatch/eventRule:EventRule")}
    machines = {r.outputs["arn"]: r.inputs["name"] for r in secondary_run.of_type("aws:sfn/stateMachine:StateMachine")}
    started = {}
    for target in secondary_run.of_type("aws:cloudwatch/eventTarget:EventTarget"):
        if target.inputs["eventBusName"] == "default":
            continue  # failed executions into the dead-letter queue, tested below
        rule = next(r for r in rules.values() if r.inputs["name"] == target.inputs["rule"])
        started[rule.inputs["name"]] = machines[target.inputs["arn"]]
        assert target.inputs["inputTransformer"]["inputTemplate"]
        assert target.inputs["eventBusName"] == "multi-region-iot-devices"
    assert started == {"multi-region-iot-replicate": "multi-region-iot-replicate-device",
                       "multi-region-iot-decommission": "multi-region-iot-decommission-device"}


@pytest.mark.parametrize("run_name", ["primary_run", "secondary_run"])
def test_domain_configuration_is_tls13_on_the_custom_domain(request, run_name):
    (dc,) = request.getfixturevalue(run_name).of_type("aws:iot/domainConfiguration:DomainConfiguration")
    assert dc.inputs["tlsConfig"] == {"securityPolicy": "IoTSecurityPolicy_TLS13_1_3_2022_10"}
    assert dc.inputs["domainName"] == "iot.example.com" and dc.inputs["serviceType"] == "DATA"
    assert len(dc.inputs["serverCertificateArns"]) == 1 and dc.inputs["validationCertificateArn"]


@pytest.mark.parametrize("run_name, region", [("primary_run", "eu-west-1"), ("secondary_run", "us-west-2")])
def test_latency_record_points_at_this_regions_endpoint(request, run_name, region):
    run = request.getfixturevalue(run_name)
    (record,) = [r for r in run.of_type("aws:route53/record:Record") if r.inputs["type"] == "CNAME"
                 and r.inputs["name"] == "iot.example.com"]
    assert record.inputs["ttl"] == 60 and record.inputs["setIdentifier"] == region
    assert record.inputs["latencyRoutingPolicies"] == [{"region": region}]
    assert record.inputs["zoneId"] == "Z0123456789EXAMPLE"
    assert re.fullmatch(rf"[a-z0-9]+-ats\.iot\.{region}\.amazonaws\.com", record.inputs["records"][0])
    assert run.outputs["iotEndpoint"] == record.inputs["records"][0]


def test_geolocation_routing(pki_dir):
    geo = {"eu-west-1": {"country": "*"}, "us-west-2": {"continent": "NA"}}
    primary = run_stack("eu-west-1", config_overrides={"pkiDir": str(pki_dir), "routingPolicy": "geolocation",
                                                       "geolocation": geo})
    secondary = run_stack("us-west-2", config_overrides={"pkiDir": str(pki_dir)},
                          stack_outputs={PRIMARY_REF: primary.outputs})
    for run, expected in ((primary, {"country": "*"}), (secondary, {"continent": "NA"})):
        (record,) = [r for r in run.of_type("aws:route53/record:Record") if r.inputs["name"] == "iot.example.com"]
        assert record.inputs["geolocationRoutingPolicies"] == [expected]
        assert "latencyRoutingPolicies" not in record.inputs


ACTION_WILDCARD = re.compile(r"^\*$|^[a-z0-9-]+:\*$")


@pytest.mark.parametrize("run_name", ["primary_run", "secondary_run"])
def test_no_iam_document_allows_a_wildcard_action(request, run_name):
    docs = policy_docs(request.getfixturevalue(run_name))
    assert docs
    for name, doc in docs.items():
        for stmt in doc["Statement"]:
            assert stmt["Effect"] == "Allow", name
            actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
            assert not any(ACTION_WILDCARD.match(a) for a in actions), (name, actions)
            assert "NotAction" not in stmt and "NotResource" not in stmt


@pytest.mark.parametrize("run_name", ["primary_run", "secondary_run"])
def test_trust_policies_name_one_service_and_pin_the_account(request, run_name):
    run = request.getfixturevalue(run_name)
    for role in run.of_type("aws:iam/role:Role"):
        (stmt,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        service = stmt["Principal"]["Service"]
        assert service.endswith(".amazonaws.com")
        if service not in ("ec2.amazonaws.com", "lambda.amazonaws.com"):
            assert stmt["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012", role.name
            assert stmt["Condition"]["ArnLike"]["aws:SourceArn"].startswith("arn:aws:"), role.name


def test_state_machine_roles_allow_exactly_what_their_definitions_call(primary_run):
    from builders.asl.common import sdk_actions

    docs = policy_docs(primary_run)
    for sm in primary_run.of_type("aws:sfn/stateMachine:StateMachine"):
        needed = sdk_actions(json.loads(sm.inputs["definition"]))
        role_policy = next(doc for name, doc in docs.items() if name.startswith(sm.name) and name.endswith("-policy"))
        granted = {a for s in role_policy["Statement"] if s.get("Sid") != "LogDelivery" for a in s["Action"]}
        assert granted == needed, sm.inputs["name"]


def test_every_log_group_has_a_retention(primary_run):
    groups = primary_run.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert len(groups) >= 5
    assert all(g.inputs["retentionInDays"] == 30 for g in groups)


def test_telemetry_goes_straight_to_the_local_data_table(secondary_run):
    rules = {r.inputs["name"]: r for r in secondary_run.of_type("aws:iot/topicRule:TopicRule")}
    rule = rules["multi_region_iot_store_telemetry"]
    assert "'us-west-2' AS Region" in rule.inputs["sql"]
    (action,) = rule.inputs["dynamodbv2s"]
    assert action["putItem"]["tableName"] == "multi-region-iot-data"
    assert "stepFunctions" not in rule.inputs


def certificate_store(run, type_):
    """The test kit's resources of one type (the CRL bucket has its own, tested in test_revocation_list.py)."""
    return [r for r in run.of_type(type_) if "certificate-store" in r.name]


def test_test_resources_are_private_encrypted_and_tls_only(primary_run):
    (_bucket,) = certificate_store(primary_run, "aws:s3/bucket:Bucket")
    (pab,) = certificate_store(primary_run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(pab.inputs[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    (policy,) = certificate_store(primary_run, "aws:s3/bucketPolicy:BucketPolicy")
    assert json.loads(policy.inputs["policy"])["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    (sse,) = certificate_store(
        primary_run, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    reader = next(doc for name, doc in policy_docs(primary_run).items() if "instance" in name)
    assert {a for s in reader["Statement"] for a in s["Action"]} == {"s3:GetObject", "s3:ListBucket"}
    assert primary_run.of_type("aws:iam/instanceProfile:InstanceProfile")


def test_test_resources_can_be_switched_off(pki_dir):
    run = run_stack("eu-west-1", config_overrides={"pkiDir": str(pki_dir), "testResources": "false"})
    assert not certificate_store(run, "aws:s3/bucket:Bucket")
    assert not run.of_type("aws:iam/instanceProfile:InstanceProfile")
    assert run.outputs["certificateStoreBucket"] == ""


@pytest.mark.parametrize("overrides, message", [
    ({"hostedZoneId": None}, "hostedZoneId is not set"),
    ({"domainName": "not a host"}, "is not a hostname"),
    ({"routingPolicy": "random"}, "routingPolicy = 'random' is not one of"),
    ({"regions": ["us-west-2", "ap-south-1"]}, "does not include this stack's region eu-west-1"),
    ({"pkiDir": "/nonexistent/pki"}, "python -m pki init"),
])
def test_bad_config_stops_before_any_resource(pki_dir, overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        run_stack("eu-west-1", config_overrides={"pkiDir": str(pki_dir), **overrides})


MATERIAL_FILES = {"serverCertificate": "server/iot.example.com.crt", "serverPrivateKey": "server/iot.example.com.key",
                  "certificateChain": "ca-chain.pem", "caCertificate": "intermediate-ca.crt"}


def material_config(pki_dir):
    return {"pkiDir": "/nonexistent", **{k: (pki_dir / v).read_text() for k, v in MATERIAL_FILES.items()}}


def test_pki_folder_without_a_certificate_for_the_domain_is_refused(pki_dir):
    with pytest.raises(ConfigError, match=r"devices\.example\.org\.crt.*python -m pki init"):
        run_stack("eu-west-1", config_overrides={"pkiDir": str(pki_dir), "domainName": "devices.example.org"})


def test_server_certificate_for_another_domain_is_refused(pki_dir):
    with pytest.raises(ConfigError, match=r"does not name devices\.example\.org"):
        run_stack("eu-west-1", config_overrides={**material_config(pki_dir), "domainName": "devices.example.org"})


def test_server_key_of_another_certificate_is_refused(pki_dir, tmp_path):
    other = tmp_path / "other"
    pki.init_pki(other, "iot.example.com")
    config = {**material_config(pki_dir), "serverPrivateKey": (other / MATERIAL_FILES["serverPrivateKey"]).read_text()}
    with pytest.raises(ConfigError, match="does not belong to the server certificate"):
        run_stack("eu-west-1", config_overrides=config)


def test_secondary_outside_the_primarys_region_list_is_refused(primary_run, pki_dir):
    with pytest.raises(ConfigError, match="ap-south-1 is not in the primary stack's regions"):
        run_stack("us-west-2", config_overrides={"pkiDir": str(pki_dir), "aws:region": "ap-south-1"},
                  stack_outputs={PRIMARY_REF: primary_run.outputs})


def test_secondary_before_the_primary_exists_is_refused(pki_dir):
    with pytest.raises(ConfigError, match="deploy it first"):
        run_stack("us-west-2", config_overrides={"pkiDir": str(pki_dir)}, stack_outputs={})


def test_certificate_material_from_secret_config(pki_dir):
    run = run_stack("eu-west-1", config_overrides=material_config(pki_dir))
    (server,) = [r for r in run.of_type("aws:acm/certificate:Certificate") if r.inputs.get("certificateBody")]
    assert server.inputs["certificateBody"] == (pki_dir / MATERIAL_FILES["serverCertificate"]).read_text()
    (ca,) = run.of_type("aws:iot/caCertificate:CaCertificate")
    assert ca.inputs["caCertificatePem"] == (pki_dir / "intermediate-ca.crt").read_text()


# -- Dead letters: nothing the pipe or the rule targets give up on is lost -----------------------

def dead_letter_queue(run):
    (queue,) = [q for q in run.of_type("aws:sqs/queue:Queue") if q.inputs["name"] == "multi-region-iot-replication-dlq"]
    return queue


@pytest.mark.parametrize("run_name, region", [("primary_run", "eu-west-1"), ("secondary_run", "us-west-2")])
def test_each_region_has_one_encrypted_dead_letter_queue_kept_14_days(request, run_name, region):
    run = request.getfixturevalue(run_name)
    queue = dead_letter_queue(run)
    assert queue.inputs["name"] == "multi-region-iot-replication-dlq"
    assert queue.inputs["sqsManagedSseEnabled"] is True
    assert queue.inputs["messageRetentionSeconds"] == 14 * 24 * 3600
    assert queue.outputs["arn"] == f"arn:aws:sqs:{region}:123456789012:multi-region-iot-replication-dlq"
    assert run.outputs["replicationDeadLetterQueueArn"] == queue.outputs["arn"]
    assert run.outputs["replicationDeadLetterQueueUrl"] == queue.outputs["url"]
    assert "iotmr:regional:Replication" in queue.parent


@pytest.mark.parametrize("run_name", ["primary_run", "secondary_run"])
def test_the_pipe_dead_letters_into_the_queue(request, run_name):
    run = request.getfixturevalue(run_name)
    (pipe,) = run.of_type("aws:pipes/pipe:Pipe")
    stream = pipe.inputs["sourceParameters"]["dynamodbStreamParameters"]
    assert stream["deadLetterConfig"] == {"arn": dead_letter_queue(run).outputs["arn"]}
    assert stream["maximumRetryAttempts"] == 10


@pytest.mark.parametrize("run_name", ["primary_run", "secondary_run"])
def test_both_rule_targets_dead_letter_into_the_queue(request, run_name):
    run = request.getfixturevalue(run_name)
    targets = [t for t in run.of_type("aws:cloudwatch/eventTarget:EventTarget") if t.inputs["eventBusName"] != "default"]
    assert sorted(t.inputs["rule"] for t in targets) == ["multi-region-iot-decommission", "multi-region-iot-replicate"]
    for target in targets:
        assert target.inputs["deadLetterConfig"] == {"arn": dead_letter_queue(run).outputs["arn"]}, target.name


@pytest.mark.parametrize("run_name, region", [("primary_run", "eu-west-1"), ("secondary_run", "us-west-2")])
def test_queue_policy_admits_eventbridge_for_exactly_our_three_rules(request, run_name, region):
    run = request.getfixturevalue(run_name)
    queue = dead_letter_queue(run)
    (policy,) = run.of_type("aws:sqs/queuePolicy:QueuePolicy")
    assert policy.inputs["queueUrl"] == queue.outputs["url"]
    (stmt,) = json.loads(policy.inputs["policy"])["Statement"]
    assert stmt["Effect"] == "Allow" and stmt["Principal"] == {"Service": "events.amazonaws.com"}
    assert stmt["Action"] == "sqs:SendMessage" and stmt["Resource"] == queue.outputs["arn"]
    rules_arn = f"arn:aws:events:{region}:123456789012:rule"
    assert stmt["Condition"] == {
        "ArnEquals": {"aws:SourceArn": [f"{rules_arn}/multi-region-iot-devices/multi-region-iot-decommission",
                                        f"{rules_arn}/multi-region-iot-devices/multi-region-iot-replicate",
                                        f"{rules_arn}/multi-region-iot-failed-executions"]},  # default bus
        "StringEquals": {"aws:SourceAccount": "123456789012"}}
    rules = {r.inputs["name"] for r in run.of_type("aws:cloudwatch/eventRule:EventRule")}
    assert {arn.rsplit("/", 1)[1] for arn in stmt["Condition"]["ArnEquals"]["aws:SourceArn"]} == rules


@pytest.mark.parametrize("run_name", ["primary_run", "secondary_run"])
def test_only_the_pipe_role_may_send_and_only_to_the_dead_letter_queue(request, run_name):
    run = request.getfixturevalue(run_name)
    queue_arn = dead_letter_queue(run).outputs["arn"]
    senders = {}
    for name, doc in policy_docs(run).items():
        for stmt in doc["Statement"]:
            if any(a.startswith("sqs:") for a in stmt["Action"]) and queue_arn in stmt["Resource"]:
                senders[name] = (stmt["Action"], stmt["Resource"])
    assert senders == {f"{run.outputs['region']}-replication-pipe-policy": (["sqs:SendMessage"], [queue_arn])}


@pytest.mark.parametrize("run_name", ["primary_run", "secondary_run"])
def test_an_alarm_watches_the_dead_letter_queue(request, run_name):
    run = request.getfixturevalue(run_name)
    (alarm,) = [a for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
                if a.inputs["name"] == "multi-region-iot-replication-dead-letters"]
    assert (alarm.inputs["namespace"], alarm.inputs["metricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm.inputs["dimensions"] == {"QueueName": dead_letter_queue(run).outputs["name"]}
    assert (alarm.inputs["comparisonOperator"], alarm.inputs["threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm.inputs["treatMissingData"] == "notBreaching"  # an empty queue reports no data points
    assert not alarm.inputs.get("alarmActions")  # no topic configured in the shipped stacks


def test_a_configured_topic_is_notified_when_dead_letters_arrive_and_when_they_are_gone(pki_dir):
    topic = "arn:aws:sns:eu-west-1:123456789012:iot-alarms"
    run = run_stack("eu-west-1", config_overrides={"pkiDir": str(pki_dir), "alarmTopicArn": topic})
    alarms = run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert {a.inputs["name"] for a in alarms} == {"multi-region-iot-replication-dead-letters", "multi-region-iot-jitr-failures",
                                                  "multi-region-iot-telemetry-errors",
                                                  "multi-region-iot-replication-lag-us-west-2"}
    for alarm in alarms:
        assert alarm.inputs["alarmActions"] == [topic] and alarm.inputs["okActions"] == [topic]


@pytest.mark.parametrize("run_name", ["primary_run", "secondary_run"])
def test_an_alarm_watches_failed_registrations_of_its_own_jitr_machine(request, run_name):
    run = request.getfixturevalue(run_name)
    (alarm,) = [a for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.inputs["namespace"] == "AWS/States"]
    machines = {r.inputs["name"]: r.outputs["arn"] for r in run.of_type("aws:sfn/stateMachine:StateMachine")}
    assert alarm.inputs["name"] == "multi-region-iot-jitr-failures"
    assert alarm.inputs["metricName"] == "ExecutionsFailed"
    assert alarm.inputs["dimensions"] == {"StateMachineArn": machines["multi-region-iot-jitr"]}
    assert (alarm.inputs["statistic"], alarm.inputs["comparisonOperator"], alarm.inputs["threshold"]) == (
        "Sum", "GreaterThanThreshold", 0)


@pytest.mark.parametrize("run_name, region", [("primary_run", "eu-west-1"), ("secondary_run", "us-west-2")])
def test_replicate_and_decommission_executions_that_fail_land_in_the_dead_letter_queue(request, run_name, region):
    run = request.getfixturevalue(run_name)
    (rule,) = [r for r in run.of_type("aws:cloudwatch/eventRule:EventRule") if r.inputs["eventBusName"] == "default"]
    pattern = json.loads(rule.inputs["eventPattern"])
    machines = {r.inputs["name"]: r.outputs["arn"] for r in run.of_type("aws:sfn/stateMachine:StateMachine")}
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail"]["status"] == ["FAILED", "TIMED_OUT", "ABORTED"]
    assert pattern["detail"]["stateMachineArn"] == sorted([machines["multi-region-iot-replicate-device"],
                                                           machines["multi-region-iot-decommission-device"]])
    (target,) = [t for t in run.of_type("aws:cloudwatch/eventTarget:EventTarget") if t.inputs["rule"] == rule.inputs["name"]]
    assert target.inputs["arn"] == dead_letter_queue(run).outputs["arn"] and target.inputs["eventBusName"] == "default"
    assert "roleArn" not in target.inputs  # SQS targets are authorised by the queue policy


def test_the_inspector_takes_registration_leases_in_a_regional_table_the_jitr_machine_releases(primary_run):
    tables = {r.inputs["name"]: r for r in primary_run.of_type("aws:dynamodb/table:Table")}
    leases = tables["multi-region-iot-registration-leases"]
    assert leases.inputs["hashKey"] == "CertificateId" and not leases.inputs.get("replicas")
    assert leases.inputs["ttl"] == {"attributeName": "ExpiresAt", "enabled": True}
    fn = inspector(primary_run)
    assert fn.inputs["environment"]["variables"]["REGISTRATION_LEASE_TABLE"] == "multi-region-iot-registration-leases"
    defn = definition(primary_run, "multi-region-iot-jitr")
    assert defn["States"]["Release registration lease"]["Parameters"]["TableName"] == "multi-region-iot-registration-leases"


@pytest.mark.parametrize("run_name", ["primary_run", "secondary_run"])
def test_jitr_and_replication_pace_throttled_calls_with_the_regions_pacer(request, run_name):
    run = request.getfixturevalue(run_name)
    (pacer,) = [f for f in run.of_type("aws:lambda/function:Function") if f.inputs["name"] == "multi-region-iot-pacer"]
    assert pacer.inputs["handler"] == "pacer.handler.handler"
    assert pacer.inputs["environment"]["variables"]["PACING_TABLE"] == "multi-region-iot-api-pacing"
    for machine in ("multi-region-iot-jitr", "multi-region-iot-replicate-device"):
        states = definition(run, machine)["States"]
        (pace,) = [s for n, s in states.items() if n == "Pace: Attach device policy"]
        assert pace["Parameters"]["FunctionName"] == pacer.outputs["arn"]
        assert pace["Parameters"]["Payload"]["Rate"] == 15.0  # AWS's default AttachPolicy quota


def test_raised_quotas_in_the_quotas_file_are_the_pacers_rates(pki_dir, tmp_path):
    raised = tmp_path / "raised.json"
    raised.write_text('{"apis": [{"service": "iot", "operation": "AttachPolicy", "default": {"burst": 60, "rate": 60}}]}')
    run = run_stack("eu-west-1", config_overrides={"pkiDir": str(pki_dir), "quotasFile": str(raised)})

    states = definition(run, "multi-region-iot-jitr")["States"]
    assert states["Pace: Attach device policy"]["Parameters"]["Payload"]["Rate"] == 60.0
    assert states["Pace: Inspect and record"]["Parameters"]["Payload"]["Rate"] == 10.0  # not raised: AWS's default
