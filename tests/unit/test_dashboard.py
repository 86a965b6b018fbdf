"""Every region's dashboard graphs only metrics that exist, so no widget is an empty graph by construction.

Each metric a widget names (namespace, metric name, dimension names) is either

- ours: in ``contract.metrics.CATALOG`` with exactly its dimension names, and values from its fixed sets
  (tests/unit/test_metrics.py proves each function really writes those lines), or the canary's ``<application>/Canary``
  ``Success`` with ``Region`` (the same test proves the canary puts it); or
- an AWS service's, in :data:`AWS_METRICS` below: the namespace, name and dimension names as the service's
  documentation lists them (the URL beside each), with dimension values that name this stack's own resources.

Route 53 publishes health-check metrics in us-east-1 only, so that widget alone reads another region.
"""
from __future__ import annotations

import json
import re
from typing import Any

import pytest

import pki
import quotas
from builders import canary as canary_builders
from builders.dashboard import ROUTE53_METRICS_REGION, DashboardInputs, dashboard_body
from contract import metrics
from contract.resources import Names
from localcloud.mockrun import StackRun, run_stack
from pki.claim import issue_claim
from tests.unit.conftest import PRIMARY_REF

STATES = "https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html"
IOT = "https://docs.aws.amazon.com/iot/latest/developerguide/metrics_dimensions.html"
SQS = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html"
DYNAMODB = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html"
ROUTE53 = "https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/monitoring-health-checks.html#view-health-checks-metrics-cw"
LAMBDA = "https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html"

#: (namespace, metric) -> (dimension names, where AWS documents it).
AWS_METRICS: dict[tuple[str, str], tuple[frozenset[str], str]] = {
    ("AWS/States", "ExecutionsSucceeded"): (frozenset({"StateMachineArn"}), STATES),
    ("AWS/States", "ExecutionsFailed"): (frozenset({"StateMachineArn"}), STATES),
    ("AWS/States", "ExecutionThrottled"): (frozenset({"StateMachineArn"}), STATES),
    ("AWS/States", "ExecutionsTimedOut"): (frozenset({"StateMachineArn"}), STATES),
    ("AWS/IoT", "TopicMatch"): (frozenset({"RuleName"}), f"{IOT}#rulemetrics"),
    ("AWS/IoT", "ParseError"): (frozenset({"RuleName"}), f"{IOT}#rulemetrics"),
    ("AWS/IoT", "RuleMessageThrottled"): (frozenset({"RuleName"}), f"{IOT}#rulemetrics"),
    ("AWS/IoT", "Failure"): (frozenset({"RuleName", "ActionType"}), f"{IOT}#rule-action-metrics"),
    ("AWS/IoT", "ErrorActionFailure"): (frozenset({"RuleName", "ActionType"}), f"{IOT}#rule-action-metrics"),
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"): (frozenset({"QueueName"}), SQS),
    ("AWS/SQS", "ApproximateAgeOfOldestMessage"): (frozenset({"QueueName"}), SQS),
    ("AWS/DynamoDB", "ReplicationLatency"): (frozenset({"TableName", "ReceivingRegion"}), DYNAMODB),
    ("AWS/Route53", "HealthCheckStatus"): (frozenset({"HealthCheckId"}), ROUTE53),
    ("AWS/Lambda", "Errors"): (frozenset({"FunctionName"}), LAMBDA),
    ("AWS/Lambda", "Throttles"): (frozenset({"FunctionName"}), LAMBDA),
}
SEARCH = re.compile(r"SEARCH\('\{(?P<schema>[^}]*)\} MetricName=\"(?P<metric>[^\"]+)\"(?P<filters>[^']*)'")
FILTER = re.compile(r'(\w+)="([^"]*)"')


def key(region: str) -> str:
    return f"arn:aws:kms:{region}:123456789012:key/mrk-" + "0" * 32


