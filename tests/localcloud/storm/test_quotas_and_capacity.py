"""Quota data (shipped defaults, overrides, validation), the bound and the capacity planner's arithmetic."""
import json

import pytest

import quotas
from localcloud.storm import bound as bounds
from localcloud.storm.capacity import plan


def test_the_shipped_defaults_carry_a_source_for_every_bucket():
    loaded = quotas.load()
    assert loaded.bucket("iot", "AttachPolicy", "eu-west-1") == quotas.Bucket(15, 15)
    assert all(entry["source"].startswith("https://") for entry in [*loaded.apis.values(), *loaded.limits.values()])


def test_step_functions_buckets_are_bigger_in_the_large_regions():
    loaded = quotas.load()
    assert loaded.bucket("sfn", "StartExecution", "us-west-2") == quotas.Bucket(1300, 300)
    assert loaded.bucket("sfn", "StartExecution", "eu-central-1") == quotas.Bucket(800, 150)
    assert loaded.limit("sfn:StateTransition", "eu-west-1") == quotas.Bucket(5000, 1500)


def test_a_user_file_replaces_only_its_own_entries(tmp_path):
    path = tmp_path / "raised.json"
    path.write_text(json.dumps({"apis": [{"service": "iot", "operation": "AttachPolicy",
                                          "default": {"burst": 100, "rate": 100}}]}))
    loaded = quotas.load(path)
    assert loaded.bucket("iot", "AttachPolicy", "eu-west-1") == quotas.Bucket(100, 100)
    assert loaded.bucket("iot", "DescribeCertificate", "eu-west-1") == quotas.Bucket(10, 10)


@pytest.mark.parametrize("content, reason", [
    ("not json", "not JSON"),
    ('{"apis": [{"service": "iot", "operation": "AttachPolicy", "default": {"burst": 0, "rate": 1}}]}', "burst"),
    ('{"apis": [{"service": "iot", "default": {"burst": 1, "rate": 1}}]}', "operation"),
    ('{"apis": [{"service": "iot", "operation": "X", "default": {"burst": 1, "rate": 1},'
     ' "by_region_class": {"nowhere": {"burst": 1, "rate": 1}}}]}', "unknown region class"),
    ('{"quota": []}', "unknown keys"),
])
def test_a_malformed_user_file_is_refused_with_the_reason(tmp_path, content, reason):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(quotas.QuotaFileError, match=reason):
        quotas.load(path)


def test_the_storm_command_exits_2_on_a_bad_quota_file(tmp_path, capsys):
    from localcloud.cli import main

    path = tmp_path / "bad.json"
    path.write_text("{")
    assert main(["storm", "--devices", "1", "--rate", "1", "--quotas", str(path)]) == 2
    assert "--quotas" in capsys.readouterr().err


PROFILE = bounds.Profile(origin={"iot:AttachPolicy": 1, "iot:DescribeCertificate": 1, "sfn:StateTransition": 5},
                         replica={"iot:AttachPolicy": 1, "iot:RegisterCertificate": 1, "sfn:StateTransition": 6})


def test_the_bound_is_the_slowest_api_region_at_its_refill_rate():
    calls = bounds.expected_calls(PROFILE, {"a": 300, "b": 100}, ["a", "b"])
    assert calls[("iot:AttachPolicy", "a")] == 400 and calls[("iot:DescribeCertificate", "a")] == 300
    assert calls[("iot:RegisterCertificate", "b")] == 300
    rates = {"iot:AttachPolicy": 15, "iot:DescribeCertificate": 10, "iot:RegisterCertificate": 10}
    found = bounds.bound(calls, lambda api, region: rates.get(api))
    # a: DescribeCertificate 300/10 = 30 s > AttachPolicy 400/15 = 26.7 s; b: RegisterCertificate 300/10 = 30 s
    assert (found.seconds, found.api, found.region) == (30.0, "iot:DescribeCertificate", "a")


def test_the_capacity_plan_matches_hand_arithmetic():
    prices = quotas.prices()
    result = plan(PROFILE, ["eu-west-1", "us-west-2"], 3000, quotas.load(), prices, target_hours=0.01)
    # onboarding: 1,500 first connections per region; AttachPolicy 3,000 per region / 15 = 200 s;
    # DescribeCertificate and RegisterCertificate 1,500 / 10 = 150 s
    assert (result.onboarding.seconds, result.onboarding.api) == (200.0, "iot:AttachPolicy")
    assert result.onboarding.rate_needed == pytest.approx(3000 / 36, abs=0.01)  # 36 s target
    # backfill of 3,000 into one region: RegisterCertificate 3,000 / 10 = 300 s
    assert (result.backfill.seconds, result.backfill.api) == (300.0, "iot:RegisterCertificate")
    # 11 transitions per device at $0.025 per 1,000 = $275 per million devices
    assert result.cost_per_million["state transitions"] == pytest.approx(275.0)


@pytest.mark.parametrize(("flag", "reading"), [([], "function_error"), (["--missing-item", "undefined"], "undefined")])
def test_the_storm_command_runs_under_the_chosen_reading_of_a_missing_item(monkeypatch, flag, reading):
    from localcloud.cli import main
    from localcloud.cloud import LocalCloudError
    from localcloud.storm import run

    seen = []

    def capture(config, progress=None):
        seen.append(config.assumptions.get_dynamodb_missing_item)
        raise LocalCloudError("stopped before deploying")

    monkeypatch.setattr(run, "run_storm", capture)
    assert main(["storm", "--devices", "1", "--rate", "1", "--json", *flag]) == 2
    assert seen == [reading]


def test_the_storm_command_refuses_an_unknown_reading(capsys):
    from localcloud.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["storm", "--devices", "1", "--rate", "1", "--missing-item", "null"])
    assert exit_.value.code == 2 and "--missing-item" in capsys.readouterr().err
