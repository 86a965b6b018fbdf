"""The commands against plain moto (``mock_aws``): a hand-made region with our physical names.

Executions do not run here (moto leaves them RUNNING), so these tests check what the commands read,
start, delete and report; tests/ops/test_ops_e2e.py runs them against the deployed program.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from builders import inventory as inv
from components.naming import Names
from ops import backfill, cli, detach, executions, reconcile, redrive
from ops.clients import ClientFactory, client_factory
from ops.errors import OpsError
from ops.ratelimit import TokenBucket

REGION = "us-west-2"
NAMES = Names("multi-region-iot")
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
ROLE = "arn:aws:iam::123456789012:role/ops-test"


class CountingBucket(TokenBucket):
    def __init__(self) -> None:
        super().__init__(rate=1.0)
        self.acquired = 0

    def acquire(self) -> float:
        self.acquired += 1
        return 0.0


@dataclass
class Region:
    """One region with the table, machines, queue and device policy of the application."""

    clients: ClientFactory
    machines: dict[str, str] = field(default_factory=dict)
    queue_url: str = ""
    certificates: dict[str, dict[str, str]] = field(default_factory=dict)  # thing -> {id, arn, pem}

    def client(self, service: str) -> Any:
        return self.clients(service, REGION)

    def device(self, thing: str, *, status: str = inv.ACTIVE, registered: bool = True) -> dict:
        """An inventory item, and (``registered``) its converged thing/certificate/policy in the registry."""
        iot = self.client("iot")
        created = iot.create_keys_and_certificate(setAsActive=True)
        self.certificates[thing] = {"id": created["certificateId"], "arn": created["certificateArn"],
                                    "pem": created["certificatePem"]}
        item = inv.item(thing_name=thing, certificate_id=created["certificateId"],
                        certificate_pem=created["certificatePem"], ca_certificate_id="c" * 64,
                        origin_region="eu-west-1", registered_at="2025-01-01T00:00:00Z", status=status)
        self.client("dynamodb").put_item(TableName=NAMES.inventory_table, Item=item)
        if registered:
            iot.create_thing(thingName=thing, attributePayload={"attributes": {"certificateId": created["certificateId"]}})
            iot.attach_thing_principal(thingName=thing, principal=created["certificateArn"])
            iot.attach_policy(policyName=NAMES.device_policy, target=created["certificateArn"])
        else:
            iot.update_certificate(certificateId=created["certificateId"], newStatus="INACTIVE")
        return item

    def executions(self, machine: str) -> list[dict]:
        sfn = self.client("stepfunctions")
        found = []
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=self.machines[machine]):
            for execution in page["executions"]:
                described = sfn.describe_execution(executionArn=execution["executionArn"])
                found.append({"name": described["name"], "input": json.loads(described["input"]),
                              "status": described["status"], "arn": described["executionArn"]})
        return found

    def end_all(self) -> None:
        """Stop every running execution (moto never ends them), as the real ones would have ended."""
        sfn = self.client("stepfunctions")
        for machine in self.machines:
            for execution in self.executions(machine):
                if execution["status"] == "RUNNING":
                    sfn.stop_execution(executionArn=execution["arn"])

    def send(self, body: Any, attributes: dict[str, str] | None = None) -> str:
        arguments: dict[str, Any] = {"QueueUrl": self.queue_url,
                                     "MessageBody": body if isinstance(body, str) else json.dumps(body)}
        if attributes:
            arguments["MessageAttributes"] = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
        return self.client("sqs").send_message(**arguments)["MessageId"]

    def queue_depth(self) -> int:
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        return sum(int(v) for v in attributes["Attributes"].values())


@pytest.fixture
def region() -> Iterator[Region]:
    with mock_aws():
        made = Region(client_factory(boto3.Session()))
        made.client("dynamodb").create_table(
            TableName=NAMES.inventory_table, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "ThingName", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "ThingName", "KeyType": "HASH"}])
        sfn = made.client("stepfunctions")
        for machine in (NAMES.replication_state_machine, NAMES.decommission_state_machine):
            made.machines[machine] = sfn.create_state_machine(name=machine, definition=PASS, roleArn=ROLE)["stateMachineArn"]
        made.queue_url = made.client("sqs").create_queue(QueueName=NAMES.replication_dead_letter_queue)["QueueUrl"]
        made.client("iot").create_policy(policyName=NAMES.device_policy, policyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}))
        yield made


# -- backfill -------------------------------------------------------------------------------------------
def test_backfill_starts_the_replicate_machine_once_per_active_item_with_the_flat_item(region: Region) -> None:
    items = {name: region.device(name, registered=False) for name in ("dev-1", "dev-2", "dev-3")}
    region.device("gone-1", status=inv.REVOKED)
    bucket = CountingBucket()
    report = backfill.backfill(region.clients, REGION, bucket=bucket)
    assert report.counts == {"started": 3, "already done": 0, "skipped": 1, "failed": 0}
    assert bucket.acquired == 3  # every start paced, skips are free
    started = {e["name"]: e["input"] for e in region.executions(NAMES.replication_state_machine)}
    assert started == {backfill.backfill_name(name, item[inv.CERTIFICATE_ID]["S"]): inv.flat_item(item, "INSERT")
                       for name, item in items.items()}
    assert region.executions(NAMES.decommission_state_machine) == []


def test_backfill_run_twice_starts_nothing_new(region: Region) -> None:
    for name in ("dev-1", "dev-2"):
        region.device(name, registered=False)
    assert backfill.backfill(region.clients, REGION, bucket=CountingBucket()).count("started") == 2
    region.end_all()
    again = backfill.backfill(region.clients, REGION, bucket=CountingBucket())
    assert again.counts == {"started": 0, "already done": 2, "skipped": 0, "failed": 0} and again.ok
    assert len(region.executions(NAMES.replication_state_machine)) == 2


def test_backfill_reports_an_incomplete_item_and_a_missing_machine_per_item(region: Region) -> None:
    region.client("dynamodb").put_item(TableName=NAMES.inventory_table,
                                       Item={"ThingName": {"S": "bare"}, "Status": {"S": "ACTIVE"}})
    region.device("dev-1", registered=False)
    region.client("stepfunctions").delete_state_machine(stateMachineArn=region.machines[NAMES.replication_state_machine])
    report = backfill.backfill(region.clients, REGION, bucket=CountingBucket())
    assert report.counts["failed"] == 2 and not report.ok
    details = {row.thing_name: row.detail for row in report.rows}
    assert "incomplete item" in details["bare"] and "StateMachineDoesNotExist" in details["dev-1"]


def test_backfill_reads_every_page_of_the_table(region: Region) -> None:
    for index in range(7):
        region.device(f"dev-{index}", registered=False)
    from ops import clients as ops_clients, inventory

    where = ops_clients.scope(region.clients, REGION)
    assert len(list(inventory.scan(where, page_size=2))) == 7


def test_a_missing_table_is_an_operator_error_naming_the_fix(region: Region) -> None:
    with pytest.raises(OpsError, match=r"does not exist in us-west-2.*--application 'other-app'"):
        backfill.backfill(region.clients, REGION, application="other-app")


def test_waiting_polls_until_every_execution_ended() -> None:
    answers = {"a": ["RUNNING", "SUCCEEDED"], "b": ["FAILED"]}

    class Sfn:
        def describe_execution(self, executionArn: str) -> dict:
            return {"status": answers[executionArn].pop(0)}

    sleeps: list[float] = []
    assert executions.wait(Sfn(), ["a", "b"], poll_s=3, sleep=sleeps.append) == {"a": "SUCCEEDED", "b": "FAILED"}
    assert sleeps == [3]


# -- redrive ----------------------------------------------------------------------------------------------
def _status_change(region: Region, item: dict, machine: str) -> dict:
    arn = region.machines[machine]
    return {"version": "0", "source": "aws.states", "detail-type": "Step Functions Execution Status Change",
            "detail": {"executionArn": arn.replace(":stateMachine:", ":execution:") + ":old", "stateMachineArn": arn,
                       "status": "FAILED", "input": json.dumps(inv.flat_item(item, "INSERT"))}}


def _undelivered(region: Region, item: dict, machine: str) -> tuple[dict, dict[str, str]]:
    event = {"version": "0", "source": NAMES.event_source, "detail-type": inv.DETAIL_TYPE,
             "detail": {"eventName": "MODIFY", "dynamodb": {"NewImage": item}}}
    return event, {"RULE_ARN": "arn:aws:events:us-west-2:123456789012:rule/x/y", "TARGET_ARN": region.machines[machine],
                   "ERROR_CODE": "SDK_CLIENT_ERROR", "ERROR_MESSAGE": "boom"}


def test_redrive_starts_each_redrivable_message_once_and_leaves_the_rest(region: Region) -> None:
    failed = region.device("dev-1")
    revoked = region.device("dev-2", status=inv.REVOKED)
    first = region.send(_status_change(region, failed, NAMES.replication_state_machine))
    second = region.send(*_undelivered(region, revoked, NAMES.decommission_state_machine))
    region.send({"version": "1.0", "DDBStreamBatchInfo": {"shardId": "s-1", "startSequenceNumber": "1",
                                                          "endSequenceNumber": "9"}})
    region.send("garbage")
    foreign = _status_change(region, failed, NAMES.replication_state_machine)
    foreign["detail"]["stateMachineArn"] = "arn:aws:states:us-west-2:123456789012:stateMachine:someone-else"
    region.send(foreign)

    report = redrive.redrive(region.clients, REGION, bucket=CountingBucket(), wait_seconds=0)
    assert report.counts == {"started": 2, "already done": 0, "discarded": 0, "left": 3, "failed": 0}
    assert not report.ok and any("backfill us-west-2" in note for note in report.advice)
    assert {row.detail for row in report.rows if row.kind == "unknown"} >= {"the body is not JSON"}
    assert [e["input"] for e in region.executions(NAMES.replication_state_machine)] == [inv.flat_item(failed, "INSERT")]
    assert [(e["name"], e["input"]) for e in region.executions(NAMES.decommission_state_machine)] == [
        (redrive.redrive_name(second), inv.flat_item(revoked, "MODIFY"))]
    assert region.executions(NAMES.replication_state_machine)[0]["name"] == redrive.redrive_name(first)
    assert region.queue_depth() == 3  # the three it cannot redrive, visible again

    again = redrive.redrive(region.clients, REGION, bucket=CountingBucket(), wait_seconds=0)
    assert again.counts["started"] == 0 and again.counts["left"] == 3
    assert len(region.executions(NAMES.replication_state_machine)) == 1

    region.send({"version": "1.0", "DDBStreamBatchInfo": {"shardId": "s-2"}})
    discarded = redrive.redrive(region.clients, REGION, discard_batch_failures=True, wait_seconds=0)
    assert discarded.counts["discarded"] == 2 and region.queue_depth() == 2


def test_a_redrive_that_crashed_before_deleting_deletes_without_starting_again(region: Region) -> None:
    item = region.device("dev-1")
    message_id = region.send(_status_change(region, item, NAMES.replication_state_machine))
    sfn = region.client("stepfunctions")
    crashed = sfn.start_execution(stateMachineArn=region.machines[NAMES.replication_state_machine],
                                  name=redrive.redrive_name(message_id), input="{}")  # started, never deleted
    sfn.stop_execution(executionArn=crashed["executionArn"])
    report = redrive.redrive(region.clients, REGION, bucket=CountingBucket(), wait_seconds=0)
    assert [(row.action, row.deleted) for row in report.rows] == [("already done", True)] and report.ok
    assert region.queue_depth() == 0 and len(region.executions(NAMES.replication_state_machine)) == 1


def test_a_failed_start_keeps_the_message(region: Region) -> None:
    region.send(_status_change(region, region.device("dev-1"), NAMES.replication_state_machine))
    region.client("stepfunctions").delete_state_machine(stateMachineArn=region.machines[NAMES.replication_state_machine])
    report = redrive.redrive(region.clients, REGION, bucket=CountingBucket(), wait_seconds=0)
    assert report.counts["failed"] == 1 and region.queue_depth() == 1


def test_an_empty_queue_is_a_clean_run_and_a_missing_queue_an_error(region: Region) -> None:
    assert redrive.redrive(region.clients, REGION, wait_seconds=0).ok
    with pytest.raises(OpsError, match="dead-letter queue 'other-replication-dlq' does not exist"):
        redrive.redrive(region.clients, REGION, application="other", wait_seconds=0)


# -- reconcile -------------------------------------------------------------------------------------------------
def test_reconcile_reports_exactly_the_drift_made_by_hand_and_repair_starts_the_right_machines(region: Region) -> None:
    iot = region.client("iot")
    for name in ("ok-1", "ok-2", "no-policy", "no-thing", "revoked-cert"):
        region.device(name)
    region.device("gone", status=inv.REVOKED)  # REVOKED item, thing and ACTIVE certificate still there
    iot.detach_policy(policyName=NAMES.device_policy, target=region.certificates["no-policy"]["arn"])
    iot.detach_thing_principal(thingName="no-thing", principal=region.certificates["no-thing"]["arn"])
    iot.delete_thing(thingName="no-thing")
    iot.update_certificate(certificateId=region.certificates["revoked-cert"]["id"], newStatus="REVOKED")
    iot.create_thing(thingName="stray")

    report = reconcile.reconcile(region.clients, REGION, bucket=CountingBucket())
    assert (report.items_checked, report.drifted, report.orphans) == (6, 4, 1)
    drift = {row.thing_name: row.drift for row in report.rows}
    assert drift == {
        "no-policy": [f"device policy not attached: {NAMES.device_policy}"],
        "no-thing": ["thing missing: no-thing"],
        "revoked-cert": [f"certificate revoked: {region.certificates['revoked-cert']['id']}"],
        "gone": ["thing still exists: gone", f"certificate still active: {region.certificates['gone']['id']}"],
        "stray": ["no inventory item"],
    }
    assert {row.thing_name: row.action for row in report.rows} == {
        "no-policy": "", "no-thing": "", "revoked-cert": "needs new certificate", "gone": "", "stray": "report only"}
    assert region.executions(NAMES.replication_state_machine) == [] and not report.ok

    bucket = CountingBucket()
    repaired = reconcile.reconcile(region.clients, REGION, repair=True, bucket=bucket)
    assert {row.thing_name: row.action for row in repaired.rows} == {
        "no-policy": "started", "no-thing": "started", "revoked-cert": "needs new certificate", "gone": "started",
        "stray": "report only"}
    assert bucket.acquired == 3
    assert sorted(e["input"]["ThingName"] for e in region.executions(NAMES.replication_state_machine)) == [
        "no-policy", "no-thing"]
    (decommission,) = region.executions(NAMES.decommission_state_machine)
    assert decommission["input"]["ThingName"] == "gone" and decommission["input"]["EventName"] == "MODIFY"

    region.end_all()
    again = reconcile.reconcile(region.clients, REGION, repair=True, bucket=CountingBucket())
    assert again.counts == {"already done": 3, "needs new certificate": 1, "report only": 1}
    retried = reconcile.reconcile(region.clients, REGION, repair=True, bucket=CountingBucket(), retry_tag="2")
    assert retried.counts["started"] == 3


def test_reconcile_sees_other_principals_and_a_stale_certificate_attribute(region: Region) -> None:
    iot = region.client("iot")
    region.device("dev-1")
    extra = iot.create_keys_and_certificate(setAsActive=True)
    iot.attach_thing_principal(thingName="dev-1", principal=extra["certificateArn"])
    iot.update_thing(thingName="dev-1", attributePayload={"attributes": {"certificateId": extra["certificateId"]}})
    (row,) = reconcile.reconcile(region.clients, REGION).rows
    assert row.drift == [f"other principals attached: {extra['certificateArn']}",
                         f"certificateId attribute differs: thing says {extra['certificateId']}, "
                         f"item says {region.certificates['dev-1']['id']}"]


def test_a_converged_region_reconciles_clean(region: Region) -> None:
    for name in ("dev-1", "dev-2"):
        region.device(name)
    report = reconcile.reconcile(region.clients, REGION, repair=True)
    assert report.rows == [] and report.ok and report.things_listed == 2


# -- detach-all -----------------------------------------------------------------------------------------------
def test_detach_all_lists_without_yes_and_detaches_with_it(region: Region) -> None:
    for name in ("dev-1", "dev-2", "dev-3"):
        region.device(name)
    iot = region.client("iot")
    dry = detach.detach_all(region.clients, REGION)
    assert dry.dry_run and len(dry.targets) == 3 and dry.detached == []
    assert len(iot.list_targets_for_policy(policyName=NAMES.device_policy)["targets"]) == 3
    bucket = CountingBucket()
    done = detach.detach_all(region.clients, REGION, confirm=True, bucket=bucket)
    assert sorted(done.detached) == sorted(c["arn"] for c in region.certificates.values()) and done.ok
    assert bucket.acquired == 3
    assert iot.list_targets_for_policy(policyName=NAMES.device_policy)["targets"] == []
    iot.delete_policy(policyName=NAMES.device_policy)  # what pulumi destroy can now do
    with pytest.raises(OpsError, match="device policy 'multi-region-iot-device' does not exist"):
        detach.detach_all(region.clients, REGION, confirm=True)


def test_detach_all_waits_for_the_regions_running_executions_before_detaching(region: Region) -> None:
    """README, "Removing a region": an execution still running (a replication, a JITR) would attach the device policy
    again after the detach, so --wait-executions detaches only once nothing of the application runs."""
    region.device("dev-1")
    sfn = region.client("stepfunctions")
    running = sfn.start_execution(stateMachineArn=region.machines[NAMES.replication_state_machine],
                                  input="{}")["executionArn"]
    other = sfn.create_state_machine(name="someone-elses-machine", definition=PASS, roleArn=ROLE)["stateMachineArn"]
    sfn.start_execution(stateMachineArn=other, input="{}")  # not the application's: not waited for
    polls = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        assert region.client("iot").list_targets_for_policy(policyName=NAMES.device_policy)["targets"]  # not yet
        sfn.stop_execution(executionArn=running)  # the execution ends while we wait

    done = detach.detach_all(region.clients, REGION, confirm=True, wait_executions=True, poll=3.0, sleep=sleep,
                             bucket=CountingBucket())
    assert polls == [3.0] and done.waited_for == [running] and done.ok and len(done.detached) == 1
    assert done.to_json()["waitedForExecutions"] == [running]


def test_detach_all_gives_up_waiting_naming_the_fix(region: Region) -> None:
    sfn = region.client("stepfunctions")
    sfn.start_execution(stateMachineArn=region.machines[NAMES.decommission_state_machine], input="{}")
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(OpsError, match=r"still RUNNING in us-west-2 after 30 s .*retiring"):
        detach.detach_all(region.clients, REGION, confirm=True, wait_executions=True, timeout=30, poll=10,
                          sleep=sleep, clock=lambda: now[0])
    assert region.client("iot").list_policies()["policies"]  # nothing detached, nothing deleted


# -- CLI ----------------------------------------------------------------------------------------------------------
def test_the_cli_prints_json_and_exits_by_outcome(region: Region, capsys: pytest.CaptureFixture[str]) -> None:
    region.device("dev-1")
    assert cli.main(["reconcile", REGION, "--json"], clients=region.clients) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["command"], printed["itemsChecked"], printed["things"]) == ("reconcile", 1, [])
    region.client("iot").create_thing(thingName="stray")
    assert cli.main(["--json", "detach-all", REGION], clients=region.clients) == 0
    assert json.loads(capsys.readouterr().out)["dryRun"] is True
    assert cli.main(["reconcile", REGION], clients=region.clients) == 0  # an orphan is report-only
    assert "stray" in capsys.readouterr().out


def test_the_cli_names_a_wrong_application_with_exit_2(region: Region, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["backfill", REGION, "--application", "nope"], clients=region.clients) == 2
    assert "--application 'nope'" in capsys.readouterr().out


@pytest.mark.parametrize("argv, complaint", [
    (["backfill", "eu-west"], "is not an AWS region name"),
    (["backfill", "eu-west-1", "--rate", "0"], "out of range"),
    (["backfill", "eu-west-1", "--rate", "fast"], "is not a number"),
    (["reconcile", "eu-west-1", "--application", "Bad_Name"], "is not an application name"),
    (["rebalance", "eu-west-1"], "invalid choice"),
])
def test_bad_cli_input_exits_2_naming_the_problem(argv: list[str], complaint: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2 and complaint in capsys.readouterr().err


def test_an_unknown_profile_exits_2_naming_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["reconcile", "eu-west-1", "--profile", "no-such-profile-here"]) == 2
    assert "no AWS profile named 'no-such-profile-here'" in capsys.readouterr().out


def test_a_refusal_that_stops_a_command_exits_2_naming_the_operation(capsys: pytest.CaptureFixture[str]) -> None:
    from botocore.exceptions import ClientError

    class Sts:
        def get_caller_identity(self) -> dict:
            raise ClientError({"Error": {"Code": "ExpiredToken", "Message": "The security token expired"}},
                              "GetCallerIdentity")

    assert cli.main(["reconcile", "eu-west-1"], clients=lambda service, region: Sts()) == 2
    assert "AWS refused GetCallerIdentity: ExpiredToken" in capsys.readouterr().out
