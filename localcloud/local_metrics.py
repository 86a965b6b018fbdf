"""What CloudWatch computes in AWS, computed from the local cloud and put where AWS puts it: CloudWatch Logs events,
CloudWatch metrics of our own (embedded metric format) and the AWS services' metrics the dashboards graph.

moto stores what ``PutMetricData`` and ``PutLogEvents`` receive and serves ``GetMetricData``, ``ListMetrics``,
``FilterLogEvents``..., but no AWS service of moto publishes a metric, and nothing runs a Lambda's stdout into Logs.
:class:`MetricsCollector` does, from what the local cloud records, each time :meth:`~MetricsCollector.collect` runs
(``up --serve`` runs it every few seconds, holding the cloud's lock), writing straight into moto's backends as the
services do (not an API call of the account: the interception hub does not see it):

- every line an in-process Lambda printed (``inprocess.LOG_LINES``): an event of the function's log group
  ``/aws/lambda/<function>`` in its region, one stream per invocation, as Lambda sends its stdout to CloudWatch Logs;
- its embedded-metric-format lines (``contract.emf``): the metrics CloudWatch extracts from them, in our namespace,
  at the line's timestamp;
- every in-process invocation (``inprocess.INVOCATIONS``): ``AWS/Lambda`` ``Invocations`` and ``Errors`` by
  ``FunctionName``, one datapoint each, when collected;
- Step Functions executions (moto's): ``AWS/States`` ``ExecutionsStarted`` at the start,
  ``ExecutionsSucceeded``/``Failed``/``TimedOut``/``Aborted`` and ``ExecutionTime`` at the stop, by
  ``StateMachineArn``;
- SQS queues (moto's): ``AWS/SQS`` ``ApproximateNumberOfMessagesVisible``/``NotVisible`` and
  ``ApproximateAgeOfOldestMessage`` by ``QueueName``, one sample per collection;
- the canaries' health checks (``localcloud.canaries``): ``AWS/Route53`` ``HealthCheckStatus`` by ``HealthCheckId``,
  in us-east-1 as Route 53 publishes it, one sample per collection.

Not computed (their graphs stay empty locally, and ``python -m localcloud dashboard`` says so): ``AWS/IoT`` rule
metrics (the rules engine records failures without their region), ``AWS/DynamoDB`` ``ReplicationLatency``,
``AWS/Lambda`` ``Throttles``, ``AWS/States`` ``ExecutionThrottled``.
"""
from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

#: How often ``up --serve`` collects (CloudWatch's own resolution for AWS service metrics is a minute).
INTERVAL_S = 5.0
TERMINAL = {"SUCCEEDED": "ExecutionsSucceeded", "FAILED": "ExecutionsFailed", "TIMED_OUT": "ExecutionsTimedOut",
            "ABORTED": "ExecutionsAborted"}
NOT_COMPUTED = {("AWS/IoT", None), ("AWS/DynamoDB", "ReplicationLatency"), ("AWS/Lambda", "Throttles"),
                ("AWS/States", "ExecutionThrottled")}


def not_computed(namespace: str, metric: str) -> bool:
    """Whether the local cloud never computes ``namespace``/``metric`` (its graph is empty by design, not by fault)."""
    return (namespace, None) in NOT_COMPUTED or (namespace, metric) in NOT_COMPUTED


