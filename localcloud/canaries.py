"""Run every region's canary, then do what CloudWatch and Route 53 do with its metric: the alarm, the health check,
the record's health (``cloud.run_canaries()``).

* **Canary**: the deployed function's own code (``functions/canary/handler.run``) with the function's environment.
  With served MQTT endpoints it probes the region's loopback endpoint over MQTT/TLS 1.3 (SNI = the domain), as the
  Lambda probes the region's IoT data endpoint in AWS; without them the probe goes through the in-process IoT Core
  (connect, subscribe, publish, receive checked by policy). moto calls go through the endpoints' gate; the probe
  itself runs outside it (the broker needs the gate to answer).
* **Alarm**: moto stores alarms but never evaluates them. Each ``run_canaries()`` stands for one period of the
  alarm (one minute: no clock passes in the local cloud): the datapoints put since the previous run are that
  period's, none at all is missing data, handled as the alarm's ``TreatMissingData`` says (``breaching`` for the
  canary). The alarm is in ALARM while at least ``DatapointsToAlarm`` of the last ``EvaluationPeriods`` periods
  breach (CloudWatch's "M out of N"), so one failed run does not move DNS. The state is set in moto
  (``set_alarm_state``).
* **Health check**: a CLOUDWATCH_METRIC health check is healthy while its alarm is OK, unhealthy in ALARM, and takes
  its ``InsufficientDataHealthStatus`` otherwise
  (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/health-checks-creating-values.html#health-checks-creating-values-cloudwatch).
  *What* Route 53 reads is not documented (register row ``route53.alarm-health-check-reading``, switch
  ``Assumptions.route53_alarm_reading``): by default (``data_stream``, the worse) the health check evaluates the
  metric itself with only what Route 53 records of the alarm (EvaluationPeriods, Threshold, ComparisonOperator,
  Period, Statistic): ALARM when every one of the last EvaluationPeriods periods breaches, and a period without a
  datapoint is insufficient data, whatever DatapointsToAlarm and TreatMissingData say; ``alarm_state`` reads the
  alarm's own state. The record carrying it is healthy or not for the local DNS answer
  (``MqttEndpoints.set_record_health``).
* **A run that does not happen** (a throttled invocation, a skipped schedule): ``run_canaries(missed={region})``
  evaluates that region's period with no datapoint.
"""

from __future__ import annotations

import datetime
import operator
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any
from collections.abc import Collection

import boto3

from functions.canary import handler as canary_handler
from functions.canary.probe import Credentials, Outcome, Target

_COMPARE = {"LessThanThreshold": operator.lt, "LessThanOrEqualToThreshold": operator.le,
            "GreaterThanThreshold": operator.gt, "GreaterThanOrEqualToThreshold": operator.ge}


@dataclass(frozen=True)
class CanaryReport:
    region: str
    success: bool
    step: str
    detail: str
    alarm_state: str
    healthy: bool


class _Gated:
    """A boto3 client whose every call holds the endpoints' gate."""

    def __init__(self, client: Any, gate: Any) -> None:
        self._client, self._gate = client, gate

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._gate:
                return method(*args, **kwargs)
        return call


def alarm_state(alarm: dict, periods: list[list[float]]) -> str:
    """The state of a metric alarm given the datapoints of each period so far, oldest first (pure).

    The last ``EvaluationPeriods`` periods count. A period breaches when its statistic crosses the threshold, or when
    it has no datapoint and ``TreatMissingData`` is ``breaching`` (``notBreaching``: it does not; ``missing`` or
    ``ignore``: it is left out). ALARM when at least ``DatapointsToAlarm`` (default: all of them) breach, OK
    otherwise, INSUFFICIENT_DATA when no period counts
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation.html)."""
    periods_to_evaluate = int(alarm.get("EvaluationPeriods") or 1)
    needed = int(alarm.get("DatapointsToAlarm") or periods_to_evaluate)
    treat_missing = alarm.get("TreatMissingData", "missing")
    statistic = {"Minimum": min, "Maximum": max}.get(alarm.get("Statistic", "Average"), lambda v: sum(v) / len(v))
    counted = breaching = 0
    for values in periods[-periods_to_evaluate:]:
        if not values:
            if treat_missing in ("breaching", "notBreaching"):
                counted += 1
                breaching += treat_missing == "breaching"
            continue
        counted += 1
        breaching += bool(_COMPARE[alarm["ComparisonOperator"]](statistic(values), alarm["Threshold"]))
    if not counted:
        return "INSUFFICIENT_DATA"
    return "ALARM" if breaching >= needed else "OK"


def data_stream_state(alarm: dict, periods: list[list[float]]) -> str:
    """The state a health check reading the alarm's data stream would see (pure): only EvaluationPeriods, Threshold,
    ComparisonOperator and Statistic count (what Route 53 records of the alarm); ALARM when each of the last
    EvaluationPeriods periods breaches, INSUFFICIENT_DATA when one of them has no datapoint, OK otherwise. Periods
    before the local cloud's first run are not counted (in AWS, under this reading, the region is out of DNS for its
    first EvaluationPeriods minutes)."""
    periods_to_evaluate = int(alarm.get("EvaluationPeriods") or 1)
    statistic = {"Minimum": min, "Maximum": max}.get(alarm.get("Statistic", "Average"), lambda v: sum(v) / len(v))
    window = periods[-periods_to_evaluate:]
    if not window or any(not values for values in window):
        return "INSUFFICIENT_DATA"
    breaching = [bool(_COMPARE[alarm["ComparisonOperator"]](statistic(v), alarm["Threshold"])) for v in window]
    return "ALARM" if len(window) == periods_to_evaluate and all(breaching) else "OK"


