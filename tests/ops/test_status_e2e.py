"""``python -m ops status`` against the deployed program in the local cloud (its own deploy: the counts are the
whole fleet's). Devices are onboarded, then broken one way each; every figure is asserted against what was done.
Our metrics are what the Lambdas printed (embedded metric format), put into CloudWatch by the local cloud's collector
(``localcloud.local_metrics``, which ``up --serve`` runs every few seconds), run here before each status."""

from __future__ import annotations

import json

import boto3
import pytest
from rich.console import Console

import pki
from components.naming import Names
from localcloud.cloud import LocalCloud
from localcloud import interception as aws_calls
from localcloud.fixes.iot_detach_propagation import complete_pending_detaches
from localcloud.local_metrics import MetricsCollector
from localcloud.services.awslambda import inprocess
from localcloud.services.iot.core import ConnectionRefused
from ops import cli

PRIMARY, SECONDARY = "eu-west-1", "us-west-2"
REGIONS = (PRIMARY, SECONDARY)
NAMES = Names("multi-region-iot")


def status(capsys: pytest.CaptureFixture[str], metrics: MetricsCollector) -> tuple[int, dict[str, dict]]:
    metrics.collect()
    capsys.readouterr()
    code = cli.main(["status", "--json"])
    report = json.loads(capsys.readouterr().out)
    return code, {row["region"]: row for row in report["regions"]}


def test_status_counts_the_fleet_per_region(
        cloud: LocalCloud, ca: pki.CertificateAuthority, capsys: pytest.CaptureFixture[str]) -> None:
    metrics = MetricsCollector(cloud)
    metrics._lines, metrics._invocations = len(inprocess.LOG_LINES), len(inprocess.INVOCATIONS)  # this test's only
    code, before = status(capsys, metrics)
    assert code == 0, {r: row["attention"] for r, row in before.items()}
    assert set(before) == set(REGIONS)
    for row in before.values():
        assert row["devices"] == {} and row["drift"] == 0 and row["orphans"] == 0 and row["dead_letters"] == 0
        assert (row["registrations"], row["registration_refusals"], row["metrics_error"]) == ({}, {}, "")
        assert row["canary"] is not None and row["canary"]["alarm"] == NAMES("canary")  # the canary thing is not drift

    devices = {}
    for name, region in (("st-0001", PRIMARY), ("st-0002", PRIMARY), ("st-0003", PRIMARY), ("st-0004", SECONDARY)):
        devices[name] = ca.issue_device(name)
        cloud.connect(region, devices[name].certificate_pem, name)
    cloud.settle()

    code, after = status(capsys, metrics)
    assert code == 0
    assert after[PRIMARY]["registrations"] == {"NEW": 3} and after[SECONDARY]["registrations"] == {"NEW": 1}
    for region in REGIONS:
        row, base = after[region], before[region]
        assert row["devices"] == {"ACTIVE": 4}
        assert row["things"] - base["things"] == 4
        assert row["activeCertificates"] - base["activeCertificates"] == 4
        assert (row["drift"], row["orphans"], row["onboarding"], row["replications_running"]) == (0, 0, 0, 0)
        assert (row["jitr_failures"], row["jitr_refusals"], row["dead_letters"], row["telemetry_errors"]) == (
            {}, {}, 0, 0)
        assert row["replica_disagrees"] == 0 and row["commands"] == [] and row["attention"] == []

    # break the fleet: one decommissioned, one dead-lettered in the secondary, one impostor refused there
    boto3.client("dynamodb", region_name=PRIMARY).update_item(
        TableName=NAMES.inventory_table, Key={"ThingName": {"S": "st-0001"}}, UpdateExpression="SET #s = :revoked",
        ExpressionAttributeNames={"#s": "Status"}, ExpressionAttributeValues={":revoked": {"S": "REVOKED"}})
    cloud.settle()
    for region in REGIONS:
        complete_pending_detaches(region=region)
    cloud.settle()
    lost = ca.issue_device("st-0005")
    aws_calls.inject("iot", "RegisterCertificate", region=SECONDARY, error_code="ServiceUnavailableException", times=50)
    try:
        cloud.connect(PRIMARY, lost.certificate_pem, lost.name)
        cloud.settle()
    finally:
        aws_calls.clear()
    with pytest.raises(ConnectionRefused):
        cloud.connect(SECONDARY, ca.issue_device("st-0002").certificate_pem, "st-0002", attempts=1)
    cloud.settle()

    code, broken = status(capsys, metrics)
    assert code == 1
    for region in REGIONS:
        assert broken[region]["devices"] == {"ACTIVE": 4, "REVOKED": 1}
    primary, secondary = broken[PRIMARY], broken[SECONDARY]
    assert (primary["drift"], primary["dead_letters"], primary["jitr_refusals"], primary["attention"]) == (0, 0, {}, [])
    assert secondary["drift"] == 1 and secondary["drift_examples"] == ["st-0005: thing missing, certificate missing"]
    assert secondary["dead_letters"] == 1
    assert secondary["jitr_refusals"] == {"ImpostorCertificateRejected": 1} and secondary["jitr_failures"] == {}
    assert secondary["commands"] == ["python -m ops reconcile us-west-2 --repair", "python -m ops redrive us-west-2"]
    assert secondary["things"] - after[SECONDARY]["things"] == -1  # st-0001 deleted, st-0005 never created
    assert secondary["activeCertificates"] - after[SECONDARY]["activeCertificates"] == -1
    # CloudWatch, last hour: the impostor's refusal by its reason, in the region that refused it
    assert secondary["registration_refusals"] == {"ThingNameClaimedByAnotherCertificate": 1}
    assert primary["registration_refusals"] == {} and primary["registrations"] == {"NEW": 4}  # st-0005 too

    console = Console(record=True, width=250)
    assert cli.main(["status"], console=console) == 1
    text = console.export_text()
    print(text)
    assert "us-west-2 fix: python -m ops redrive us-west-2" in text
    assert "oldest unprocessed inventory stream record: not available" in text
    assert "not emitted yet" not in text
    assert "refused: ThingNameClaimedByAnotherCertificate 1" in text and "registered: NEW 4" in text
    assert "provisioning API: none in the last hour" in text

    for command in secondary["commands"]:  # every printed command runs as printed, and fixes what it names
        assert cli.main(command.split()[3:]) == 0, command
        cloud.settle()
    code, fixed = status(capsys, metrics)
    assert fixed[SECONDARY]["drift"] == 0 and fixed[SECONDARY]["dead_letters"] == 0
    assert fixed[SECONDARY]["jitr_refusals"] == {"ImpostorCertificateRejected": 1}  # the last hour keeps it
    assert code == 1