@pytest.fixture(scope="module")
def full_runs(tmp_path_factory) -> dict[str, StackRun]:
    """Both stacks with everything on: canaries (so health checks), fleet (the provider in the primary), the
    provisioning API, an alarm topic."""
    out = tmp_path_factory.mktemp("pki-dashboard")
    pki.init_pki(out, "iot.example.com")
    pki.issue_device_certificates(out, [canary_builders.thing_name(r) for r in ("eu-west-1", "us-west-2")])
    issue_claim(out)
    config = {"pkiDir": str(out), "provisioning": "fleet,jitr"}
    primary = run_stack("eu-west-1", config_overrides={
        **config, "provisioningSigningKeyArn": key("eu-west-1"),
        "alarmTopicArn": "arn:aws:sns:eu-west-1:123456789012:iot-alarms"})
    secondary = run_stack("us-west-2", config_overrides={**config, "provisioningSigningKeyArn": key("us-west-2")},
                          stack_outputs={PRIMARY_REF: primary.outputs})
    return {"eu-west-1": primary, "us-west-2": secondary}


@pytest.fixture(scope="module")
def jitp_run(pki_dir) -> StackRun:
    return run_stack("eu-west-1", config_overrides={"pkiDir": str(pki_dir), "provisioning": "jitp"})


def _runs(request) -> list[StackRun]:
    full = request.getfixturevalue("full_runs")
    return [request.getfixturevalue("primary_run"), request.getfixturevalue("secondary_run"), *full.values(),
            request.getfixturevalue("jitp_run")]


def body_of(run: StackRun) -> dict[str, Any]:
    (dashboard,) = run.of_type("aws:cloudwatch/dashboard:Dashboard")
    assert dashboard.inputs["dashboardName"] == Names("multi-region-iot").dashboard(run.stack)
    return json.loads(dashboard.inputs["dashboardBody"])


def graphed(body: dict[str, Any]) -> list[tuple[str, str, str, dict[str, str]]]:
    """(widget region, namespace, metric, dimensions) of every metric row and SEARCH expression."""
    found = []
    for widget in body["widgets"]:
        if widget["type"] != "metric":
            continue
        region = widget["properties"]["region"]
        for row in widget["properties"]["metrics"]:
            if isinstance(row, dict):
                match = SEARCH.match(row["expression"])
                assert match, row
                namespace, *names = match["schema"].split(",")
                filters = dict(FILTER.findall(match["filters"]))
                assert set(filters) <= set(names), row
                found.append((region, namespace, match["metric"], {n: filters.get(n, "*") for n in names}))
                continue
            values = [v for v in row if not isinstance(v, dict)]
            found.append((region, values[0], values[1], dict(zip(values[2::2], values[3::2], strict=True))))
    return found


def _resources(run: StackRun) -> dict[str, set[str]]:
    """What a dimension value may name: this stack's own resources."""
    names = lambda typ, prop="name": {r.inputs[prop] for r in run.of_type(typ)}
    regions = set(run.outputs.get("regions") or []) or {run.stack, "eu-west-1"}
    return {
        "StateMachineArn": {r.outputs["arn"] for r in run.of_type("aws:sfn/stateMachine:StateMachine")},
        "RuleName": names("aws:iot/topicRule:TopicRule"),
        "QueueName": names("aws:sqs/queue:Queue"),
        "FunctionName": names("aws:lambda/function:Function"),
        "TableName": {Names("multi-region-iot").inventory_table, Names("multi-region-iot").data_table,
                      Names("multi-region-iot").allow_list_table},
        "ReceivingRegion": (regions | {"us-west-2", "eu-west-1"}) - {run.stack},
        "HealthCheckId": {r.id for r in run.of_type("aws:route53/healthCheck:HealthCheck")},
        "ActionType": {"*"},
    }


def check(run_region: str, application: str, rows, resources: dict[str, set[str]] | None) -> None:
    ours = {m.name: m for m in metrics.CATALOG}
    apis = set(quotas.load(None).rates("iot", run_region))
    for region, namespace, name, dimensions in rows:
        where = f"{namespace} {name} {dimensions}"
        assert region == (ROUTE53_METRICS_REGION if namespace == "AWS/Route53" else run_region), where
        if namespace == metrics.namespace(application):
            metric = ours[name]
            assert tuple(dimensions) == metric.dimensions, where
            for dimension, value in dimensions.items():
                if dimension in metric.values:
                    assert value in metric.values[dimension], where
                elif dimension == "Api":
                    assert value in apis, where
                elif dimension == "Region":
                    assert value == run_region, where
        elif namespace == canary_builders.metric_namespace(application):
            assert (name, dimensions) == (canary_builders.METRIC_NAME, {canary_builders.DIMENSION: run_region}), where
        else:
            documented, _ = AWS_METRICS[(namespace, name)]
            assert set(dimensions) == documented, where
            if resources is not None:
                for dimension, value in dimensions.items():
                    assert value in resources[dimension], f"{where}: {value} is none of this stack's"