def health_of(state: str, insufficient_data: str, last_known: bool) -> bool:
    """A CLOUDWATCH_METRIC health check's status for its alarm's state (pure)."""
    if state == "OK":
        return True
    if state == "ALARM":
        return False
    return {"Healthy": True, "Unhealthy": False}.get(insufficient_data, last_known)


def _in_process_probe(core: Any, region: str):
    """A probe through the in-process IoT Core (no sockets): the same decisions the served endpoints ask for."""
    def probe(target: Target, credentials: Credentials, topic: str) -> Outcome:
        from localcloud.services.iot.core import ConnectionRefused, PublishRefused

        try:
            connection = core.connect(region, credentials.certificate_pem, credentials.client_id)
        except ConnectionRefused as refused:
            return Outcome(False, "connect", refused.reason, 0.0)
        try:
            core.subscribe(connection, topic)
            core.publish(connection, topic, b'{"canary": true}')
        except PublishRefused as refused:
            return Outcome(False, "publish", str(refused), 0.0)
        if not core.may_receive(connection, topic):
            return Outcome(False, "receive", f"iot:Receive on {topic} refused", 0.0)
        return Outcome(True, "done", "published and received its own message (in-process IoT Core)", 0.0)
    return probe


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)  # moto keeps naive UTC timestamps


def _values_since(region: str, alarm: dict, since: datetime.datetime) -> list[float]:
    """The alarm metric's raw datapoints put after ``since``, read from moto's backend (GetMetricStatistics rounds
    StartTime to the second, too coarse for evaluations a few milliseconds apart)."""
    from localcloud.compat.moto.core import DEFAULT_ACCOUNT_ID as DEFAULT_ACCOUNT
    from localcloud.compat.moto.services import cloudwatch_backends

    wanted = {(d["Name"], d["Value"]) for d in alarm.get("Dimensions", [])}
    return [datum.value for datum in cloudwatch_backends[DEFAULT_ACCOUNT][region].metric_data
            if datum.namespace == alarm["Namespace"] and datum.name == alarm["MetricName"]
            and {(d.name, d.value) for d in datum.dimensions} == wanted and datum.timestamp >= since]


def _insufficient_data_status(cloud: Any, region: str, health_check_id: str) -> str:
    """The health check's InsufficientDataHealthStatus as deployed. moto's GetHealthCheck drops it (and the
    AlarmIdentifier), so it is read from what the program asked for; Route 53's default is LastKnownStatus."""
    for deployment in getattr(cloud, "deployments", {}).values():
        if deployment.stack.region != region:
            continue
        for resource in deployment.run.of_type("aws:route53/healthCheck:HealthCheck"):
            if resource.id == health_check_id:
                return resource.inputs.get("insufficientDataHealthStatus") or "LastKnownStatus"
    return "LastKnownStatus"


def run_canaries(cloud: Any, endpoints: Any = None, missed: Collection[str] = ()) -> dict[str, CanaryReport]:
    """Run each deployed canary once (but those of ``missed``: their minute has no datapoint), evaluate its alarm and
    health check; update the endpoints' DNS answer."""
    gate = endpoints.gate if endpoints is not None else nullcontext()
    reading = getattr(getattr(cloud, "assumptions", None), "route53_alarm_reading", "data_stream")
    reports: dict[str, CanaryReport] = {}
    state = cloud.__dict__.setdefault("_canary_state", {"since": {}, "healthy": {}, "periods": {}})
    for region in cloud.regions:
        outputs = cloud.outputs(region)
        if "canaryAlarmName" not in outputs:
            continue
        with gate:
            lambda_client = boto3.client("lambda", region_name=region)
            names = [f["FunctionName"] for f in lambda_client.list_functions()["Functions"]
                     if f["FunctionName"].endswith("-canary")]
            env = dict(lambda_client.get_function_configuration(FunctionName=names[0])["Environment"]["Variables"])
            secrets = boto3.client("secretsmanager", region_name=region)
            cloudwatch = boto3.client("cloudwatch", region_name=region)
        probe = canary_handler.probe
        if endpoints is not None:
            env.update(ENDPOINT_HOST="127.0.0.1", ENDPOINT_PORT=str(endpoints.port(region)))
        else:
            probe = _in_process_probe(cloud.engines.iot, region)
        started = _utcnow()
        if region in missed:
            result = {"success": False, "step": "missed", "detail": "the canary did not run this minute"}
        else:
            result = canary_handler.run(env, secrets=_Gated(secrets, gate), cloudwatch=_Gated(cloudwatch, gate),
                                        probe=probe)
        with gate:
            alarm = cloudwatch.describe_alarms(AlarmNames=[outputs["canaryAlarmName"]])["MetricAlarms"][0]
            since = state["since"].get(region, started)
            periods = state["periods"].setdefault(region, [])
            periods.append(_values_since(region, alarm, since))  # this run is one period of the alarm
            del periods[:-int(alarm.get("EvaluationPeriods") or 1)]
            state["since"][region] = _utcnow()
            new_state = alarm_state(alarm, periods)
            cloudwatch.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue=new_state,
                                       StateReason=f"local cloud: canary {result['step']}: {result['detail']}")
        read = new_state if reading == "alarm_state" else data_stream_state(alarm, periods)
        healthy = health_of(read, _insufficient_data_status(cloud, region, outputs["canaryHealthCheckId"]),
                            state["healthy"].get(region, True))
        state["healthy"][region] = healthy
        if endpoints is not None:
            endpoints.set_record_health(region, healthy)
        reports[region] = CanaryReport(region, bool(result["success"]), result["step"], result["detail"], new_state,
                                       healthy)
    return reports
