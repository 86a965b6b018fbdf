"""The regional canaries in the local cloud: run against the served MQTT endpoints, their alarms flip each region's
record health, and the local DNS answer follows (components/canary.py, localcloud/canaries.py)."""

from __future__ import annotations

import dataclasses

import boto3
import pytest

from tests.localcloud.mqtt.conftest import Served

EU, US = "eu-west-1", "us-west-2"
READINGS = ["data_stream", "alarm_state"]  # Assumptions.route53_alarm_reading: the default first


def test_every_region_deploys_a_canary_whose_probe_passes_over_mqtt_tls(served: Served) -> None:
    reports = served.cloud.run_canaries(served.endpoints)
    assert set(reports) == {EU, US}
    for report in reports.values():
        assert (report.success, report.step, report.alarm_state, report.healthy) == (True, "done", "OK", True), report
    with served.endpoints.gate:
        for region in (EU, US):
            alarm = served.cloud.outputs(region)["canaryAlarmName"]
            state = boto3.client("cloudwatch", region_name=region).describe_alarms(AlarmNames=[alarm])
            assert state["MetricAlarms"][0]["StateValue"] == "OK"
            inventory = served.cloud.primary_outputs["inventoryTableName"]
            item = boto3.client("dynamodb", region_name=region).get_item(
                TableName=inventory, Key={"ThingName": {"S": f"canary-{region}"}})
            assert "Item" not in item  # the canary never enters the inventory, so it is never replicated


def _reading(served: Served, reading: str):
    """The block under one reading of route53.alarm-health-check-reading (docs/emulator.md's register)."""
    return served.cloud.assuming(dataclasses.replace(served.cloud.assumptions, route53_alarm_reading=reading))


def _settled(served: Served) -> None:
    """Three good minutes: every earlier period has left the alarm's window."""
    for _ in range(2):
        served.cloud.run_canaries(served.endpoints)
    reports = served.cloud.run_canaries(served.endpoints)
    assert all(r.healthy for r in reports.values()), reports


@pytest.mark.parametrize("reading", READINGS)
def test_a_failing_endpoint_is_taken_out_of_dns_by_its_canary_and_restored_when_it_recovers(
        served: Served, reading: str) -> None:
    """Each run of the canaries is one minute of the alarm: 3 failed minutes of 3 take the region out of DNS, so one
    or two failed runs never do; one good minute brings it back. The same under both readings of the alarm by
    Route 53 (3 of 3: DatapointsToAlarm = EvaluationPeriods, and a failed run puts a 0, not nothing)."""
    endpoints = served.endpoints
    with _reading(served, reading):
        _settled(served)
        assert endpoints.resolve("IE") == EU
        endpoints.mark_down(EU, dns=False)  # the endpoint fails; Route 53 knows nothing yet
        try:
            assert endpoints.resolve("IE") == EU
            for minute in (1, 2):
                reports = served.cloud.run_canaries(endpoints)
                assert (reports[EU].success, reports[EU].alarm_state, reports[EU].healthy) == (False, "OK", True), \
                    minute
                assert endpoints.resolve("IE") == EU
            reports = served.cloud.run_canaries(endpoints)
            assert (reports[EU].success, reports[EU].alarm_state, reports[EU].healthy) == (False, "ALARM", False)
            assert reports[US].healthy
            assert endpoints.resolve("IE") == US  # devices in Ireland are now sent to us-west-2
        finally:
            endpoints.mark_up(EU)
        assert endpoints.resolve("IE") == US  # until the canary proves the region again
        reports = served.cloud.run_canaries(endpoints)
        assert reports[EU].healthy and endpoints.resolve("IE") == EU


@pytest.mark.parametrize("reading", READINGS)
def test_a_canary_that_fails_before_probing_still_puts_a_failure_not_missing_data(served: Served, reading: str) -> None:
    """A run whose key cannot be read (or whose probe raises) puts Success 0 with the step ``error``: a failed
    minute, which 3 of 3 tolerates under both readings, never the missing minute the data-stream reading could read as
    insufficient data (= Unhealthy)."""
    from functions.canary import handler

    def broken(*_args, **_kwargs):
        raise TimeoutError("read timed out")

    with _reading(served, reading):
        _settled(served)
        original = handler.probe
        handler.probe = broken
        try:
            reports = served.cloud.run_canaries(served.endpoints)
        finally:
            handler.probe = original
        assert (reports[EU].success, reports[EU].step, reports[EU].healthy) == (False, "error", True), reports[EU]
        assert "TimeoutError" in reports[EU].detail


@pytest.mark.parametrize("reading", READINGS)
def test_a_minute_the_canary_does_not_run_at_all_depends_on_how_route53_reads_the_alarm(
        served: Served, reading: str) -> None:
    """route53.alarm-health-check-reading. ``alarm_state``: the missing minute is breaching (TreatMissingData), one of
    3, so the region stays in DNS. ``data_stream`` (the default, the worse): Route 53 knows nothing of
    TreatMissingData, the window holds a period without data = insufficient data = Unhealthy, so the region is out of
    DNS until that minute leaves the 3-minute window. What the design does about it: reserved concurrency and a 0 on
    every failure make a missing minute mean the canary could not run at all (docs/design.md)."""
    endpoints = served.endpoints
    with _reading(served, reading):
        _settled(served)
        reports = served.cloud.run_canaries(endpoints, missed={EU})
        assert (reports[EU].step, reports[EU].alarm_state) == ("missed", "OK")
        assert reports[US].healthy
        for minute in (0, 1, 2):
            if minute:
                reports = served.cloud.run_canaries(endpoints)
            expected = reading == "alarm_state"
            assert reports[EU].healthy is expected, (reading, minute)
            assert endpoints.resolve("IE") == (EU if expected else US)
        reports = served.cloud.run_canaries(endpoints)  # the missing minute has left the window
        assert reports[EU].healthy and endpoints.resolve("IE") == EU


def test_without_served_endpoints_the_canary_probes_the_in_process_iot_core(served: Served) -> None:
    with served.endpoints.gate:
        from localcloud.canaries import run_canaries

        reports = run_canaries(served.cloud)
    assert all(r.success and r.healthy for r in reports.values()), reports


def test_served_endpoints_run_the_canaries_on_a_schedule_and_dns_follows_without_anyone_asking(served: Served) -> None:
    import threading

    from rich.console import Console

    from localcloud.serve import run_canaries_until

    endpoints, stop = served.endpoints, threading.Event()
    console = Console(record=True, width=200)
    runner = threading.Thread(target=lambda: runs.append(
        run_canaries_until(served.cloud, endpoints, stop, 0.2, console)), daemon=True)
    runs: list[int] = []
    endpoints.mark_down(EU, dns=False)
    try:
        runner.start()
        for _ in range(100):  # at most ~10 s: the scheduled canary notices and DNS moves
            if endpoints.resolve("IE") == US:
                break
            stop.wait(0.1)
        assert endpoints.resolve("IE") == US
    finally:
        endpoints.mark_up(EU)
    for _ in range(100):
        if endpoints.resolve("IE") == EU:
            break
        stop.wait(0.1)
    stop.set()
    runner.join(10)
    assert endpoints.resolve("IE") == EU and runs and runs[0] >= 2
    assert "eu-west-1: canary failing" in console.export_text()
