"""The local cloud's commands on the deployed program: the demo's story, the benchmark's figures and
JSON contract, argument errors, and the preview subcommand's wiring."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from cryptography import x509
from rich.console import Console

import pki
from localcloud import bench, cli, demo
from tests.localcloud.demo_checks import check_second_deployment


def test_the_demo_onboards_its_cast_and_refuses_the_impostor_and_the_foreign_device(tmp_path: Path) -> None:
    console = Console(record=True, width=200, force_terminal=False)
    result = demo.run(console, state_dir=tmp_path)
    worked = {(d.name, d.role): d.worked_in for d in result.devices}
    for device in result.devices:
        if device.expected_to_work:
            assert sorted(device.worked_in) == sorted(result.regions), (device.name, device.results)
        else:
            assert device.worked_in == [], (device.name, device.results)
    assert len(worked) == 7
    text = console.export_text()
    for region in result.regions:
        assert f"{region}: state machine executions" in text
        assert f"hello from sensor-roaming-01 via {region}" in text
        assert f"hello from api-sensor-01 via {region}" in text  # provisioned through the API, then everywhere
    assert "INACTIVE" in text  # the impostor's certificate, quarantined by the JITR machine
    assert result.dead_letters == {region: 0 for region in result.regions}  # nothing given up on
    assert not result.registered(result.regions[0], "fleet-provisioning-claim")  # jitr as shipped: no claim
    check_second_deployment(result.second)  # one fleet device, in a second deployment (jitr + fleet)
    fleet = next(d for d in result.second.devices if d.name == "fleet-sensor-01")
    x509.load_pem_x509_certificate(fleet.certificate_pem.encode()).verify_directly_issued_by(
        pki.load_ca(tmp_path / "jitr-fleet" / "pki").intermediate_certificate)  # that deployment's CA, not Amazon's
    assert text.count("replication dead-letter queue: 0 message(s) waiting") == 2 * len(result.regions)
    for region in result.regions:
        assert f"second deployment (jitr + fleet): {region}" in text
        for name in ("fleet-sensor-01",):
            assert f"hello from {name} via {region}" in text
    # the demo says which unproven AWS behaviours the second deployment needed
    unproven = " ".join(text.split())
    assert "iot.jitp-registration-event" in unproven and "fleet.certificate-provider-regions" in unproven
    assert "python -m ops conformance REGION" in unproven


def test_bench_reports_exactly_the_contract_keys_and_a_clean_run(tmp_path: Path) -> None:
    result = bench.run_bench(6, messages=2, seed=3, batch=4, state_dir=tmp_path)
    document = result.as_json()
    assert list(document) == list(bench.JSON_KEYS)
    assert (document["devices"], document["lost"], document["duplicates"]) == (6, 0, 0)
    assert document["executions_per_device"] == 2.0  # JITR where first seen + replication in the other region
    assert document["lambda_invocations_per_device"] == 1.0
    assert document["cross_region_calls_per_device"] == 0.0
    assert document["transitions_per_message"] == 0.0
    assert 0 < document["transitions_per_device"] <= 11
    assert result.details["execution_calls"] > 0  # the meter saw the executions' calls
    assert document["regions"] == ["eu-west-1", "us-west-2"]


def test_bench_refuses_a_region_that_is_not_deployed(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"ap-south-1.*not deployed"):
        bench.run_bench(1, regions=["ap-south-1"], state_dir=tmp_path)


@pytest.mark.parametrize("argv, message", [
    (["bench", "--devices", "0"], "must be at least 1"),
    (["bench", "--devices", "many"], "not a whole number"),
    (["bench", "--devices", "2", "--messages", "-1"], "must be 0 or more"),
    (["launch"], "invalid choice"),
])
def test_bad_arguments_are_refused_with_the_reason(argv: list[str], message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_preview_runs_the_preview_module_with_stack_and_policy_pack(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    fake = types.ModuleType("localcloud.preview")
    fake.main = lambda stack, policy_pack: calls.append((stack, policy_pack)) or 0
    monkeypatch.setitem(sys.modules, "localcloud.preview", fake)
    assert cli.main(["preview", "us-west-2", "--policy-pack", "policy"]) == 0
    assert calls == [("us-west-2", "policy")]
