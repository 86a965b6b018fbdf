"""CloudWatch: log groups, metric alarms and dashboards."""

from __future__ import annotations

from typing import Any

import pulumi

from .common import client, physical_name
from .registry import DeployContext, Result, UnsupportedResource, creates


@creates("aws:cloudwatch/logGroup:LogGroup")
def log_group(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
              region: str) -> Result:
    name = physical_name(args, inputs, limit=512)
    logs = client("logs", region)
    logs.create_log_group(logGroupName=name)
    if inputs.get("retentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(inputs["retentionInDays"]))
    arn = f"arn:aws:logs:{region}:{ctx.account_id}:log-group:{name}"
    return name, {**inputs, "name": name, "arn": arn}


@creates("aws:cloudwatch/metricAlarm:MetricAlarm")
def metric_alarm(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                 region: str) -> Result:
    name = physical_name(args, inputs, limit=255)
    if inputs.get("metricQueries"):
        raise UnsupportedResource(f"aws:cloudwatch/metricAlarm:MetricAlarm {name!r}: metric math alarms are not "
                                  "emulated")
    request: dict[str, Any] = {
        "AlarmName": name, "Namespace": inputs["namespace"], "MetricName": inputs["metricName"],
        "Statistic": inputs["statistic"], "Period": int(inputs["period"]),
        "EvaluationPeriods": int(inputs["evaluationPeriods"]), "Threshold": float(inputs["threshold"]),
        "ComparisonOperator": inputs["comparisonOperator"],
        "Dimensions": [{"Name": k, "Value": v} for k, v in (inputs.get("dimensions") or {}).items()],
        "AlarmActions": list(inputs.get("alarmActions") or []), "OKActions": list(inputs.get("okActions") or []),
    }
    for key, member in (("alarmDescription", "AlarmDescription"), ("treatMissingData", "TreatMissingData")):
        if inputs.get(key) is not None:
            request[member] = inputs[key]
    if inputs.get("datapointsToAlarm") is not None:
        request["DatapointsToAlarm"] = int(inputs["datapointsToAlarm"])
    cloudwatch = client("cloudwatch", region)
    cloudwatch.put_metric_alarm(**request)
    arn = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
    return name, {**inputs, "name": name, "arn": arn}


@creates("aws:cloudwatch/dashboard:Dashboard")
def dashboard(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
              region: str) -> Result:
    """PutDashboard; Pulumi's id is the dashboard's name (``dashboardName`` is required, no auto-name)."""
    name = inputs["dashboardName"]
    cloudwatch = client("cloudwatch", region)
    cloudwatch.put_dashboard(DashboardName=name, DashboardBody=inputs["dashboardBody"])
    (entry,) = [d for d in cloudwatch.list_dashboards(DashboardNamePrefix=name)["DashboardEntries"]
                if d["DashboardName"] == name]
    return name, {**inputs, "dashboardArn": entry["DashboardArn"]}
