"""Deploying the real program into the local cloud: every resource really exists in moto, in its
region, wired the way the exports say; a resource type the local cloud cannot make fails the deploy."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pulumi
import pytest

import pki

from localcloud.cloud import LocalCloud
from localcloud.deploy import Deployer, UnsupportedResource
from localcloud.mockrun import run_stack

PRIMARY, SECONDARY = "eu-west-1", "us-west-2"


def test_every_custom_resource_of_both_stacks_gets_a_physical_id_in_its_region(cloud: LocalCloud) -> None:
    for name, deployment in cloud.deployments.items():
        custom = [r for r in deployment.run.resources if r.custom and r.type != "pulumi:pulumi:StackReference"]
        assert len(custom) > 50, name
        assert [r.name for r in custom if not r.id] == []
    assert cloud.outputs(PRIMARY)["region"] == PRIMARY
    assert cloud.outputs(SECONDARY)["region"] == SECONDARY


def test_state_machines_functions_and_rules_exist_in_each_region(cloud: LocalCloud) -> None:
    for region in (PRIMARY, SECONDARY):
        outputs = cloud.outputs(region)
        machines = {m["stateMachineArn"] for m in
                    boto3.client("stepfunctions", region_name=region).list_state_machines()["stateMachines"]}
        assert machines == {outputs["jitrStateMachineArn"], outputs["replicationStateMachineArn"],
                            outputs["decommissionStateMachineArn"]}
        assert all(f":{region}:" in arn for arn in machines)
        functions = boto3.client("lambda", region_name=region).list_functions()["Functions"]
        assert sorted(f["Handler"] for f in functions) == ["canary.handler.handler",
                                                           "certificate_inspector.handler.handler",
                                                           "pacer.handler.handler",
                                                           "provisioning_api.handler.handler"]
        rules = boto3.client("iot", region_name=region).list_topic_rules()["rules"]
        assert len(rules) == 2
        assert boto3.client("events", region_name=region).describe_event_bus(
            Name=outputs["eventBusName"])["Name"] == outputs["eventBusName"]


def test_the_ca_is_registered_in_every_region_under_its_der_hash(cloud: LocalCloud) -> None:
    ca_id = cloud.primary_outputs["caCertificateId"]
    assert ca_id == pki.certificate_id(cloud.load_ca().intermediate_pem)
    for region in (PRIMARY, SECONDARY):
        described = boto3.client("iot", region_name=region).describe_ca_certificate(
            certificateId=ca_id)["certificateDescription"]
        assert (described["status"], described["autoRegistrationStatus"]) == ("ACTIVE", "ENABLE")
        assert cloud.outputs(region)["caCertificateId"] == ca_id


def test_global_tables_have_a_replica_and_stream_per_region_and_each_pipe_reads_its_own(cloud: LocalCloud) -> None:
    outputs = cloud.primary_outputs
    streams = outputs["inventoryStreamArns"]
    assert set(streams) == {PRIMARY, SECONDARY}
    for region in (PRIMARY, SECONDARY):
        table = boto3.client("dynamodb", region_name=region).describe_table(
            TableName=outputs["inventoryTableName"])["Table"]
        assert table["LatestStreamArn"] == streams[region]
        assert f":{region}:" in streams[region]
        pipes = boto3.client("pipes", region_name=region)
        (pipe,) = pipes.list_pipes()["Pipes"]
        assert pipes.describe_pipe(Name=pipe["Name"])["Source"] == streams[region]


def test_each_region_dead_letters_its_pipe_and_rule_targets_into_its_own_encrypted_queue(cloud: LocalCloud) -> None:
    for region in (PRIMARY, SECONDARY):
        outputs = cloud.outputs(region)
        queue_url, queue_arn = outputs["replicationDeadLetterQueueUrl"], outputs["replicationDeadLetterQueueArn"]
        sqs = boto3.client("sqs", region_name=region)
        assert sorted(sqs.list_queues()["QueueUrls"]) == sorted([queue_url, outputs["telemetryErrorQueueUrl"]])
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
        assert attributes["QueueArn"] == queue_arn and f":{region}:" in queue_arn
        assert attributes["SqsManagedSseEnabled"] == "true"
        assert attributes["MessageRetentionPeriod"] == str(14 * 24 * 3600)

        pipes = boto3.client("pipes", region_name=region)
        (pipe,) = pipes.list_pipes()["Pipes"]
        stream = pipes.describe_pipe(Name=pipe["Name"])["SourceParameters"]["DynamoDBStreamParameters"]
        assert stream["DeadLetterConfig"] == {"Arn": queue_arn}

        events = boto3.client("events", region_name=region)
        bus = outputs["eventBusName"]
        rule_arns = set()
        for rule in events.list_rules(EventBusName=bus)["Rules"]:
            rule_arns.add(rule["Arn"])
            (target,) = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
            assert target["DeadLetterConfig"] == {"Arn": queue_arn}, rule["Name"]
        assert len(rule_arns) == 2
        (failed_rule,) = [r for r in events.list_rules(EventBusName="default")["Rules"]  # failed executions
                          if r["Name"].endswith("-failed-executions")]
        (target,) = events.list_targets_by_rule(Rule=failed_rule["Name"], EventBusName="default")["Targets"]
        assert target["Arn"] == queue_arn
        rule_arns.add(failed_rule["Arn"])
        (stmt,) = json.loads(attributes["Policy"])["Statement"]
        assert stmt["Principal"] == {"Service": "events.amazonaws.com"} and stmt["Resource"] == queue_arn
        # The ARNs the program pinned are the ones moto gave the rules.
        assert set(stmt["Condition"]["ArnEquals"]["aws:SourceArn"]) == rule_arns

        (alarm,) = boto3.client("cloudwatch", region_name=region).describe_alarms(
            AlarmNamePrefix="multi-region-iot-replication-dead-letters")["MetricAlarms"]
        assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": queue_arn.rsplit(":", 1)[1]}]
        assert (alarm["MetricName"], alarm["Threshold"]) == ("ApproximateNumberOfMessagesVisible", 0.0)


def test_dns_records_for_the_custom_domain_are_in_the_hosted_zone(cloud: LocalCloud) -> None:
    records = boto3.client("route53", region_name="us-east-1").list_resource_record_sets(
        HostedZoneId=cloud.hosted_zone_id)["ResourceRecordSets"]
    latency = {r["SetIdentifier"]: r["ResourceRecords"][0]["Value"] for r in records
               if r["Name"].rstrip(".") == cloud.domain and r["Type"] == "CNAME"}
    assert latency == {PRIMARY: cloud.outputs(PRIMARY)["iotEndpoint"],
                       SECONDARY: cloud.outputs(SECONDARY)["iotEndpoint"]}


def test_the_deployer_refuses_a_resource_type_it_does_not_know(cloud: LocalCloud) -> None:
    args = pulumi.runtime.MockResourceArgs(typ="aws:ec2/vpc:Vpc", name="mystery", inputs={"cidrBlock": "10.0.0.0/16"},
                                           provider="", resource_id="", custom=True)
    with pytest.raises(UnsupportedResource, match=r"aws:ec2/vpc:Vpc.*mystery"):
        Deployer().create(args)


def test_a_program_with_an_unknown_resource_type_fails_the_deploy(cloud: LocalCloud, tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: multi-region-iot\nruntime: python\n")
    (tmp_path / "Pulumi.tiny.yaml").write_text("config:\n  aws:region: eu-west-1\n")
    (tmp_path / "__main__.py").write_text(
        "import pulumi_aws as aws\n"
        "aws.sns.Topic('known-to-aws-not-to-the-local-cloud')\n")
    with pytest.raises(UnsupportedResource, match=r"aws:sns/topic:Topic"):
        run_stack("tiny", mocks=Deployer(), project_dir=tmp_path)
    assert boto3.client("sns", region_name="eu-west-1").list_topics().get("Topics", []) == []


def test_each_region_has_its_private_crl_bucket_and_no_crl_until_one_is_revoked(cloud: LocalCloud) -> None:
    for region in (PRIMARY, SECONDARY):
        bucket = cloud.outputs(region)["crlBucket"]
        s3 = boto3.client("s3", region_name=region)
        assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == region
        assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        (deny,) = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0  # the local PKI revoked nothing


def test_the_deployer_uploads_a_bucket_object_from_a_file_asset(cloud: LocalCloud, tmp_path: Path) -> None:
    source = tmp_path / "crl.pem"
    source.write_text("-----BEGIN X509 CRL-----\n...\n")
    bucket = cloud.outputs(SECONDARY)["crlBucket"]
    deployer = Deployer()
    deployer.region = SECONDARY
    args = pulumi.runtime.MockResourceArgs(
        typ="aws:s3/bucketObjectv2:BucketObjectv2", name="uploaded", provider="", resource_id="", custom=True,
        inputs={"bucket": bucket, "key": "probe/crl.pem", "source": pulumi.FileAsset(str(source)),
                "contentType": "application/x-pem-file", "serverSideEncryption": "AES256"})
    key, state = deployer.create(args)
    assert (key, state["arn"]) == ("probe/crl.pem", f"arn:aws:s3:::{bucket}/probe/crl.pem")
    s3 = boto3.client("s3", region_name=SECONDARY)
    stored = s3.get_object(Bucket=bucket, Key="probe/crl.pem")
    assert stored["Body"].read() == source.read_bytes()
    assert (stored["ContentType"], stored["ServerSideEncryption"]) == ("application/x-pem-file", "AES256")
    s3.delete_object(Bucket=bucket, Key="probe/crl.pem")


def test_the_acm_validation_record_is_written_once_by_the_primary(cloud: LocalCloud) -> None:
    records = boto3.client("route53", region_name="us-east-1").list_resource_record_sets(
        HostedZoneId=cloud.hosted_zone_id)["ResourceRecordSets"]
    routed = (cloud.domain, f"provision.{cloud.domain}")  # the latency records of the two endpoints
    validation = [r for r in records if r["Type"] == "CNAME" and r["Name"].rstrip(".") not in routed]
    assert sorted(r["Name"].rstrip(".") for r in validation) == sorted(
        cloud.primary_outputs["validationRecordFqdns"] + cloud.primary_outputs["provisioningValidationRecordFqdns"])
    assert "validationRecordFqdns" not in cloud.outputs(SECONDARY)
    assert "provisioningValidationRecordFqdns" not in cloud.outputs(SECONDARY)


def test_every_replica_of_the_global_tables_is_deletion_protected(cloud: LocalCloud) -> None:
    for name in (cloud.primary_outputs["inventoryTableName"], cloud.primary_outputs["dataTableName"]):
        for region in (PRIMARY, SECONDARY):
            table = boto3.client("dynamodb", region_name=region).describe_table(TableName=name)["Table"]
            assert table.get("DeletionProtectionEnabled") is True, (name, region)


def test_each_stack_s_dashboard_exists_with_the_body_the_program_declared(cloud: LocalCloud) -> None:
    for deployment in cloud.deployments.values():
        (dashboard,) = deployment.run.of_type("aws:cloudwatch/dashboard:Dashboard")
        name, region = dashboard.inputs["dashboardName"], deployment.stack.region
        stored = boto3.client("cloudwatch", region_name=region).get_dashboard(DashboardName=name)
        assert json.loads(stored["DashboardBody"]) == json.loads(dashboard.inputs["dashboardBody"])
        assert (dashboard.id, dashboard.outputs["dashboardArn"]) == (name, stored["DashboardArn"])
