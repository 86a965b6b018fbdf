"""``python -m ops trace`` against the deployed program in the local cloud (one deploy for the module).

Each test breaks one device the way an operator finds it broken, asserts the verdict and the command ``trace``
prints, runs that command exactly as printed (through ``ops.cli.main``, the CLI's entry point) and traces again:
the verdict is then "ACTIVE, connects" (or, decommissioned, stays so), and the device really connects. Tests run in
file order and use their own device names; the order matters once: backfilling us-west-2 would also repair the
dead-lettered device, so that one is broken last.
"""

from __future__ import annotations

import json
import shlex

import boto3
import pytest
from rich.console import Console

import pki
from components.naming import Names
from localcloud import observe
from localcloud.cloud import LocalCloud
from localcloud import interception as aws_calls
from localcloud.fixes.iot_detach_propagation import complete_pending_detaches
from localcloud.services.iot.core import ConnectionRefused
from ops import cli

PRIMARY, SECONDARY = "eu-west-1", "us-west-2"
NAMES = Names("multi-region-iot")


def onboard(cloud: LocalCloud, ca: pki.CertificateAuthority, name: str) -> pki.IssuedCertificate:
    device = ca.issue_device(name)
    cloud.connect(PRIMARY, device.certificate_pem, device.name)
    cloud.settle()
    return device


