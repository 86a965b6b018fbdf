"""CloudWatch's embedded metric format (EMF), written by hand: one JSON object per log line that CloudWatch Logs turns
into metrics, and that stays a structured log line (its other members are fields, searchable in Logs Insights).

The specification ("Specification: Embedded metric format", CloudWatch User Guide:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)
and what this module does about each rule:

- the log event is one JSON object with nothing before or after it: :func:`line` is ``json.dumps`` on one line, and
  a Lambda's ``print`` to stdout reaches CloudWatch Logs as it is ("Lambda automatically sends everything that your
  function writes to standard output to a CloudWatch Logs log group, and CloudWatch Logs extracts metrics from any log
  events that follow the embedded metric format specification":
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Lambda.html;
  with the function's JSON log format a ``print`` stays plain text, only the ``logging`` module's records are wrapped);
- the root member ``_aws`` holds ``Timestamp`` (milliseconds since the epoch) and ``CloudWatchMetrics``, an array of
  metric directives ``{"Namespace", "Dimensions": [[dimension names]], "Metrics": [{"Name", "Unit"}]}``;
- every dimension name and every metric name is also a root member (a "target member"): a dimension's value a string,
  a metric's value a number;
- at most 100 metric definitions in a directive and at most 30 dimension names in a dimension set
  (:data:`MAX_METRICS`, :data:`MAX_DIMENSIONS`; also the CloudWatch ``Dimension`` limit, "up to 30 dimensions");
- a unit is one of CloudWatch's (:data:`UNITS`); the event obeys CloudWatch Logs' 256 KB event size
  (:data:`MAX_EVENT_BYTES`).

A document that breaks a rule is a bug in its caller: :func:`document` raises ``ValueError`` rather than write a line
CloudWatch would drop. :func:`parse` reads lines back (the tests, and the local cloud, which keeps what its in-process
Lambdas print).
"""
from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO, TypeGuard

METADATA = "_aws"
MAX_METRICS = 100
MAX_DIMENSIONS = 30
MAX_EVENT_BYTES = 256 * 1024
#: CloudWatch's units (``StandardUnit`` of the CloudWatch API: the ``Unit`` a MetricDefinition may carry).
UNITS = frozenset({
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits",
    "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
    "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
})


@dataclass(frozen=True)
class Datum:
    """One metric value a line carries, as CloudWatch would extract it."""

    namespace: str
    name: str
    unit: str
    dimensions: Mapping[str, str]
    value: float
    timestamp_ms: int


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def document(namespace: str, metrics: Sequence[tuple[str, float, str]], *, dimensions: Mapping[str, str],
             fields: Mapping[str, Any] | None = None, timestamp_ms: int | None = None) -> dict[str, Any]:
    """The EMF object for ``metrics`` (``(name, value, unit)``) under one dimension set, with ``fields`` as log fields.

    Raises ``ValueError`` for anything the specification forbids (see the module docstring)."""
    if not isinstance(namespace, str) or not namespace or namespace.startswith(":"):
        raise ValueError(f"namespace {namespace!r} must be a non-empty string")
    if not metrics:
        raise ValueError("an EMF document needs at least one metric")
    if len(metrics) > MAX_METRICS:
        raise ValueError(f"{len(metrics)} metrics in one directive: the format allows {MAX_METRICS}")
    if not dimensions or len(dimensions) > MAX_DIMENSIONS:
        raise ValueError(f"{len(dimensions)} dimensions: give 1 to {MAX_DIMENSIONS}")
    root: dict[str, Any] = {}
    for key, value in dimensions.items():
        if not isinstance(value, str) or not value.strip() or not value.isascii():
            raise ValueError(f"dimension {key} = {value!r}: a dimension value is a non-empty ASCII string")
        root[key] = value
    names = []
    for name, value, unit in metrics:
        if name in root or name == METADATA:
            raise ValueError(f"metric {name!r} has the name of a dimension or of {METADATA}")
        if not _number(value):
            raise ValueError(f"metric {name} = {value!r}: a metric value is a finite number")
        if unit not in UNITS:
            raise ValueError(f"metric {name}: unit {unit!r} is not a CloudWatch unit")
        root[name] = value
        names.append({"Name": name, "Unit": unit})
    for key, value in (fields or {}).items():
        if key in root or key == METADATA:
            raise ValueError(f"field {key!r} would overwrite a metric or dimension of the same name")
        if value is not None:
            root[key] = value
    stamp = int(time.time() * 1000) if timestamp_ms is None else int(timestamp_ms)
    root[METADATA] = {"Timestamp": stamp, "CloudWatchMetrics": [
        {"Namespace": namespace, "Dimensions": [list(dimensions)], "Metrics": names}]}
    return root


def line(root: Mapping[str, Any]) -> str:
    """``root`` as one log line; refused when over CloudWatch Logs' event size."""
    text = json.dumps(root, separators=(",", ":"), default=str, ensure_ascii=True)
    if len(text.encode("utf-8")) > MAX_EVENT_BYTES:
        raise ValueError(f"an EMF line of {len(text)} bytes is over the {MAX_EVENT_BYTES}-byte event limit")
    return text


def write(root: Mapping[str, Any], stream: TextIO | None = None) -> None:
    """Print ``root`` as one line on ``stream`` (default: the current ``sys.stdout``, the Lambda's log stream)."""
    print(line(root), file=stream if stream is not None else sys.stdout, flush=True)


def parse(text: str) -> list[Datum]:
    """The metric values CloudWatch would extract from one log line (``[]`` for a line that is not EMF)."""
    try:
        root = json.loads(text)
    except ValueError:
        return []
    metadata = root.get(METADATA) if isinstance(root, dict) else None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("CloudWatchMetrics"), list):
        return []
    found = []
    for directive in metadata["CloudWatchMetrics"]:
        for dimension_set in directive.get("Dimensions", []):
            dims = {name: root[name] for name in dimension_set if isinstance(root.get(name), str)}
            if len(dims) != len(dimension_set):
                continue  # CloudWatch drops a dimension set whose target members are missing
            for metric in directive.get("Metrics", []):
                value = root.get(metric.get("Name"))
                values = value if isinstance(value, list) else [value]
                found += [Datum(directive["Namespace"], metric["Name"], metric.get("Unit", "None"), dims, float(v),
                                int(metadata["Timestamp"])) for v in values if _number(v)]
    return found


def parse_lines(lines: Iterable[str]) -> list[Datum]:
    return [datum for text in lines for datum in parse(text)]
