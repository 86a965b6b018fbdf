"""The region's CloudWatch dashboard (``builders/dashboard.py``) and the alarm no other component owns: replication lag
of the device inventory towards every other region (docs/design.md, "Metrics, logs and dashboards").

The other alarms live beside what they watch (dead letters: ``components/replication.py``; telemetry errors:
``components/telemetry.py``; JITR failures: ``components/registration.py``; the canary: ``components/canary.py``); all
notify the stack's ``alarmTopicArn`` when it is set, and the dashboard shows every one's state.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from builders.dashboard import DashboardInputs, dashboard_body
from components.context import RegionContext

#: AWS/DynamoDB ReplicationLatency ("emitted for every source- and destination-Region pair", milliseconds:
#: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/V2globaltables_monitoring.html) averaged over
#: 5 minutes, above a minute for 3 periods in a row: a device onboarded here is not usable in the other region for
#: that long ("not replicated yet" in `ops trace`), which someone should look at; no writes means no data, not a breach.
REPLICATION_LAG_THRESHOLD_MS = 60_000
REPLICATION_LAG_PERIOD_SECONDS = 300
REPLICATION_LAG_PERIODS = 3


@dataclass(frozen=True)
class MonitoringArgs:
    context: RegionContext
    other_regions: Sequence[str]
    inventory_table: str  # its replication lag is alarmed
    global_tables: Sequence[str]  # graphed
    paced_apis: Sequence[str]
    state_machines: Mapping[str, pulumi.Input[str]]  # label -> ARN
    onboarding_machines: Sequence[str]  # labels of state_machines
    topic_rules: Sequence[pulumi.Input[str]]
    telemetry_rule: pulumi.Input[str]
    dead_letter_queue: pulumi.Input[str]
    telemetry_error_queue: pulumi.Input[str]
    functions: Sequence[pulumi.Input[str]]
    alarms: Sequence[aws.cloudwatch.MetricAlarm] = field(default_factory=tuple)  # the other components' alarms
    inspector: bool = True
    provisioning_api: bool = False
    fleet_hook: bool = False
    certificate_provider: bool = False
    canary: bool = False
    health_check_id: pulumi.Input[str] | None = None


class Monitoring(pulumi.ComponentResource):
    dashboard: aws.cloudwatch.Dashboard
    replication_lag_alarms: list[aws.cloudwatch.MetricAlarm]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("iotmr:regional:Monitoring", name, None, opts)
        ctx = args.context
        n, region = ctx.names, ctx.region
        child = pulumi.ResourceOptions(parent=self)
        actions = [ctx.alarm_topic_arn] if ctx.alarm_topic_arn else []

        self.replication_lag_alarms = [aws.cloudwatch.MetricAlarm(
            f"{name}-replication-lag-{other}",
            name=n.replication_lag_alarm(other),
            alarm_description=(f"Inventory changes written in {region} take over {REPLICATION_LAG_THRESHOLD_MS // 1000} s "
                               f"to reach {other} (DynamoDB global table replication): devices onboarded here are "
                               f"refused there meanwhile; see `python -m ops status` and the {n.dashboard(region)} "
                               "dashboard."),
            namespace="AWS/DynamoDB", metric_name="ReplicationLatency",
            dimensions={"TableName": args.inventory_table, "ReceivingRegion": other},
            statistic="Average", period=REPLICATION_LAG_PERIOD_SECONDS, evaluation_periods=REPLICATION_LAG_PERIODS,
            datapoints_to_alarm=REPLICATION_LAG_PERIODS, threshold=REPLICATION_LAG_THRESHOLD_MS,
            comparison_operator="GreaterThanThreshold", treat_missing_data="notBreaching",
            alarm_actions=actions, ok_actions=actions, opts=child) for other in args.other_regions]

        alarms = [*args.alarms, *self.replication_lag_alarms]
        machine_labels = list(args.state_machines)
        resolved = pulumi.Output.all(
            machines=pulumi.Output.all(*args.state_machines.values()),
            rules=pulumi.Output.all(*args.topic_rules),
            telemetry_rule=args.telemetry_rule, dead_letter_queue=args.dead_letter_queue,
            telemetry_error_queue=args.telemetry_error_queue,
            functions=pulumi.Output.all(*args.functions),
            alarm_arns=pulumi.Output.all(*(alarm.arn for alarm in alarms)),
            health_check_id=args.health_check_id or "")

        def body(v: dict) -> str:
            return json.dumps(dashboard_body(DashboardInputs(
                application=n.application, region=region, other_regions=list(args.other_regions),
                global_tables=list(args.global_tables), paced_apis=list(args.paced_apis),
                state_machines=dict(zip(machine_labels, v["machines"], strict=True)),
                onboarding_machines=list(args.onboarding_machines), topic_rules=list(v["rules"]),
                telemetry_rule=v["telemetry_rule"], dead_letter_queue=v["dead_letter_queue"],
                telemetry_error_queue=v["telemetry_error_queue"], functions=list(v["functions"]),
                inspector=args.inspector, provisioning_api=args.provisioning_api, fleet_hook=args.fleet_hook,
                certificate_provider=args.certificate_provider, canary=args.canary,
                health_check_id=v["health_check_id"] or None, alarm_arns=list(v["alarm_arns"]))), sort_keys=True)

        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard", dashboard_name=n.dashboard(region), dashboard_body=resolved.apply(body), opts=child)
        self.register_outputs({"dashboardName": self.dashboard.dashboard_name,
                               "replicationLagAlarms": [a.name for a in self.replication_lag_alarms]})