def trace(capsys: pytest.CaptureFixture[str], thing: str, *extra: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = cli.main(["trace", thing, "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def run_printed(cloud: LocalCloud, command: str) -> int:
    """Run a command exactly as ``trace`` printed it (``python -m ops ...``), then let the cloud settle."""
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", "ops"], command
    code = cli.main(words[3:])
    cloud.settle()
    return code


def connects(cloud: LocalCloud, region: str, device: pki.IssuedCertificate) -> bool:
    try:
        return cloud.connect(region, device.certificate_pem, device.name, attempts=1).open
    except ConnectionRefused:
        return False


def replicate_rule(cloud: LocalCloud, region: str) -> str:
    events = boto3.client("events", region_name=region)
    machine = cloud.outputs(region)["replicationStateMachineArn"]
    (rule,) = [r["Name"] for r in events.list_rules(EventBusName=NAMES.event_bus)["Rules"]
               if any(t["Arn"] == machine
                      for t in events.list_targets_by_rule(Rule=r["Name"], EventBusName=NAMES.event_bus)["Targets"])]
    return rule


def test_a_healthy_device_has_its_whole_story_and_exits_0(
        cloud: LocalCloud, ca: pki.CertificateAuthority, capsys: pytest.CaptureFixture[str]) -> None:
    device = onboard(cloud, ca, "tr-ok")
    for region, text in ((PRIMARY, "21.5 C in Amsterdam"), (SECONDARY, "22.0 C in Portland")):
        connection = cloud.connect(region, device.certificate_pem, device.name, attempts=1)
        cloud.engines.iot.publish(connection, f"i/{device.name}/m", {"message": text})
    cloud.settle()

    code, report = trace(capsys, device.name)
    assert code == 0 and report["ok"]
    assert report["verdicts"] == {region: {"verdict": "ACTIVE, connects", "command": "", "agrees": True,
                                           "attention": False} for region in (PRIMARY, SECONDARY)}
    regions = {r["region"]: r for r in report["regions"]}
    for region in (PRIMARY, SECONDARY):
        item = regions[region]["item"]
        assert (item["Status"], item["CertificateId"], item["OriginRegion"]) == (
            "ACTIVE", device.certificate_id, PRIMARY)
        assert "CertificatePem" not in item
        (certificate,) = regions[region]["certificates"]
        assert (certificate["certificate_id"], certificate["status"], certificate["device_policy"]) == (
            device.certificate_id, "ACTIVE", True)
    assert regions[PRIMARY]["version"] == regions[SECONDARY]["version"]
    assert regions[PRIMARY]["telemetry"]["message"] == "21.5 C in Amsterdam"
    assert regions[SECONDARY]["telemetry"]["message"] == "22.0 C in Portland"
    assert [(e["kind"], e["outcome"]) for e in regions[PRIMARY]["executions"]] == [("JITR", "registered (NEW)")]
    assert [(e["kind"], e["outcome"]) for e in regions[SECONDARY]["executions"]] == [("replication", "SUCCEEDED")]
    moments = [event["at"] for event in report["timeline"]]
    assert moments == sorted(moments) and all(moments)
    whats = [event["what"] for event in report["timeline"]]
    assert whats.index(next(w for w in whats if w.startswith("JITR execution"))) < whats.index(
        next(w for w in whats if w.startswith("replication execution")))

    console = Console(record=True, width=220)
    assert cli.main(["trace", device.name], console=console) == 0
    text = console.export_text()
    assert "story, oldest first" in text and f"{PRIMARY}: ACTIVE, connects" in text and "fix:" not in text


def test_a_refused_impostor_certificate_is_named_and_the_genuine_device_still_connects(
        cloud: LocalCloud, ca: pki.CertificateAuthority, capsys: pytest.CaptureFixture[str]) -> None:
    device = onboard(cloud, ca, "tr-impostor")
    impostor = ca.issue_device(device.name)  # a second certificate of our CA with the same CN
    assert not connects(cloud, SECONDARY, impostor)
    cloud.settle()

    code, report = trace(capsys, device.name)
    assert code == 1 and not report["ok"]  # a second certificate of our CA for one name: someone must look
    assert report["verdicts"][PRIMARY]["verdict"] == "ACTIVE, connects"
    secondary = report["verdicts"][SECONDARY]
    assert secondary["verdict"].startswith(
        f"ACTIVE, connects; refused impostor certificate {impostor.certificate_id[:12]}… (INACTIVE: quarantined by "
        "JITR execution ")
    assert "ImpostorCertificateRejected" in secondary["verdict"]
    assert (secondary["command"], secondary["agrees"], secondary["attention"]) == ("", True, True)  # nothing to run
    (refusal,) = [e for r in report["regions"] if r["region"] == SECONDARY for e in r["executions"]
                  if e["certificate_id"] == impostor.certificate_id and e["status"] == "FAILED"]
    assert (refusal["kind"], refusal["failed_state"], refusal["error"]) == (
        "JITR", "Inspect and record", "ImpostorCertificateRejected")
    assert "ThingNameClaimedByAnotherCertificate" in refusal["outcome"]
    assert connects(cloud, SECONDARY, device) and not connects(cloud, SECONDARY, impostor)


def test_a_decommissioned_device_is_refused_everywhere_and_stays_so(
        cloud: LocalCloud, ca: pki.CertificateAuthority, capsys: pytest.CaptureFixture[str]) -> None:
    device = onboard(cloud, ca, "tr-decommissioned")
    boto3.client("dynamodb", region_name=PRIMARY).update_item(
        TableName=NAMES.inventory_table, Key={"ThingName": {"S": device.name}}, UpdateExpression="SET #s = :revoked",
        ExpressionAttributeNames={"#s": "Status"}, ExpressionAttributeValues={":revoked": {"S": "REVOKED"}})
    cloud.settle()
    for region in (PRIMARY, SECONDARY):
        complete_pending_detaches(region=region)
    cloud.settle()

    code, report = trace(capsys, device.name)
    assert code == 0 and report["ok"]  # every region agrees with the inventory: decommissioned is a final state
    for region in (PRIMARY, SECONDARY):
        verdict = report["verdicts"][region]
        assert verdict["verdict"].startswith(
            f"refused: certificate {device.certificate_id[:12]}… REVOKED by decommission at 20"), verdict
        assert verdict["command"] == ""
        kinds = [(e["kind"], e["status"]) for r in report["regions"] if r["region"] == region for e in r["executions"]]
        assert ("decommission", "SUCCEEDED") in kinds
        assert not connects(cloud, region, device)


def test_a_registration_lease_held_after_a_fault_is_named_and_reconcile_repair_activates_the_device(
        cloud: LocalCloud, ca: pki.CertificateAuthority, capsys: pytest.CaptureFixture[str]) -> None:
    """JITR claimed the name, then AttachPolicy kept failing and so did the lease's release: the certificate stays
    PENDING_ACTIVATION in the primary, and every reconnection ends at the lease (a duplicate), for 20 minutes."""
    device = ca.issue_device("tr-lease")
    aws_calls.inject("iot", "AttachPolicy", region=PRIMARY, error_code="ServiceUnavailableException", times=50)
    aws_calls.inject("dynamodb", "DeleteItem", region=PRIMARY, error_code="InternalServerError", times=50)
    try:
        assert not connects(cloud, PRIMARY, device)
        cloud.settle()
    finally:
        aws_calls.clear()
    assert not connects(cloud, PRIMARY, device)  # the next connection's JITR ends at the lease
    cloud.settle()
    assert observe.certificate_status(PRIMARY, device.certificate_id) == "PENDING_ACTIVATION"

    code, report = trace(capsys, device.name)
    assert code == 1
    (failed,) = [e for r in report["regions"] if r["region"] == PRIMARY for e in r["executions"]
                 if e["status"] == "FAILED"]
    primary = report["verdicts"][PRIMARY]
    assert primary["verdict"].startswith("PENDING_ACTIVATION since 20")
    assert (f"registration lease held by execution {failed['name']} (FAILED at 'Attach device policy': "
            "Iot.ServiceUnavailableException) until 20") in primary["verdict"]
    assert primary["command"] == "python -m ops reconcile eu-west-1 --repair"
    assert report["verdicts"][SECONDARY]["verdict"] == "ACTIVE, connects"
    duplicates = [e for r in report["regions"] for e in r["executions"]
                  if e["outcome"] == "duplicate event: registration already in progress"]
    assert duplicates

    assert run_printed(cloud, primary["command"]) == 0
    code, report = trace(capsys, device.name)
    assert code == 0, report["verdicts"]
    assert report["verdicts"][PRIMARY]["verdict"] == "ACTIVE, connects"
    assert connects(cloud, PRIMARY, device)


def test_a_device_never_replicated_is_named_and_backfill_replicates_it(
        cloud: LocalCloud, ca: pki.CertificateAuthority, capsys: pytest.CaptureFixture[str]) -> None:
    events = boto3.client("events", region_name=SECONDARY)
    rule = replicate_rule(cloud, SECONDARY)
    events.disable_rule(Name=rule, EventBusName=NAMES.event_bus)
    try:
        device = onboard(cloud, ca, "tr-unreplicated")
    finally:
        events.enable_rule(Name=rule, EventBusName=NAMES.event_bus)

    code, report = trace(capsys, device.name)
    assert code == 1
    secondary = report["verdicts"][SECONDARY]
    assert secondary["verdict"].startswith(f"not replicated yet: no replication of it ever ran in {SECONDARY} "
                                           f"(onboarded in {PRIMARY} at 20")
    assert secondary["command"] == "python -m ops backfill us-west-2"
    assert report["verdicts"][PRIMARY]["verdict"] == "ACTIVE, connects"

    assert run_printed(cloud, secondary["command"]) == 0
    code, report = trace(capsys, device.name)
    assert code == 0 and report["verdicts"][SECONDARY]["verdict"] == "ACTIVE, connects"
    kinds = [e["kind"] for r in report["regions"] if r["region"] == SECONDARY for e in r["executions"]]
    assert kinds == ["backfill"]
    assert connects(cloud, SECONDARY, device)


def test_a_dead_lettered_replication_is_named_without_consuming_it_and_redrive_replicates_it(
        cloud: LocalCloud, ca: pki.CertificateAuthority, capsys: pytest.CaptureFixture[str]) -> None:
    url = cloud.outputs(SECONDARY)["replicationDeadLetterQueueUrl"]
    device = ca.issue_device("tr-dead-letter")
    aws_calls.inject("iot", "RegisterCertificate", region=SECONDARY, error_code="ServiceUnavailableException", times=50)
    try:
        cloud.connect(PRIMARY, device.certificate_pem, device.name)
        cloud.settle()
    finally:
        aws_calls.clear()
    assert observe.queue_depth(SECONDARY, url) == 1

    code, report = trace(capsys, device.name)
    assert code == 1
    secondary = report["verdicts"][SECONDARY]
    assert secondary["verdict"].startswith("dead-lettered: replication execution ")
    assert "FAILED at 'Register certificate': Iot.ServiceUnavailableException; message " in secondary["verdict"]
    assert "waits in us-west-2's dead-letter queue (sent 20" in secondary["verdict"]
    assert secondary["command"] == "python -m ops redrive us-west-2"
    assert observe.queue_depth(SECONDARY, url) == 1  # peeked, not consumed
    sqs = boto3.client("sqs", region_name=SECONDARY)
    assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages")  # and visible again at once

    assert run_printed(cloud, secondary["command"]) == 0
    code, report = trace(capsys, device.name)
    assert code == 0 and report["verdicts"][SECONDARY]["verdict"] == "ACTIVE, connects"
    assert observe.queue_depth(SECONDARY, url) == 0
    assert connects(cloud, SECONDARY, device)


def test_bad_input_exits_2(cloud: LocalCloud, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["trace", "not a thing"], ["trace", "canary-eu-west-1"], ["trace", "tr-never-onboarded"],
                 ["trace", "tr-ok", "--regions", "eu-central-1"], ["status", "--regions", "eu-central-1"]):
        capsys.readouterr()
        assert cli.main(argv) == 2, argv
        assert "error:" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exited:
        cli.main(["trace", "tr-ok", "--regions", "Europe"])
    assert exited.value.code == 2
