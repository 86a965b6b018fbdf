"""Convergence of the deployed system under races, replays, faults and AWS's asynchronous behaviour.

Each test drives the real program's state machines, Lambda, pipes, rules and global tables in the local cloud,
then asserts the final state in every region (docs/design.md, "One owner per thing name"): at most one ACTIVE
certificate per thing across all regions, the inventory's; replicas equal; nothing left in a dead-letter queue
unless the test put it there; and whether each device connects.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest

import pki
from builders.asl import jitr
from localcloud import observe
from localcloud.cloud import LocalCloud
from localcloud import interception as aws_calls

from convergence import assert_converged, connects, dead_letters, refused_once, replicate_everything, snapshot

EU, US = "eu-west-1", "us-west-2"
OTHER = {EU: US, US: EU}


@pytest.fixture(autouse=True)
def no_faults() -> Iterator[None]:
    aws_calls.clear()
    yield
    aws_calls.clear()


def decommission(cloud: LocalCloud, region: str, thing: str) -> None:
    """The operator's decommission: the item's Status set to REVOKED in one region."""
    boto3.client("dynamodb", region_name=region).update_item(
        TableName=cloud.primary_outputs["inventoryTableName"], Key={"ThingName": {"S": thing}},
        UpdateExpression="SET #s = :r", ExpressionAttributeNames={"#s": "Status"},
        ExpressionAttributeValues={":r": {"S": "REVOKED"}})


def settle(cloud: LocalCloud) -> None:
    report = cloud.settle()
    assert report.quiescent, report


def assert_decommissioned_everywhere(cloud: LocalCloud, name: str, *devices: pki.DeviceMaterial) -> None:
    ids = [d.certificate_id for d in devices]
    assert assert_converged(snapshot(cloud, name, ids)) is None
    for device in devices:
        for region in cloud.regions:
            assert not connects(cloud, region, device.certificate_pem, name), (device.certificate_id, region)
    assert assert_converged(snapshot(cloud, name, ids)) is None  # the attempts themselves changed nothing


# -- split brain -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("winner_region", [EU, US])
def test_cross_region_race_two_certificates_one_name_the_last_writer_owns_it_everywhere(cloud, ca, winner_region):
    name = f"race-{winner_region}"
    loser_region = OTHER[winner_region]
    loser, winner = ca.issue_device(name), ca.issue_device(name)
    # both first connections before anything moves; the loser's registration runs first, so its write is older
    refused_once(cloud, loser_region, loser.certificate_pem, name)
    refused_once(cloud, winner_region, winner.certificate_pem, name)
    settle(cloud)

    snap = snapshot(cloud, name, [loser.certificate_id, winner.certificate_id])
    assert assert_converged(snap) == winner.certificate_id
    assert snap[loser_region].statuses[loser.certificate_id] == "REVOKED"  # fenced by replication
    for region in cloud.regions:
        assert connects(cloud, region, winner.certificate_pem, name)
        assert not connects(cloud, region, loser.certificate_pem, name)
    assert assert_converged(snapshot(cloud, name, [loser.certificate_id, winner.certificate_id])) == winner.certificate_id
    assert dead_letters(cloud) == {EU: 0, US: 0}

    decommission(cloud, winner_region, name)
    settle(cloud)
    assert_decommissioned_everywhere(cloud, name, loser, winner)


def test_cross_region_race_simultaneous_the_other_region_registers_in_the_middle_of_an_execution(cloud, ca):
    name = "race-simultaneous"
    eu_device, us_device = ca.issue_device(name), ca.issue_device(name)
    refused_once(cloud, EU, eu_device.certificate_pem, name)
    refused_once(cloud, US, us_device.certificate_pem, name)
    # the US registration runs completely after the EU claim and before the EU execution's first IoT step;
    # the global table then keeps the US write (the later one), while EU goes on to activate its own certificate
    aws_calls.inject("iot", "CreateThing", region=EU, before=lambda: cloud.engines.iot.settle())

    settle(cloud)

    ids = [eu_device.certificate_id, us_device.certificate_id]
    snap = snapshot(cloud, name, ids)
    assert assert_converged(snap) == us_device.certificate_id
    assert snap[EU].statuses[eu_device.certificate_id] == "REVOKED"
    assert snap[EU].principals == [us_device.certificate_id]  # the loser was detached from the EU thing
    for region in cloud.regions:
        assert connects(cloud, region, us_device.certificate_pem, name)
        assert not connects(cloud, region, eu_device.certificate_pem, name)

    decommission(cloud, US, name)
    settle(cloud)
    assert_decommissioned_everywhere(cloud, name, eu_device, us_device)


@pytest.mark.parametrize("step", ["AttachThingPrincipal", "UpdateCertificate"])
def test_cross_region_race_the_winner_replicates_in_the_middle_of_the_losers_registration(cloud, ca, step):
    name = f"race-fenced-{step.lower()}"
    loser, winner = ca.issue_device(name), ca.issue_device(name)
    refused_once(cloud, EU, loser.certificate_pem, name)
    refused_once(cloud, US, winner.certificate_pem, name)
    engines = cloud.engines
    # EU created the thing for the loser; before it attaches (or activates) the loser, the winner's item arrives and
    # EU's replication runs to the end. Before the attachment the thing holds no certificate yet, so only the fence
    # (the loser revoked first) stops the loser's activation; before the activation, the enforcement detaches it too.
    aws_calls.inject("iot", step, region=EU, before=lambda: replicate_everything(engines))
    aws_calls.inject("iot", "CreateThing", region=EU, before=lambda: engines.iot.settle())

    settle(cloud)

    snap = snapshot(cloud, name, [loser.certificate_id, winner.certificate_id])
    assert assert_converged(snap) == winner.certificate_id
    assert snap[EU].statuses[loser.certificate_id] == "REVOKED"  # activation refused: revocation is final
    assert connects(cloud, EU, winner.certificate_pem, name) and not connects(cloud, EU, loser.certificate_pem, name)


def test_cross_region_race_the_certificate_judged_an_impostor_is_the_one_kept_and_is_re_activated(cloud, ca):
    """builders/asl/jitr.py: EU's JITR judges the kept certificate an impostor (its replica still names the first
    claim), and the winner's item replicates (EU's replication activates it) just before EU quarantines it INACTIVE;
    the machine re-reads the inventory and re-activates it, so the device connects everywhere."""
    name = "race-reactivated"
    first, kept = ca.issue_device(name), ca.issue_device(name)
    refused_once(cloud, EU, first.certificate_pem, name)
    refused_once(cloud, US, kept.certificate_pem, name)
    cloud.engines.iot.settle()  # both claims, EU's first: the global table will keep the US one; nothing replicated
    refused_once(cloud, EU, kept.certificate_pem, name)  # the kept certificate's first EU connection
    engines = cloud.engines
    aws_calls.inject("iot", "UpdateCertificate", region=EU, before=lambda: replicate_everything(engines))

    settle(cloud)

    ids = [first.certificate_id, kept.certificate_id]
    snap = snapshot(cloud, name, ids)
    assert assert_converged(snap) == kept.certificate_id
    assert snap[EU].statuses == {first.certificate_id: "REVOKED", kept.certificate_id: "ACTIVE"}
    jitrs = [e for e in observe.executions(EU) if "jitr" in e.machine and kept.certificate_id in e.input]
    assert [e.status for e in jitrs] == ["SUCCEEDED"], jitrs
    entered = [e["stateEnteredEventDetails"]["name"] for e in observe.history(EU, jitrs[0].arn)
               if e["type"].endswith("StateEntered")]
    assert entered[-4:] == [jitr.QUARANTINE, jitr.RECHECK, jitr.WON_MEANWHILE, jitr.REACTIVATE], entered
    for region in cloud.regions:
        assert connects(cloud, region, kept.certificate_pem, name)
        assert not connects(cloud, region, first.certificate_pem, name)
    assert dead_letters(cloud) == {EU: 0, US: 0}


# -- replays, redrives --------------------------------------------------------------------------------------------
def test_a_dead_letter_redriven_after_decommission_does_not_resurrect_the_device(cloud, ca):
    from ops import redrive

    device = ca.issue_device("redrive-after-decommission")
    aws_calls.inject("iot", "RegisterCertificate", region=US, error_code="InternalFailureException", times=1000)
    assert connects(cloud, EU, device.certificate_pem, device.name)
    settle(cloud)
    assert dead_letters(cloud)[US] >= 1  # the US replication failed and was dead-lettered
    aws_calls.clear()

    decommission(cloud, EU, device.name)
    settle(cloud)
    report = redrive.redrive(None, US)
    settle(cloud)
    redrive.redrive(None, US)  # twice: safe
    settle(cloud)

    assert report.rows and all(row.action in ("started", "already done") for row in report.rows), report.rows
    assert dead_letters(cloud)[US] == 0
    assert_decommissioned_everywhere(cloud, device.name, device)


def test_a_device_decommissioned_before_it_ever_reached_a_region_is_refused_there(cloud, ca):
    device = ca.issue_device("decommissioned-before-arrival")
    refused_once(cloud, EU, device.certificate_pem, device.name)
    cloud.engines.iot.settle()  # registered in EU; its item has not replicated anywhere yet
    decommission(cloud, EU, device.name)
    settle(cloud)
    assert observe_status(US, device) in (None, "REVOKED")

    assert_decommissioned_everywhere(cloud, device.name, device)  # its first connection to US included


def test_a_stale_replication_event_cannot_bring_back_a_retired_certificate(cloud, ca):
    from builders import inventory as inv

    name = "rotated-then-replayed"
    old = ca.issue_device(name)
    assert connects(cloud, EU, old.certificate_pem, name)
    settle(cloud)
    table = cloud.primary_outputs["inventoryTableName"]
    dynamodb = boto3.client("dynamodb", region_name=EU)
    stale_item = dynamodb.get_item(TableName=table, Key={"ThingName": {"S": name}})["Item"]
    new = ca.issue_device(name)
    dynamodb.update_item(TableName=table, Key={"ThingName": {"S": name}}, UpdateExpression="SET PendingCertificateId = :n",
                         ExpressionAttributeValues={":n": {"S": new.certificate_id}})
    settle(cloud)
    assert connects(cloud, US, new.certificate_pem, name)  # the rotation happens in US
    settle(cloud)

    # the old certificate's replication event, replayed (a redrive, a duplicate delivery) in both regions
    for region in cloud.regions:
        sfn = boto3.client("stepfunctions", region_name=region)
        arn = cloud.outputs(region)["replicationStateMachineArn"]
        sfn.start_execution(stateMachineArn=arn, input=json.dumps(inv.flat_item(stale_item, "INSERT")))
    settle(cloud)

    snap = snapshot(cloud, name, [old.certificate_id, new.certificate_id])
    assert assert_converged(snap) == new.certificate_id
    assert {region.statuses[old.certificate_id] for region in snap.values()} == {"REVOKED"}
    assert not connects(cloud, EU, old.certificate_pem, name)


# -- faults ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("service, operation", [("iot", "DescribeCertificate"), ("dynamodb", "GetItem"),
                                                ("lambda", "Invoke")])
def test_inspector_fault_then_recovery_on_the_next_connection(cloud, ca, service, operation):
    device = ca.issue_device(f"inspector-fault-{operation.lower()}")
    aws_calls.inject(service, operation, region=EU, error_code="ServiceUnavailableException"
                     if service == "iot" else "InternalServerError" if service == "dynamodb" else "ServiceException",
                     times=1000)
    assert not connects(cloud, EU, device.certificate_pem, device.name, attempts=3)
    aws_calls.clear()
    assert observe_status(EU, device) == "PENDING_ACTIVATION"

    assert connects(cloud, EU, device.certificate_pem, device.name)  # IoT republishes the event; JITR completes
    settle(cloud)
    assert assert_converged(snapshot(cloud, device.name, [device.certificate_id])) == device.certificate_id
    assert connects(cloud, US, device.certificate_pem, device.name, attempts=1)


def test_a_step_failing_after_the_claim_then_recovery_on_the_next_connection(cloud, ca):
    device = ca.issue_device("after-claim-fault")
    aws_calls.inject("iot", "AttachPolicy", region=EU, error_code="InternalFailureException", times=1000)
    assert not connects(cloud, EU, device.certificate_pem, device.name, attempts=2)
    settle(cloud)  # the claim replicated: the US replication activated the device there meanwhile
    assert connects(cloud, US, device.certificate_pem, device.name, attempts=1)
    aws_calls.clear()

    assert connects(cloud, EU, device.certificate_pem, device.name)
    assert assert_converged(snapshot(cloud, device.name, [device.certificate_id])) == device.certificate_id


# -- duplicate registration events ----------------------------------------------------------------------------------
@pytest.mark.parametrize("connections", [2, 5])
def test_duplicate_registration_events_run_concurrently_and_never_undo_each_other(cloud, ca, connections):
    device = ca.issue_device(f"duplicates-{connections}")
    for _ in range(connections):  # each refused connection of a PENDING_ACTIVATION certificate republishes the event
        refused_once(cloud, EU, device.certificate_pem, device.name)
    assert cloud.engines.iot.pending() == connections
    settle(cloud)

    assert assert_converged(snapshot(cloud, device.name, [device.certificate_id])) == device.certificate_id
    for region in cloud.regions:
        assert connects(cloud, region, device.certificate_pem, device.name, attempts=1)
    assert dead_letters(cloud) == {EU: 0, US: 0}


# -- asynchronous detach ---------------------------------------------------------------------------------------------
def test_decommission_waits_for_asynchronous_detaches_before_deleting_the_thing(cloud, ca, monkeypatch):
    from localcloud.fixes import SETTINGS

    assert SETTINGS.detach_delay_calls > 0  # the local cloud detaches asynchronously, as AWS does
    monkeypatch.setattr(SETTINGS, "detach_delay_calls", 10)  # slower than the machine's own steps
    device = ca.issue_device("async-detach")
    assert connects(cloud, EU, device.certificate_pem, device.name)
    settle(cloud)
    decommission(cloud, EU, device.name)
    settle(cloud)

    assert_decommissioned_everywhere(cloud, device.name, device)
    for region in cloud.regions:  # refused while the detach propagated, retried, then accepted
        assert len(aws_calls.calls("iot", "DeleteThing", region)) >= 2, region
    assert dead_letters(cloud) == {EU: 0, US: 0}


def observe_status(region: str, device: pki.DeviceMaterial) -> str | None:
    from localcloud import observe

    return observe.certificate_status(region, device.certificate_id)