def test_every_widget_of_every_stack_graphs_an_emitted_or_documented_metric(request):
    for run in _runs(request):
        body = body_of(run)
        rows = graphed(body)
        assert len(rows) > 20
        check(run.stack, "multi-region-iot", rows, _resources(run))
        alarms = {r.outputs["arn"] for r in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
        (alarm_widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
        assert set(alarm_widget["properties"]["alarms"]) == alarms  # every alarm of the region, by state


def test_the_dashboards_cover_what_the_issue_asks_for(request):
    full = request.getfixturevalue("full_runs")
    primary, secondary = (graphed(body_of(full[r])) for r in ("eu-west-1", "us-west-2"))
    named = lambda rows: {(namespace, name) for _, namespace, name, _ in rows}
    for rows in (primary, secondary):
        assert {("AWS/States", "ExecutionsFailed"), ("AWS/States", "ExecutionThrottled"), ("AWS/IoT", "Failure"),
                ("AWS/IoT", "RuleMessageThrottled"), ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
                ("AWS/DynamoDB", "ReplicationLatency"), ("AWS/Route53", "HealthCheckStatus"),
                ("multi-region-iot/Canary", "Success")} <= named(rows)
        assert {m.name for m in metrics.CATALOG} - {n for _, _, n, _ in rows} <= {metrics.FLEET_CERTIFICATES.name}
    # The account's one certificate provider runs in the primary: only its dashboard graphs it.
    assert ("multi-region-iot", metrics.FLEET_CERTIFICATES.name) in named(primary) - named(secondary)


def test_without_a_canary_there_is_no_canary_or_health_check_widget(primary_run):
    rows = graphed(body_of(primary_run))
    assert not {ns for _, ns, _, _ in rows} & {"AWS/Route53", "multi-region-iot/Canary"}


def test_the_builder_alone_checks_out_with_everything_on():
    inputs = DashboardInputs(
        application="app", region="us-west-2", other_regions=["eu-west-1", "ap-southeast-2"],
        global_tables=["app-device-inventory", "app-data"], paced_apis=["iot:AttachPolicy", "iot:DescribeCertificate"],
        state_machines={"JITR": "arn:aws:states:us-west-2:1:stateMachine:app-jitr",
                        "JITP recorder": "arn:aws:states:us-west-2:1:stateMachine:app-jitp-recorder"},
        onboarding_machines=["JITR", "JITP recorder"], topic_rules=["app_jitr", "app_store_telemetry"],
        telemetry_rule="app_store_telemetry", dead_letter_queue="app-replication-dlq",
        telemetry_error_queue="app-telemetry-errors", functions=["app-certificate-inspector", "app-pacer"],
        provisioning_api=True, fleet_hook=True, certificate_provider=True, canary=True, health_check_id="hc-1",
        alarm_arns=["arn:aws:cloudwatch:us-west-2:1:alarm:app-canary"])
    body = dashboard_body(inputs)
    rows = graphed(body)
    check("us-west-2", "app", rows, None)
    assert {m.name for m in metrics.CATALOG} <= {name for _, _, name, _ in rows}
    lag = {(d["TableName"], d["ReceivingRegion"]) for _, _, name, d in rows if name == "ReplicationLatency"}
    assert lag == {(t, r) for t in inputs.global_tables for r in inputs.other_regions}
    widgets = body["widgets"]
    assert all(w["width"] + w["x"] <= 24 for w in widgets)
    assert len({(w["x"], w["y"]) for w in widgets}) == len(widgets)  # no two widgets on one spot
