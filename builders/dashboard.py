"""One region's CloudWatch dashboard, as the body PutDashboard takes (a dict; the component serialises it).

Body structure: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
(a ``widgets`` array; a metric widget's ``properties.metrics`` holds ``[Namespace, MetricName, Dim1Name, Dim1Value,
..., {options}]`` rows or ``{"expression": ...}`` rows; each widget names its ``region``). Dashboards are global in an
account ("All dashboards in your account are global, not region-specific": AWS::CloudWatch::Dashboard), so the name
carries the region (``Names.dashboard``) and every widget its region.

Every metric graphed is one our code emits (``contract/metrics.py``; the canary's ``<application>/Canary``
``Success``) or one an AWS service documents (tests/unit/test_dashboard.py holds the table of AWS metrics with their
documentation and checks each widget against it). Where a dimension's values are not ours to know (the ``ActionType``
AWS IoT gives a rule action's metrics) a ``SEARCH`` expression over the documented dimension names finds them.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from builders import canary as canary_builders
from contract import metrics

WIDTH, HEIGHT, COLUMNS = 12, 6, 2
#: Route 53 publishes health check metrics in US East (N. Virginia) only, whatever the record's region
#: (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/monitoring-health-checks.html#view-health-checks-metrics-cw).
ROUTE53_METRICS_REGION = "us-east-1"
PERIOD = 300


@dataclass(frozen=True)
class DashboardInputs:
    """What one region runs, by physical name (components/monitoring.py resolves them from the components)."""

    application: str
    region: str
    other_regions: Sequence[str]  # replication lag towards each
    global_tables: Sequence[str]  # the global tables' names (replicated to every region)
    paced_apis: Sequence[str]  # the APIs the pacer queues (``iot:AttachPolicy``, ...)
    state_machines: Mapping[str, str]  # label -> ARN of every state machine of the region
    onboarding_machines: Sequence[str]  # labels of the machines whose success is a device onboarded (JITR, JITP)
    topic_rules: Sequence[str]  # every IoT topic rule of the region
    telemetry_rule: str
    dead_letter_queue: str
    telemetry_error_queue: str
    functions: Sequence[str]  # every Lambda function of the region
    inspector: bool = True  # the JITR certificate inspector (Registrations, RegistrationRefusals)
    provisioning_api: bool = False
    fleet_hook: bool = False
    certificate_provider: bool = False  # the account's fleet certificate provider runs in this region
    canary: bool = False
    health_check_id: str | None = None  # the canary's Route 53 health check
    alarm_arns: Sequence[str] = field(default_factory=tuple)  # the region's alarms, shown by state


def _row(namespace: str, name: str, dimensions: Mapping[str, str], **options: Any) -> list[Any]:
    row: list[Any] = [namespace, name]
    for key, value in dimensions.items():
        row += [key, value]
    return [*row, options] if options else row


def _ours(metric: metrics.Metric, application: str, dimensions: Mapping[str, str], **options: Any) -> list[Any]:
    if tuple(dimensions) != metric.dimensions:
        raise ValueError(f"{metric.name} has dimensions {metric.dimensions}, not {tuple(dimensions)}")
    return _row(metrics.namespace(application), metric.name, dimensions, **options)


def search(namespace: str, dimension_names: Sequence[str], metric_name: str, filters: Mapping[str, str],
           statistic: str, row_id: str, label: str) -> dict[str, Any]:
    """A ``SEARCH`` row: every metric of ``namespace`` with exactly ``dimension_names``, named ``metric_name``, whose
    dimensions match ``filters`` (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/search-expression-syntax.html)."""
    schema = ",".join([namespace, *dimension_names])
    terms = " ".join([f'MetricName="{metric_name}"', *(f'{k}="{v}"' for k, v in filters.items())])
    return {"expression": f"SEARCH('{{{schema}}} {terms}', '{statistic}', {PERIOD})", "id": row_id, "label": label}


def _widget(title: str, region: str, rows: list[Any], *, stat: str = "Sum", period: int = PERIOD,
            **extra: Any) -> dict[str, Any]:
    return {"type": "metric", "properties": {"title": title, "region": region, "view": "timeSeries",
                                             "stacked": False, "stat": stat, "period": period, "metrics": rows,
                                             **extra}}


def dashboard_body(inputs: DashboardInputs) -> dict[str, Any]:
    """The dashboard of ``inputs.region``: onboarding, refusals, executions, rules, pacing, dead letters, replication,
    telemetry, canary and health check, provisioning, functions, alarms."""
    region, app = inputs.region, inputs.application
    widgets: list[dict[str, Any]] = []

    onboarding = [_row("AWS/States", "ExecutionsSucceeded", {"StateMachineArn": inputs.state_machines[label]},
                       label=f"{label} succeeded") for label in inputs.onboarding_machines]
    if inputs.inspector:
        onboarding += [_ours(metrics.REGISTRATIONS, app, {"Verdict": v}, label=f"registered {v}")
                       for v in metrics.REGISTRATION_VERDICTS]
    if inputs.provisioning_api:
        onboarding.append(_ours(metrics.PROVISIONING_REQUESTS, app, {"Outcome": "Provisioned"},
                                label="provisioning API: provisioned"))
    if inputs.fleet_hook:
        onboarding.append(_ours(metrics.FLEET_HOOK_VERDICTS, app, {"Verdict": "Admitted"}, label="fleet: admitted"))
    widgets.append(_widget("Onboarding rate and verdicts", region, onboarding))

    if inputs.inspector:
        widgets.append(_widget("JITR refusals by reason", region, [
            _ours(metrics.REFUSALS, app, {"Reason": reason}, label=reason) for reason in metrics.REFUSAL_REASONS]))

    widgets.append(_widget("Step Functions executions failed, throttled, timed out", region, [
        _row("AWS/States", metric, {"StateMachineArn": arn}, label=f"{label} {metric}")
        for label, arn in inputs.state_machines.items()
        for metric in ("ExecutionsFailed", "ExecutionThrottled", "ExecutionsTimedOut")]))

    rule_rows: list[Any] = []
    for index, rule in enumerate(inputs.topic_rules):
        rule_rows += [
            _row("AWS/IoT", "RuleMessageThrottled", {"RuleName": rule}, label=f"{rule} throttled"),
            _row("AWS/IoT", "ParseError", {"RuleName": rule}, label=f"{rule} parse errors"),
            search("AWS/IoT", ("ActionType", "RuleName"), "Failure", {"RuleName": rule}, "Sum", f"failure{index}",
                   f"{rule} action failures"),
            search("AWS/IoT", ("ActionType", "RuleName"), "ErrorActionFailure", {"RuleName": rule}, "Sum",
                   f"errorfailure{index}", f"{rule} error action failures"),
        ]
    widgets.append(_widget("IoT rule action failures and throttling", region, rule_rows))

    paced = sorted(inputs.paced_apis)
    throttled = [_ours(metrics.PACER_SLOTS, app, {"Api": api}, label=f"{api} throttled, paced") for api in paced]
    throttled += [_ours(metrics.PACER_REFUSALS, app, {"Api": api, "Reason": reason}, label=f"{api} {reason}")
                  for api in paced for reason in metrics.PACER_REFUSAL_REASONS]
    throttled += [_row("AWS/Lambda", "Throttles", {"FunctionName": f}, label=f"{f} throttled") for f in inputs.functions]
    widgets.append(_widget("Throttled calls: paced AWS calls by API, Lambda throttles", region, throttled))
    widgets.append(_widget("Pacer backlog: longest wait for a slot (s)", region, [
        _ours(metrics.PACER_WAIT, app, {"Api": api}, label=api) for api in paced], stat="Maximum"))

    widgets.append(_widget("Dead letters (replication and decommission)", region, [
        _row("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": inputs.dead_letter_queue},
             label="messages waiting"),
        _row("AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": inputs.dead_letter_queue},
             label="oldest (s)", yAxis="right"),
    ], stat="Maximum"))

    if inputs.other_regions and inputs.global_tables:
        widgets.append(_widget(f"Replication lag from {region} (ms)", region, [
            _row("AWS/DynamoDB", "ReplicationLatency", {"TableName": table, "ReceivingRegion": other},
                 label=f"{table} to {other}")
            for table in inputs.global_tables for other in inputs.other_regions], stat="Average"))

    widgets.append(_widget("Telemetry errors", region, [
        _row("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": inputs.telemetry_error_queue},
             label="messages not stored", stat="Maximum"),
        _row("AWS/IoT", "TopicMatch", {"RuleName": inputs.telemetry_rule}, label="messages received", yAxis="right"),
        search("AWS/IoT", ("ActionType", "RuleName"), "Failure", {"RuleName": inputs.telemetry_rule}, "Sum",
               "telemetryfailure", "store failures"),
    ]))

    if inputs.canary:
        widgets.append(_widget("Canary", region, [
            _row(canary_builders.metric_namespace(app), canary_builders.METRIC_NAME,
                 {canary_builders.DIMENSION: region}, label="probe succeeded (1) / failed (0)", stat="Minimum"),
            _ours(metrics.CANARY_ROUND_TRIP, app, {"Region": region}, label="round trip (ms)", stat="Average",
                  yAxis="right"),
        ], period=60))
    if inputs.health_check_id:
        widgets.append(_widget(f"Route 53 health check of {region} (its metrics are in {ROUTE53_METRICS_REGION})",
                               ROUTE53_METRICS_REGION, [
            _row("AWS/Route53", "HealthCheckStatus", {"HealthCheckId": inputs.health_check_id},
                 label="healthy (1) / unhealthy (0)")], stat="Minimum", period=60))

    if inputs.provisioning_api:
        widgets.append(_widget("Provisioning API outcomes", region, [
            _ours(metrics.PROVISIONING_REQUESTS, app, {"Outcome": o}, label=o) for o in metrics.PROVISIONING_OUTCOMES]))
    if inputs.fleet_hook:
        fleet_rows = [_ours(metrics.FLEET_HOOK_VERDICTS, app, {"Verdict": v}, label=f"hook {v}")
                      for v in metrics.HOOK_VERDICTS]
        if inputs.certificate_provider:
            fleet_rows += [_ours(metrics.FLEET_CERTIFICATES, app, {"Verdict": v}, label=f"certificate {v}")
                           for v in metrics.CERTIFICATE_VERDICTS]
        widgets.append(_widget("Fleet provisioning verdicts", region, fleet_rows))

    widgets.append(_widget("Function errors", region, [
        _row("AWS/Lambda", "Errors", {"FunctionName": f}, label=f) for f in inputs.functions]))

    laid = [{**widget, "x": (i % COLUMNS) * WIDTH, "y": (i // COLUMNS) * HEIGHT, "width": WIDTH, "height": HEIGHT}
            for i, widget in enumerate(widgets)]
    if inputs.alarm_arns:
        laid.append({"type": "alarm", "x": 0, "y": (len(widgets) + 1) // COLUMNS * HEIGHT, "width": COLUMNS * WIDTH,
                     "height": 3, "properties": {"title": f"Alarms of {region}", "alarms": list(inputs.alarm_arns)}})
    return {"start": "-PT6H", "periodOverride": "inherit", "widgets": laid}
