"""The canary Lambda: probe this region's custom-domain MQTT endpoint and put the result as a metric.

What: every scheduled run reads the canary's private key from Secrets Manager (decrypted with its KMS key; only
this function's role may read it), runs :func:`probe.probe` against the region's own endpoint with SNI = the
domain, and puts ``Success`` = 1 or 0 (dimension ``Region``) in ``<application>/Canary``.
Why: an alarm on that metric (missing data = breaching) feeds a Route 53 health check on the region's DNS
record, so devices stop being sent to a region whose endpoint fails (docs/design.md, "Health-checked failover").

A failed run puts a 0, never nothing: whatever fails (the key cannot be read, the probe raises, a call hangs) ends in
``Success`` = 0 with the step ``error``, because Route 53 may read a missing minute as insufficient data rather than
as the alarm's ``TreatMissingData`` says (register row route53.alarm-health-check-reading). The SDK calls have short
timeouts and one retry so that the key read (at most ~8 s), the probe (8 s) and the metric (at most ~8 s) end inside
the function's 30 s timeout: a run Lambda kills would leave the minute empty.

Environment: ``ENDPOINT_HOST``, ``ENDPOINT_PORT``, ``SERVER_NAME``, ``CLIENT_ID``, ``TOPIC``, ``CERTIFICATE_PEM``,
``TRUST_PEM``, ``KEY_SECRET_ARN``, ``METRIC_NAMESPACE``, ``METRIC_REGION``; ``METRICS_NAMESPACE`` (every function's:
``CanaryRoundTrip`` of contract/metrics.py, written as an embedded-metric-format log line).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from typing import Any
from collections.abc import Callable, Mapping

import boto3
from botocore.config import Config

from contract import metrics

from .probe import Credentials, Outcome, Target, probe

METRIC_NAME = "Success"
#: Per SDK call: 2 s to connect, 2 s to read, two attempts (so at most ~8 s), well inside the 30 s function timeout
#: together with the probe's 8 s.
SDK_CONFIG = Config(connect_timeout=2, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 2})


def handler(event: Any, context: Any) -> dict:
    result = run(os.environ, secrets=boto3.client("secretsmanager", config=SDK_CONFIG),
                 cloudwatch=boto3.client("cloudwatch", config=SDK_CONFIG))
    record(result, os.environ)
    return result


def record(result: Mapping[str, Any], env: Mapping[str, str]) -> None:
    """The run's log record; for a successful probe also ``CanaryRoundTrip`` (contract.metrics), the probe's time end
    to end (a failed probe's time says nothing about the endpoint: ``Success`` 0 already counts it)."""
    fields = {"level": "INFO" if result["success"] else "WARNING", "message": "canary probe",
              "success": result["success"], "step": result["step"], "detail": result["detail"],
              "seconds": result["seconds"], "thingName": env.get("CLIENT_ID")}
    if result["success"] and env.get("METRIC_REGION"):
        metrics.emit([(metrics.CANARY_ROUND_TRIP, round(result["seconds"] * 1000, 1))],
                     dimensions={"Region": env["METRIC_REGION"]}, fields=fields, environ=env)
    else:
        metrics.log(fields)


def run(env: Mapping[str, str], *, secrets: Any, cloudwatch: Any, probe: Callable[..., Outcome] = probe) -> dict:
    """One canary run with the given clients (the local cloud passes its own): read the key, probe, put the metric.
    Any failure before the metric is a failed probe (``Success`` 0, step ``error``), never a missing datapoint."""
    started = time.monotonic()
    try:
        target = Target(env["ENDPOINT_HOST"], int(env.get("ENDPOINT_PORT", "8883")), env["SERVER_NAME"])
        key = secrets.get_secret_value(SecretId=env["KEY_SECRET_ARN"])["SecretString"]
        credentials = Credentials(env["CLIENT_ID"], env["CERTIFICATE_PEM"], key, env["TRUST_PEM"])
        outcome = probe(target, credentials, env["TOPIC"])
    except Exception as error:  # noqa: BLE001 - every failure must still put its 0
        outcome = Outcome(False, "error", f"{type(error).__name__}: {error}", round(time.monotonic() - started, 3))
    cloudwatch.put_metric_data(Namespace=env["METRIC_NAMESPACE"], MetricData=[{
        "MetricName": METRIC_NAME, "Dimensions": [{"Name": "Region", "Value": env["METRIC_REGION"]}],
        "Value": 1.0 if outcome.success else 0.0, "Unit": "Count"}])
    return asdict(outcome)
