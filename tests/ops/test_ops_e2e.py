"""The operator commands against the deployed program in the local cloud (one deploy for the module).

Devices onboard in the primary and are replicated to the secondary by the real machines; the tests
then take the secondary apart by hand, as an operator would find it, and run the commands there with
boto3's default session (which reaches moto inside ``LocalCloud``). The tests run in file order and
each uses its own device names; assertions only look at those names.
"""

from __future__ import annotations

import json

import boto3
import pytest

import pki
from builders import inventory as inv
from components.naming import Names
from localcloud import observe
from localcloud.cloud import LocalCloud
from localcloud import interception as aws_calls
from localcloud.fixes.iot_detach_propagation import complete_pending_detaches
from ops import backfill, cli, detach, reconcile, redrive
from ops.ratelimit import Unlimited

PRIMARY, SECONDARY = "eu-west-1", "us-west-2"
NAMES = Names("multi-region-iot")


def onboard(cloud: LocalCloud, ca: pki.CertificateAuthority, *names: str) -> dict[str, pki.DeviceMaterial]:
    devices = {}
    for name in names:
        device = ca.issue_device(name)
        cloud.connect(PRIMARY, device.certificate_pem, device.name)
        devices[name] = device
    cloud.settle()
    for device in devices.values():
        assert observe.certificate_status(SECONDARY, device.certificate_id) == "ACTIVE"  # replicated
    return devices


def iot(region: str = SECONDARY):
    return boto3.client("iot", region_name=region)


def certificate_arn(region: str, certificate_id: str) -> str:
    return iot(region).describe_certificate(certificateId=certificate_id)["certificateDescription"]["certificateArn"]


def remove_from_region(region: str, device: pki.DeviceMaterial) -> None:
    """What a region that never saw the device looks like: no thing, no certificate."""
    client, arn = iot(region), certificate_arn(region, device.certificate_id)
    client.detach_policy(policyName=NAMES.device_policy, target=arn)
    client.detach_thing_principal(thingName=device.name, principal=arn)
    complete_pending_detaches(region=region)
    client.delete_thing(thingName=device.name)
    client.update_certificate(certificateId=device.certificate_id, newStatus="INACTIVE")
    client.delete_certificate(certificateId=device.certificate_id)


def rows_for(report: reconcile.ReconcileReport, prefix: str) -> dict[str, list[str]]:
    return {row.thing_name: row.drift for row in report.rows if row.thing_name.startswith(prefix)}


def test_backfill_replays_devices_into_a_region_that_never_saw_them_and_is_idempotent(
        cloud: LocalCloud, ca: pki.CertificateAuthority) -> None:
    devices = onboard(cloud, ca, "bf-0001", "bf-0002", "bf-0003")
    for device in devices.values():
        remove_from_region(SECONDARY, device)
    before = rows_for(reconcile.reconcile(None, SECONDARY), "bf-")
    assert before == {name: [f"thing missing: {name}", f"certificate missing: {d.certificate_id}"]
                      for name, d in devices.items()}

    first = backfill.backfill(None, SECONDARY, bucket=Unlimited(), wait=True)
    cloud.settle()
    ours = {row.thing_name: (row.outcome, row.status) for row in first.rows if row.thing_name.startswith("bf-")}
    assert ours == {name: ("started", "SUCCEEDED") for name in devices}
    assert first.count("failed") == 0 and first.ok
    for device in devices.values():
        assert observe.certificate_status(SECONDARY, device.certificate_id) == "ACTIVE"
        assert cloud.connect(SECONDARY, device.certificate_pem, device.name, attempts=1).open  # no refused first try
    assert rows_for(reconcile.reconcile(None, SECONDARY), "bf-") == {}

    executions_before = len(list(observe.executions(SECONDARY)))
    second = backfill.backfill(None, SECONDARY, bucket=Unlimited())
    cloud.settle()
    assert second.count("started") == 0 and second.count("already done") == first.count("started")
    assert len(list(observe.executions(SECONDARY))) == executions_before


