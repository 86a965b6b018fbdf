"""The assumptions register (docs/emulator.md, "Assumptions register") and the design under both outcomes of its rows.

The register lists every behaviour the local cloud decides for AWS. Where the source is only a forum answer, an issue
thread or our judgement, ``localcloud.assumptions.Assumptions`` has a switch whose default is the outcome worse for
our design. The tests here hold the register and the switches to one list, and run the deployed stacks (the shared
module ``cloud``, JITR as shipped) under both outcomes of the rows that can break onboarding, decommission or
telemetry: the default and the other value, switched on the same deployed cloud with ``LocalCloud.assuming``. The
JITP and fleet rows are run the same way in tests/localcloud/test_jitp_end_to_end.py and test_fleet_end_to_end.py;
``iot-sql.get-dynamodb-missing-item`` in tests/localcloud/test_jitr_under_both_assumptions.py.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections import Counter
from pathlib import Path

import boto3
import pytest

import pki
from localcloud import observe
from localcloud.assumptions import AWS_AS_REPORTED, DESIGN_DEPENDS_ON, KINDER, Assumptions, register_rows, values
from localcloud.cloud import LocalCloud
from localcloud.services import ConnectionRefused
from ops.conformance.probes import by_row

PRIMARY, SECONDARY = "eu-west-1", "us-west-2"
REGIONS = (PRIMARY, SECONDARY)
EMULATOR_DOC = Path(__file__).resolve().parents[2] / "docs" / "emulator.md"

#: Rows the live conformance kit (ops/conformance, `python -m ops conformance`) names in its register_row field.
PROBED_ROWS = tuple(by_row())  # the live conformance kit's probes (ops/conformance), each naming its row
STRENGTHS = ("API reference", "developer guide", "re:Post or issue thread", "our judgement")


# ---- the register itself ----------------------------------------------------------------------------------------
def register_table() -> list[dict[str, str]]:
    """The rows of the register's table, by column header."""
    text = EMULATOR_DOC.read_text(encoding="utf-8")
    section = text.split("## Assumptions register", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if len(cells) != len(header):
            raise AssertionError(f"register row has {len(cells)} cells, the header {len(header)}: {line[:120]}")
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def row_key(row: dict[str, str]) -> str:
    return row["Row"].strip("`")


def strength(row: dict[str, str]) -> str:
    found = [s for s in STRENGTHS if row["Source and strength"].startswith(f"**{s}**")]
    assert len(found) == 1, f"{row_key(row)}: the source must start with one of {STRENGTHS} in bold"
    return found[0]


def test_the_register_has_one_row_per_key_with_a_strength_and_the_rows_the_conformance_kit_probes() -> None:
    rows = register_table()
    keys = [row_key(row) for row in rows]
    assert len(keys) == len(set(keys)), [k for k, n in Counter(keys).items() if n > 1]
    assert all(re.fullmatch(r"[a-z0-9-]+\.[a-z0-9.-]+", key) for key in keys), keys
    assert set(PROBED_ROWS) <= set(keys), sorted(set(PROBED_ROWS) - set(keys))
    for row in rows:
        strength(row)
        assert row["Tests"], f"{row_key(row)}: no test named, nor why there is none"
    probed = {row_key(row) for row in rows if "probe" in row["Live probe"]}
    assert set(PROBED_ROWS) <= probed, sorted(set(PROBED_ROWS) - probed)


def test_every_switch_is_a_row_naming_its_field_and_other_value_and_every_unsettled_row_has_one_or_says_why_not() -> None:
    rows = {row_key(row): row for row in register_table()}
    for name, key in register_rows().items():
        assert key in rows, f"Assumptions.{name}: its row {key} is missing from the register"
        default, other = values(name)
        assert f"`{name}`" in rows[key]["Switch"] and f"`{other}`" in rows[key]["Switch"], (key, rows[key]["Switch"])
        assert default in rows[key]["What the local cloud does"], (key, default)
    fields = set(register_rows().values())
    switched = {key for key, row in rows.items() if not row["Switch"].startswith("—")}
    assert switched == fields, f"Switch cells and Assumptions fields differ: {sorted(switched ^ fields)}"
    for key, row in rows.items():  # a forum answer or our judgement: a switch, or the reason there is none
        if strength(row) in ("re:Post or issue thread", "our judgement") and key not in fields:
            assert re.fullmatch(r"— \(.{10,}\)", row["Switch"]), f"{key}: no switch and no reason: {row['Switch']!r}"


def test_every_test_file_the_register_names_exists() -> None:
    root = EMULATOR_DOC.parents[1]
    named = {path for row in register_table() for path in re.findall(r"tests/[\w/*.-]+?\.py", row["Tests"])}
    assert named, "the register names no test file"
    missing = sorted(path for path in named if not list(root.glob(path)))
    assert not missing, missing


def test_the_count_by_strength_at_the_end_of_the_section_is_the_table_s() -> None:
    counted = Counter(strength(row) for row in register_table())
    section = EMULATOR_DOC.read_text(encoding="utf-8").split("## Assumptions register", 1)[1].split("\n## ", 1)[0]
    line = next(line for line in section.splitlines() if line.startswith("**Rows by source strength"))
    stated = {name: int(number) for number, name in re.findall(r"(\d+) ([a-zA-Z: ]+?)(?=[,;.)]| \()", line)}
    assert {s: stated.get(s, 0) for s in STRENGTHS} == {s: counted.get(s, 0) for s in STRENGTHS}, line
    assert f"{sum(counted.values())} rows" in line


def test_the_register_says_how_route53_reads_an_m_of_n_alarm_with_missing_data_breaching() -> None:
    """A CLOUDWATCH_METRIC health check records only EvaluationPeriods/Threshold/ComparisonOperator/Period/Statistic
    of its alarm (botocore's CloudWatchAlarmConfiguration): whether Route 53 honours DatapointsToAlarm and
    TreatMissingData is a register row with a switch (red team, issue 20)."""
    from botocore.loaders import Loader

    recorded = set(Loader().load_service_model("route53", "service-2")["shapes"]["CloudWatchAlarmConfiguration"]
                   ["members"])
    assert not {"DatapointsToAlarm", "TreatMissingData"} & recorded
    rows = [line for line in EMULATOR_DOC.read_text(encoding="utf-8").splitlines() if line.startswith("| `route53.")]
    assert any(("datapoint" in row.lower() or "missing data" in row.lower()) for row in rows), rows
    assert "route53.alarm-health-check-reading" in register_rows().values()


def test_the_default_is_every_switch_s_first_value_and_kinder_flips_them_all() -> None:
    assert all(getattr(AWS_AS_REPORTED, name) == values(name)[0] for name in register_rows())
    assert all(getattr(KINDER, name) == values(name)[1] for name in register_rows())
    assert set(DESIGN_DEPENDS_ON) <= set(register_rows())
    with pytest.raises(ValueError, match="must be one of"):
        Assumptions(delete_thing_with_principal="sometimes")


# ---- the deployed design under both outcomes (one deployed cloud, switched per test) -------------------------------
def inventory(cloud: LocalCloud, region: str, thing: str) -> list[dict]:
    table = cloud.primary_outputs["inventoryTableName"]
    return [i for i in observe.table_items(region, table) if i["ThingName"] == thing]


@pytest.mark.parametrize("outcome", ["refused", "detaches"])
def test_decommissioning_removes_the_device_everywhere_whatever_deletething_does_with_an_attached_principal(
        cloud: LocalCloud, ca: pki.CertificateAuthority, outcome: str) -> None:
    """iot.delete-thing-with-principal (and iot.detach-propagation, whose delay stays on): refused while a detach
    propagates (the decommission machine retries DeleteThing), or the principals detached and the thing deleted."""
    device = ca.issue_device(f"decom-{outcome}")
    cloud.connect(PRIMARY, device.certificate_pem, device.name)
    cloud.settle()
    assert cloud.connect(SECONDARY, device.certificate_pem, device.name, attempts=1).open
    with cloud.assuming(dataclasses.replace(cloud.assumptions, delete_thing_with_principal=outcome)):
        boto3.client("dynamodb", region_name=PRIMARY).update_item(
            TableName=cloud.primary_outputs["inventoryTableName"], Key={"ThingName": {"S": device.name}},
            UpdateExpression="SET #s = :revoked", ExpressionAttributeNames={"#s": "Status"},
            ExpressionAttributeValues={":revoked": {"S": "REVOKED"}})
        cloud.settle()
        for region in REGIONS:
            assert device.name not in {t.name for t in observe.things(region)}
            assert observe.certificate_status(region, device.certificate_id) == "REVOKED"
            with pytest.raises(ConnectionRefused):
                cloud.connect(region, device.certificate_pem, device.name, attempts=2)
            decommissions = [e for e in observe.executions(region)
                             if "decommission" in e.machine and device.name in e.input]
            assert decommissions and all(e.status == "SUCCEEDED" for e in decommissions), decommissions


@pytest.mark.parametrize("outcome", ["accepted", "refused"])
def test_an_expired_certificate_never_becomes_active_whatever_the_handshake_does(
        cloud: LocalCloud, ca: pki.CertificateAuthority, outcome: str) -> None:
    """iot.handshake-certificate-validity: accepted at the handshake (default: auto-registered, the registration
    event published, the JITR inspector refuses it) or refused there (nothing registered)."""
    device = ca.issue_device(f"expired-{outcome}", validity=pki.authority.expired_validity())
    with cloud.assuming(dataclasses.replace(cloud.assumptions, expired_certificate_handshake=outcome)):
        events = cloud.engines.iot.stats.jitr_events
        for region in REGIONS:
            with pytest.raises(ConnectionRefused):
                cloud.connect(region, device.certificate_pem, device.name, attempts=3)
        cloud.settle()
        for region in REGIONS:
            assert observe.certificate_status(region, device.certificate_id) in (
                (None,) if outcome == "refused" else ("PENDING_ACTIVATION", "INACTIVE", "REVOKED"))
            assert inventory(cloud, region, device.name) == []
            assert device.name not in {t.name for t in observe.things(region)}
        assert (cloud.engines.iot.stats.jitr_events > events) == (outcome == "accepted")


UNDECODABLE = b'{"message": ' + b"[" * 5000 + b"]" * 5000 + b"}"


@pytest.mark.parametrize("outcome", ["no_error_action", "error_action"])
def test_a_telemetry_message_no_parser_reads_is_in_the_error_queue_only_if_aws_runs_the_error_action(
        cloud: LocalCloud, ca: pki.CertificateAuthority, outcome: str) -> None:
    """iot-sql.undecodable-payload: under the default the deployed telemetry rule matches nothing, so the message is
    neither stored nor in the telemetry error queue (only in IoT's logs): the design's "nothing accepted is lost"
    does not hold for it. Under the other outcome the error action keeps it."""
    url = cloud.outputs(PRIMARY)["telemetryErrorQueueUrl"]
    device = ca.issue_device(f"deep-{outcome.replace('_', '-')}")
    connection = cloud.connect(PRIMARY, device.certificate_pem, device.name)
    before = observe.queue_depth(PRIMARY, url)
    with cloud.assuming(dataclasses.replace(cloud.assumptions, undecodable_payload=outcome)):
        cloud.engines.iot.publish(connection, f"i/{device.name}/m", UNDECODABLE)
        cloud.settle()
    assert connection.open
    assert not [i for i in observe.table_items(PRIMARY, cloud.primary_outputs["dataTableName"])
                if i.get("Device") == device.name]
    if outcome == "no_error_action":
        assert observe.queue_depth(PRIMARY, url) == before
        return
    assert observe.queue_depth(PRIMARY, url) == before + 1
    messages = boto3.client("sqs", region_name=PRIMARY).receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    bodies = [json.loads(m["Body"]) for m in messages["Messages"]]
    assert UNDECODABLE in [base64.b64decode(b["base64OriginalPayload"]) for b in bodies]


def test_a_client_id_over_128_bytes_is_refused_at_connect(cloud: LocalCloud, ca: pki.CertificateAuthority) -> None:
    """mqtt.client-id-length (AWS IoT Core quotas: 128 bytes of UTF-8): documented, one outcome."""
    device = ca.issue_device("client-id-0001")
    cloud.connect(PRIMARY, device.certificate_pem, device.name)
    with pytest.raises(ConnectionRefused, match="at most 128 bytes"):
        cloud.engines.iot.connect(PRIMARY, device.certificate_pem, "é" * 65)  # 130 bytes