def _naive(moment: dt.datetime | None) -> dt.datetime:
    """moto keeps naive UTC datetimes."""
    if moment is None:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _from_ms(milliseconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(milliseconds / 1000, dt.UTC).replace(tzinfo=None)


def _status(execution: Any) -> str:
    status = getattr(execution, "exec_status", None) or getattr(execution, "status", "")
    return str(getattr(status, "value", status) or "")


@dataclass
class MetricsCollector:
    """Collects into moto's CloudWatch and CloudWatch Logs of every region of ``cloud`` (see the module docstring)."""

    cloud: Any
    gate: AbstractContextManager[Any] | None = None
    account_id: str = ""
    datapoints: int = 0
    log_events: int = 0
    _lines: int = 0
    _invocations: int = 0
    _started: set[str] = field(default_factory=set)
    _ended: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.account_id:
            from localcloud.compat.moto.core import DEFAULT_ACCOUNT_ID

            self.account_id = DEFAULT_ACCOUNT_ID

    # -- one pass -----------------------------------------------------------------------------------------------
    def collect(self) -> int:
        """Put what happened since the last pass; returns the datapoints put."""
        before = self.datapoints
        with self.gate if self.gate is not None else nullcontext():
            self._lambda_logs()
            self._lambda_invocations()
            for region in self.cloud.regions:
                self._executions(region)
                self._queues(region)
            self._health_checks()
        return self.datapoints - before

    def _put(self, region: str, namespace: str, name: str, value: float, dimensions: dict[str, str],
             unit: str = "Count", timestamp: dt.datetime | None = None) -> None:
        from localcloud.compat.moto.services import cloudwatch_backends

        cloudwatch_backends[self.account_id][region].put_metric_data(namespace, [{
            "MetricName": name, "Value": float(value), "Unit": unit, "Timestamp": _naive(timestamp),
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()]}])
        self.datapoints += 1

    def _lambda_logs(self) -> None:
        from contract import emf
        from localcloud.compat.moto.services import logs_backends
        from localcloud.services.awslambda import inprocess

        lines = inprocess.LOG_LINES[self._lines:]
        self._lines += len(lines)
        streams: dict[tuple[str, str, str], list[Any]] = {}
        for line in lines:
            streams.setdefault((line.region, line.function_name, line.request_id), []).append(line)
            for datum in emf.parse(line.text):
                self._put(line.region, datum.namespace, datum.name, datum.value, dict(datum.dimensions),
                          unit=datum.unit, timestamp=_from_ms(datum.timestamp_ms))
        for (region, function, request_id), found in streams.items():
            logs = logs_backends[self.account_id][region]
            group = f"/aws/lambda/{function}"
            if group not in logs.groups:
                logs.create_log_group(group, {})
            day = _from_ms(found[0].timestamp_ms).strftime("%Y/%m/%d")
            stream = f"{day}/[$LATEST]{request_id.replace('-', '')}"
            if stream not in logs.groups[group].streams:
                logs.create_log_stream(group, stream)
            logs.put_log_events(group, stream, [{"timestamp": line.timestamp_ms, "message": line.text}
                                                for line in found])
            self.log_events += len(found)

    def _lambda_invocations(self) -> None:
        from localcloud.services.awslambda import inprocess

        invocations = inprocess.INVOCATIONS[self._invocations:]
        self._invocations += len(invocations)
        for invocation in invocations:
            dimensions = {"FunctionName": invocation.function_name}
            self._put(invocation.region, "AWS/Lambda", "Invocations", 1, dimensions)
            self._put(invocation.region, "AWS/Lambda", "Errors", 1 if invocation.error_type else 0, dimensions)

    def _executions(self, region: str) -> None:
        from localcloud.compat.moto.stepfunctions import sfn_backend

        for machine in list(sfn_backend(self.account_id, region).state_machines):
            dimensions = {"StateMachineArn": machine.arn}
            for execution in list(machine.executions):
                arn = execution.execution_arn
                if arn not in self._started:
                    self._started.add(arn)
                    self._put(region, "AWS/States", "ExecutionsStarted", 1, dimensions, timestamp=execution.start_date)
                status = _status(execution)
                if status in TERMINAL and arn not in self._ended:
                    self._ended.add(arn)
                    stopped = getattr(execution, "stop_date", None) or execution.start_date
                    self._put(region, "AWS/States", TERMINAL[status], 1, dimensions, timestamp=stopped)
                    took = (_naive(stopped) - _naive(execution.start_date)).total_seconds() * 1000
                    self._put(region, "AWS/States", "ExecutionTime", max(took, 0.0), dimensions,
                              unit="Milliseconds", timestamp=stopped)

    def _queues(self, region: str) -> None:
        import time

        from localcloud.compat.moto.services import sqs_backends

        now_ms = int(time.time() * 1000)
        for name, queue in list(sqs_backends[self.account_id][region].queues.items()):
            dimensions = {"QueueName": name}
            self._put(region, "AWS/SQS", "ApproximateNumberOfMessagesVisible", queue.approximate_number_of_messages,
                      dimensions)
            self._put(region, "AWS/SQS", "ApproximateNumberOfMessagesNotVisible",
                      queue.approximate_number_of_messages_not_visible, dimensions)
            sent = [m.sent_timestamp for m in list(queue._messages) if m.sent_timestamp]
            self._put(region, "AWS/SQS", "ApproximateAgeOfOldestMessage",
                      (now_ms - min(sent)) / 1000 if sent else 0, dimensions, unit="Seconds")

    def _health_checks(self) -> None:
        state = getattr(self.cloud, "__dict__", {}).get("_canary_state") or {}
        for region, healthy in dict(state.get("healthy") or {}).items():
            health_check = self.cloud.outputs(region).get("canaryHealthCheckId")
            if health_check:
                self._put("us-east-1", "AWS/Route53", "HealthCheckStatus", 1 if healthy else 0,
                          {"HealthCheckId": str(health_check)}, unit="None")

    # -- in the background ----------------------------------------------------------------------------------------
    @contextmanager
    def running(self, interval_s: float = INTERVAL_S) -> Iterator[MetricsCollector]:
        """Collect every ``interval_s`` in a daemon thread while the block runs (and once at its start)."""
        stop = threading.Event()

        def loop() -> None:
            while True:
                try:
                    self.collect()
                except Exception as error:  # noqa: BLE001 - keep collecting; the failure is kept
                    self.errors.append(f"{type(error).__name__}: {error}")
                if stop.wait(interval_s):
                    return

        thread = threading.Thread(target=loop, name="localcloud-metrics", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=10)
