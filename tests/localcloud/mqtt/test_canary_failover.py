"""The regional canaries in the local cloud: run against the served MQTT endpoints, their alarms flip each region's
record health, and the local DNS answer follows (components/canary.py, localcloud/canaries.py)."""

from __future__ import annotations

import boto3

from tests.localcloud.mqtt.conftest import Served

EU, US = "eu-west-1", "us-west-2"


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


def test_a_failing_endpoint_is_taken_out_of_dns_by_its_canary_and_restored_when_it_recovers(served: Served) -> None:
    endpoints = served.endpoints
    served.cloud.run_canaries(endpoints)
    assert endpoints.resolve("IE") == EU
    endpoints.mark_down(EU, dns=False)  # the endpoint fails; Route 53 knows nothing yet
    try:
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
