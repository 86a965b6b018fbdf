"""The pure parts of ``ops trace``: the thing-name rule, commands as printed, times, and each verdict."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from builders import inventory as inv
from ops import trace as tr
from ops.errors import OpsError

REGION, OTHER = "us-west-2", "eu-west-1"
POLICY = "multi-region-iot-device"
CERT = "a" * 64
ARN = f"arn:aws:iot:{REGION}:123456789012:cert/{CERT}"


def item(status: str = inv.ACTIVE, certificate_id: str = CERT) -> dict:
    return inv.flat_item(inv.item(thing_name="dev-1", certificate_id=certificate_id, certificate_pem="PEM",
                                  ca_certificate_id="c" * 64, origin_region=OTHER,
                                  registered_at="2025-01-01T00:00:00Z", status=status))


def converged(**changes) -> tr.RegionTrace:
    """A region where dev-1 is exactly what its ACTIVE item says."""
    trace = tr.RegionTrace(REGION, item=item(), thing={"exists": True, "attributes": {"certificateId": CERT},
                                                       "principals": [ARN]},
                           certificates=[tr.Certificate(CERT, ["current", "attached"], True, "ACTIVE",
                                                        "2025-01-01T00:00:01.000Z", "2025-01-01T00:00:02.000Z", True)])
    trace.version = tr.item_version(item())
    for name, value in changes.items():
        setattr(trace, name, value)
    return trace


def decide(trace: tr.RegionTrace, others: dict | None = None, application: str = "multi-region-iot") -> tr.RegionTrace:
    tr.decide(trace, others=others if others is not None else {OTHER: trace.item}, device_policy=POLICY,
              application=application)
    return trace


def replication(status: str, name: str = "r-1", **fields) -> tr.Execution:
    return tr.Execution("replication", "multi-region-iot-replicate-device", name, f"arn:...:{name}", status,
                        "2025-01-01T00:00:03.000Z", **fields)


def test_thing_names_follow_the_contract() -> None:
    assert tr.check_thing_name("sensor-0042") == "sensor-0042"
    for bad in ("", "two words", "x" * 129, "dev\n"):
        with pytest.raises(OpsError, match="not a thing name"):
            tr.check_thing_name(bad)
    with pytest.raises(OpsError, match="reserved"):
        tr.check_thing_name("Canary-eu-west-1")


def test_commands_are_printed_as_they_run() -> None:
    assert tr.ops_command("redrive", REGION) == "python -m ops redrive us-west-2"
    printed = tr.ops_command("reconcile", REGION, "--repair", application="fleet-a", profile="prod ops")
    assert shlex.split(printed) == ["python", "-m", "ops", "--application", "fleet-a", "--profile", "prod ops",
                                    "reconcile", REGION, "--repair"]


def test_times_are_utc_milliseconds_whatever_the_source() -> None:
    assert tr.when("2025-01-01T00:00:00Z") == "2025-01-01T00:00:00.000Z"
    assert tr.when(1735689600) == tr.when("1735689600000") == "2025-01-01T00:00:00.000Z"
    assert tr.when(None) == tr.when("not a time") == ""


def test_the_stack_files_name_the_regions_to_start_from(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: x\n")
    (tmp_path / "Pulumi.b.yaml").write_text("config:\n  aws:region: us-west-2\n")
    (tmp_path / "Pulumi.a.yaml").write_text("config:\n  aws:region: eu-west-1\n  x:regions:\n    - eu-west-1\n")
    assert tr.stack_regions(tmp_path) == ["eu-west-1", "us-west-2"]
    assert set(tr.stack_regions()) >= {"eu-west-1", "us-west-2"}  # the project's own stacks


def test_a_converged_region_connects() -> None:
    trace = decide(converged())
    assert (trace.verdict, trace.command, trace.agrees, trace.attention) == ("ACTIVE, connects", "", True, False)


def test_nothing_here_and_no_replication_ever_ran_is_backfilled() -> None:
    trace = decide(converged(thing={"exists": False}, certificates=[tr.Certificate(CERT, ["current"], False)]))
    assert trace.verdict.startswith("not replicated yet: no replication of it ever ran in us-west-2")
    assert (trace.command, trace.agrees, trace.attention) == ("python -m ops backfill us-west-2", False, True)


def test_a_running_replication_needs_no_command() -> None:
    trace = decide(converged(thing={"exists": False}, certificates=[], executions=[replication("RUNNING")]))
    assert trace.verdict.startswith("not replicated yet: replication execution r-1 running since")
    assert trace.command == "" and not trace.agrees


def test_a_failed_replication_in_the_queue_is_redriven_and_one_no_longer_there_is_repaired() -> None:
    failed = replication("FAILED", outcome="FAILED at 'Register certificate': Iot.ThrottlingException")
    letter = tr.DeadLetterSeen("m-1", "execution status change", "2025-01-01T00:00:04.000Z", "replicate", "")
    queued = decide(converged(thing={"exists": False}, certificates=[], executions=[failed], dead_letters=[letter]))
    assert queued.verdict.startswith("dead-lettered: replication execution r-1 FAILED at 'Register certificate'")
    assert queued.command == "python -m ops redrive us-west-2"
    gone = decide(converged(thing={"exists": False}, certificates=[], executions=[failed]))
    assert gone.verdict.startswith("not replicated: replication execution r-1 FAILED")
    assert gone.command == "python -m ops reconcile us-west-2 --repair"
    stale = decide(converged(dead_letters=[letter]))  # converged since, the letter is still there
    assert stale.verdict.startswith("ACTIVE, connects; 1 dead letter(s) naming it still wait")
    assert (stale.command, stale.agrees, stale.attention) == ("python -m ops redrive us-west-2", True, True)


def test_a_pending_certificate_names_the_lease_holder() -> None:
    failed = "FAILED at 'Attach device policy': Iot.ServiceUnavailableException"
    jitr = tr.Execution("JITR", "multi-region-iot-jitr", "j-1", "arn:j-1", "FAILED", "2025-01-01T00:00:01.000Z",
                        certificate_id=CERT, outcome=failed)
    pending = tr.Certificate(CERT, ["current"], True, "PENDING_ACTIVATION", "2025-01-01T00:00:01.000Z")
    trace = decide(converged(certificates=[pending], executions=[jitr],
                             leases=[tr.Lease(CERT, "arn:j-1", "2025-01-01T00:20:01.000Z", True)]))
    assert trace.verdict == ("PENDING_ACTIVATION since 2025-01-01T00:00:01.000Z: registration lease held by execution "
                             "j-1 (FAILED at 'Attach device policy': Iot.ServiceUnavailableException) until "
                             "2025-01-01T00:20:01.000Z")
    assert trace.command == "python -m ops reconcile us-west-2 --repair"
    assert decide(converged(certificates=[pending]), application="fleet-a").command == (
        "python -m ops --application fleet-a reconcile us-west-2 --repair")


def test_a_pending_certificate_without_an_item_waits_for_the_lease() -> None:
    pending = tr.Certificate(CERT, ["seen by JITR"], True, "PENDING_ACTIVATION", "2025-01-01T00:00:01.000Z")
    trace = decide(tr.RegionTrace(REGION, thing={"exists": False}, certificates=[pending],
                                  leases=[tr.Lease(CERT, "arn:j-1", "2025-01-01T00:20:01.000Z", True)]), others={})
    assert trace.verdict.startswith("PENDING_ACTIVATION since 2025-01-01T00:00:01.000Z: registration lease held by "
                                    "execution j-1 until 2025-01-01T00:20:01.000Z; no inventory item yet")
    assert trace.command == "" and trace.attention


def test_an_item_not_yet_in_this_replica() -> None:
    trace = decide(tr.RegionTrace(REGION, thing={"exists": False}), others={OTHER: item()})
    assert trace.verdict.startswith("not replicated yet: the inventory item (ACTIVE, written 2025-01-01T00:00:00.000Z "
                                    "by eu-west-1, seen in eu-west-1) has not reached us-west-2's replica")
    assert trace.command == "" and not trace.agrees


def test_a_revoked_certificate_under_an_active_item_needs_a_new_certificate() -> None:
    revoked = tr.Certificate(CERT, ["current", "attached"], True, "REVOKED", "t0", "2025-01-02T00:00:00.000Z", True)
    trace = decide(converged(certificates=[revoked]))
    assert trace.verdict.startswith(f"refused: certificate {CERT[:12]}… REVOKED at 2025-01-02T00:00:00.000Z under an "
                                    "ACTIVE item: revocation is final")
    assert trace.command == ""


def test_decommissioned_is_final_and_agrees() -> None:
    revoked = tr.Certificate(CERT, ["current"], True, "REVOKED", "t0", "2025-01-02T00:00:00.000Z")
    done = tr.Execution("decommission", "multi-region-iot-decommission-device", "d-1", "arn:d-1", "SUCCEEDED",
                        "2025-01-02T00:00:00.000Z", "2025-01-02T00:00:01.000Z")
    trace = tr.RegionTrace(REGION, item=item(inv.REVOKED), thing={"exists": False}, certificates=[revoked],
                           executions=[done])
    trace.version = tr.item_version(item(inv.REVOKED))
    decide(trace)
    assert trace.verdict == f"refused: certificate {CERT[:12]}… REVOKED by decommission at 2025-01-02T00:00:01.000Z"
    assert (trace.command, trace.agrees, trace.attention) == ("", True, False)
    still = tr.RegionTrace(REGION, item=item(inv.REVOKED), thing={"exists": True, "principals": []},
                           certificates=[revoked])
    decide(still, others={})
    assert still.verdict.startswith("decommissioned in the inventory but not here: thing still exists")
    assert still.command == "python -m ops reconcile us-west-2 --repair"


def test_replicas_holding_different_versions_need_attention() -> None:
    trace = decide(converged(), others={OTHER: item(certificate_id="b" * 64)})
    assert trace.verdict.startswith("ACTIVE, connects; the replica in eu-west-1 holds another version")
    assert trace.agrees and trace.attention


def test_a_registration_running_now_needs_no_command() -> None:
    jitr = tr.Execution("JITR", "multi-region-iot-jitr", "j-1", "arn:j-1", "RUNNING", "2025-01-01T00:00:01.000Z",
                        certificate_id=CERT, outcome="RUNNING")
    pending = tr.Certificate(CERT, ["current"], True, "PENDING_ACTIVATION", "2025-01-01T00:00:01.000Z")
    trace = decide(converged(certificates=[pending], executions=[jitr],
                             leases=[tr.Lease(CERT, "arn:j-1", "2025-01-01T00:20:01.000Z", True)]))
    assert trace.verdict == ("PENDING_ACTIVATION since 2025-01-01T00:00:01.000Z: JITR execution j-1 is registering it "
                             "(running since 2025-01-01T00:00:01.000Z)")
    assert trace.command == "" and not trace.agrees