def test_redrive_starts_a_failed_replication_again_once_even_when_run_twice(
        cloud: LocalCloud, ca: pki.CertificateAuthority) -> None:
    url = cloud.outputs(SECONDARY)["replicationDeadLetterQueueUrl"]
    assert observe.queue_depth(SECONDARY, url) == 0
    device = ca.issue_device("rd-0001")
    aws_calls.inject("iot", "RegisterCertificate", region=SECONDARY, error_code="ServiceUnavailableException", times=50)
    try:
        cloud.connect(PRIMARY, device.certificate_pem, device.name)
    finally:
        aws_calls.clear()
    assert observe.queue_depth(SECONDARY, url) == 1
    assert observe.certificate_status(SECONDARY, device.certificate_id) is None  # the work left undone

    first = redrive.redrive(None, SECONDARY, bucket=Unlimited(), wait_seconds=0)
    cloud.settle()
    assert [(row.kind, row.action, row.state_machine, row.deleted) for row in first.rows] == [
        ("execution status change", "started", NAMES.replication_state_machine, True)]
    second = redrive.redrive(None, SECONDARY, bucket=Unlimited(), wait_seconds=0)
    assert second.rows == [] and second.ok
    redriven = [e for e in observe.executions(SECONDARY) if e.name.startswith("redrive-")]
    assert [(e.machine, e.status, json.loads(e.input)[inv.THING_NAME]) for e in redriven] == [
        (NAMES.replication_state_machine, "SUCCEEDED", device.name)]
    assert observe.queue_depth(SECONDARY, url) == 0
    assert cloud.connect(SECONDARY, device.certificate_pem, device.name, attempts=1).open


def test_reconcile_reports_exactly_what_was_broken_and_repair_fixes_what_can_be_fixed(
        cloud: LocalCloud, ca: pki.CertificateAuthority) -> None:
    devices = onboard(cloud, ca, "rc-missing", "rc-revoked", "rc-nopolicy", "rc-fine")
    client = iot()
    missing = devices["rc-missing"]
    arn = certificate_arn(SECONDARY, missing.certificate_id)
    client.detach_thing_principal(thingName=missing.name, principal=arn)
    complete_pending_detaches(region=SECONDARY)
    client.delete_thing(thingName=missing.name)
    client.update_certificate(certificateId=devices["rc-revoked"].certificate_id, newStatus="REVOKED")
    client.detach_policy(policyName=NAMES.device_policy,
                         target=certificate_arn(SECONDARY, devices["rc-nopolicy"].certificate_id))
    client.create_thing(thingName="rc-stray")

    report = reconcile.reconcile(None, SECONDARY)
    assert rows_for(report, "rc-") == {
        "rc-missing": ["thing missing: rc-missing"],
        "rc-revoked": [f"certificate revoked: {devices['rc-revoked'].certificate_id}"],
        "rc-nopolicy": [f"device policy not attached: {NAMES.device_policy}"],
        "rc-stray": ["no inventory item"],
    }
    assert rows_for(reconcile.reconcile(None, PRIMARY), "rc-") == {}  # the primary was not touched

    repaired = reconcile.reconcile(None, SECONDARY, repair=True, bucket=Unlimited())
    cloud.settle()
    actions = {row.thing_name: row.action for row in repaired.rows if row.thing_name.startswith("rc-")}
    assert actions == {"rc-missing": "started", "rc-revoked": "needs new certificate", "rc-nopolicy": "started",
                       "rc-stray": "report only"}
    after = reconcile.reconcile(None, SECONDARY)
    assert rows_for(after, "rc-") == {
        "rc-revoked": [f"certificate revoked: {devices['rc-revoked'].certificate_id}"],
        "rc-stray": ["no inventory item"],
    }
    for name in ("rc-missing", "rc-nopolicy", "rc-fine"):
        assert cloud.connect(SECONDARY, devices[name].certificate_pem, name, attempts=1).open
    again = reconcile.reconcile(None, SECONDARY, repair=True, bucket=Unlimited())
    assert {row.thing_name: row.action for row in again.rows if row.thing_name.startswith("rc-")} == {
        "rc-revoked": "needs new certificate", "rc-stray": "report only"}


