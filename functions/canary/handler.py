"""The canary Lambda: probe this region's custom-domain MQTT endpoint and put the result as a metric.

What: every scheduled run reads the canary's private key from Secrets Manager (decrypted with its KMS key; only
this function's role may read it), runs :func:`probe.probe` against the region's own endpoint with SNI = the
domain, and puts ``Success`` = 1 or 0 (dimension ``Region``) in ``<application>/Canary``.
Why: an alarm on that metric (missing data = breaching) feeds a Route 53 health check on the region's DNS
record, so devices stop being sent to a region whose endpoint fails (docs/design.md, "Health-checked failover").

Environment: ``ENDPOINT_HOST``, ``ENDPOINT_PORT``, ``SERVER_NAME``, ``CLIENT_ID``, ``TOPIC``, ``CERTIFICATE_PEM``,
``TRUST_PEM``, ``KEY_SECRET_ARN``, ``METRIC_NAMESPACE``, ``METRIC_REGION``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any, Callable, Mapping

import boto3

from .probe import Credentials, Outcome, Target, probe

METRIC_NAME = "Success"


def handler(event: Any, context: Any) -> dict:
    result = run(os.environ, secrets=boto3.client("secretsmanager"), cloudwatch=boto3.client("cloudwatch"))
    print(json.dumps({"canary": result}))
    return result


def run(env: Mapping[str, str], *, secrets: Any, cloudwatch: Any, probe: Callable[..., Outcome] = probe) -> dict:
    """One canary run with the given clients (the local cloud passes its own): read the key, probe, put the metric."""
    target = Target(env["ENDPOINT_HOST"], int(env.get("ENDPOINT_PORT", "8883")), env["SERVER_NAME"])
    key = secrets.get_secret_value(SecretId=env["KEY_SECRET_ARN"])["SecretString"]
    credentials = Credentials(env["CLIENT_ID"], env["CERTIFICATE_PEM"], key, env["TRUST_PEM"])
    outcome = probe(target, credentials, env["TOPIC"])
    cloudwatch.put_metric_data(Namespace=env["METRIC_NAMESPACE"], MetricData=[{
        "MetricName": METRIC_NAME, "Dimensions": [{"Name": "Region", "Value": env["METRIC_REGION"]}],
        "Value": 1.0 if outcome.success else 0.0, "Unit": "Count"}])
    return asdict(outcome)