def test_reconcile_repairs_a_revoked_item_the_region_still_holds(cloud: LocalCloud, ca: pki.CertificateAuthority) -> None:
    """An item REVOKED while the secondary's decommission rule was off (its event lost): repair decommissions there."""
    device = onboard(cloud, ca, "rv-0001")["rv-0001"]
    events = boto3.client("events", region_name=SECONDARY)
    decommission_arn = cloud.outputs(SECONDARY)["decommissionStateMachineArn"]
    (rule,) = [r["Name"] for r in events.list_rules(EventBusName=NAMES.event_bus)["Rules"]
               if any(t["Arn"] == decommission_arn
                      for t in events.list_targets_by_rule(Rule=r["Name"], EventBusName=NAMES.event_bus)["Targets"])]
    events.disable_rule(Name=rule, EventBusName=NAMES.event_bus)
    try:
        boto3.client("dynamodb", region_name=PRIMARY).update_item(
            TableName=NAMES.inventory_table, Key={"ThingName": {"S": device.name}},
            UpdateExpression="SET #s = :revoked", ExpressionAttributeNames={"#s": "Status"},
            ExpressionAttributeValues={":revoked": {"S": "REVOKED"}})
        cloud.settle()
    finally:
        events.enable_rule(Name=rule, EventBusName=NAMES.event_bus)
    report = reconcile.reconcile(None, SECONDARY)
    assert rows_for(report, "rv-") == {"rv-0001": ["thing still exists: rv-0001",
                                                   f"certificate still active: {device.certificate_id}"]}
    (row,) = [r for r in reconcile.reconcile(None, SECONDARY, repair=True, bucket=Unlimited()).rows
              if r.thing_name == device.name]
    assert row.action == "started"
    cloud.settle()
    complete_pending_detaches(region=SECONDARY)
    assert rows_for(reconcile.reconcile(None, SECONDARY), "rv-") == {}
    assert observe.certificate_status(SECONDARY, device.certificate_id) == "REVOKED"


def test_repair_detaches_other_principals_from_a_thing(
        cloud: LocalCloud, ca: pki.CertificateAuthority) -> None:
    """Depends on the rewritten replicate machine (it converges the thing's principals to the item)."""
    device = onboard(cloud, ca, "op-0001")["op-0001"]
    client = iot()
    extra = client.create_keys_and_certificate(setAsActive=True)
    client.attach_thing_principal(thingName=device.name, principal=extra["certificateArn"])
    assert rows_for(reconcile.reconcile(None, SECONDARY), "op-") == {
        "op-0001": [f"other principals attached: {extra['certificateArn']}"]}
    reconcile.reconcile(None, SECONDARY, repair=True, bucket=Unlimited())
    cloud.settle()
    complete_pending_detaches(region=SECONDARY)
    assert rows_for(reconcile.reconcile(None, SECONDARY), "op-") == {}


def test_repair_rewrites_a_stale_certificate_id_attribute(
        cloud: LocalCloud, ca: pki.CertificateAuthority) -> None:
    """Depends on the rewritten replicate machine (it creates/updates things with attribute certificateId)."""
    device = onboard(cloud, ca, "at-0001")["at-0001"]
    stale = "0" * 64
    iot().update_thing(thingName=device.name, attributePayload={"attributes": {"certificateId": stale}})
    assert rows_for(reconcile.reconcile(None, SECONDARY), "at-") == {
        "at-0001": [f"certificateId attribute differs: thing says {stale}, item says {device.certificate_id}"]}
    reconcile.reconcile(None, SECONDARY, repair=True, bucket=Unlimited())
    cloud.settle()
    assert rows_for(reconcile.reconcile(None, SECONDARY), "at-") == {}
    assert iot().describe_thing(thingName=device.name)["attributes"].get("certificateId") == device.certificate_id


def test_detach_all_lets_the_device_policy_be_deleted(cloud: LocalCloud, capsys: pytest.CaptureFixture[str]) -> None:
    """Last in the module: it takes the policy away from every device of the primary."""
    assert cli.main(["detach-all", PRIMARY, "--json"]) == 0  # without --yes: a listing
    listed = json.loads(capsys.readouterr().out)
    assert listed["dryRun"] and listed["targets"] and listed["detached"] == []
    client = iot(PRIMARY)
    with pytest.raises(client.exceptions.DeleteConflictException):
        client.delete_policy(policyName=NAMES.device_policy)  # what stops `pulumi destroy`
    report = detach.detach_all(None, PRIMARY, confirm=True, bucket=Unlimited())
    assert sorted(report.detached) == sorted(listed["targets"]) and report.ok
    client.delete_policy(policyName=NAMES.device_policy)
