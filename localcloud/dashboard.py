"""``python -m localcloud dashboard REGION --png FILE``: draw a region's CloudWatch dashboard as the console would, from
the metrics CloudWatch holds, so a person can look at it.

It reads everything through the CloudWatch API of an endpoint: ``GetDashboard`` for the definition the regional stack
put there (``builders/dashboard.py``: the body structure of
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html),
``GetMetricData`` for each graphed metric, ``ListMetrics`` for a ``SEARCH`` expression's metrics, ``DescribeAlarms``
for an alarm widget. Against a running ``python -m localcloud up --serve`` (``--endpoint-url http://127.0.0.1:4566``,
or ``AWS_ENDPOINT_URL``) the values are what the local cloud computes (``localcloud.local_metrics``: our Lambdas'
embedded-metric-format lines, executions, queue depths, health checks); without an endpoint it draws the dashboard of
the AWS account the credentials reach.

A local cloud lives minutes, not the dashboard's six hours at five-minute periods, so the defaults are the last
``--minutes 30`` at ``--period 60`` seconds (the console's "period override"); the title states the dashboard's own.
Widget by widget: a metric row is one line (its ``label``, ``stat``, ``yAxis``), a ``SEARCH('{Namespace,Dims...}
MetricName="..." Dim="..."', 'Stat', period)`` row one line per metric found, other metric math is named as not
drawn; an alarm widget lists each alarm's state; a text widget its text. A graph without data says so, and names the
metrics the local cloud never computes (``local_metrics.NOT_COMPUTED``) as such.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Clients = Callable[[str, str], Any]
_SEARCH = re.compile(r"""SEARCH\(\s*'\{([^}]*)\}\s*(.*?)'\s*,\s*'(\w+)'\s*(?:,\s*(\d+))?\s*\)""")
_TERM = re.compile(r'(\w+)\s*=\s*"([^"]*)"')


class DashboardError(Exception):
    """The dashboard cannot be drawn (none in the region, no endpoint); the message says what to do."""


@dataclass
class Line:
    label: str
    times: list[dt.datetime]
    values: list[float]
    right: bool = False


@dataclass
class Panel:
    """One widget as drawn: where (dashboard grid units), what, and what could not be drawn."""

    kind: str
    title: str
    x: int
    y: int
    width: int
    height: int
    region: str = ""
    stat: str = ""
    period: int = 0
    lines: list[Line] = field(default_factory=list)
    text: list[str] = field(default_factory=list)  # alarm states, a text widget's text
    notes: list[str] = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(len(line.values) for line in self.lines)


# -- reading ------------------------------------------------------------------------------------------------------
def choose(cloudwatch: Any, region: str, name: str | None) -> str:
    """The dashboard to draw: ``name``, else the region's (its name ends with the region, as ``Names.dashboard``)."""
    entries = [e["DashboardName"] for page in cloudwatch.get_paginator("list_dashboards").paginate()
               for e in page.get("DashboardEntries", [])]
    if name is not None:
        if name not in entries:
            raise DashboardError(f"no dashboard named {name!r} in {region}; there are: {', '.join(entries) or 'none'}")
        return name
    mine = [e for e in entries if e.endswith(f"-{region}")] or entries
    if len(mine) != 1:
        raise DashboardError(f"{'no dashboard' if not mine else 'several dashboards'} in {region}"
                             f"{': ' + ', '.join(mine) if mine else ''}; deploy the stacks (python -m localcloud up "
                             "--serve) or name one with --name")
    return mine[0]


def _rows(metrics: Sequence[Any]) -> list[tuple[list[Any], dict[str, Any]] | dict[str, Any]]:
    """The widget's rows: ``(namespace, name, dims...)`` with their options, or an expression row (a dict). ``"."``
    repeats the previous row's element there (the body structure's shorthand)."""
    rows: list[tuple[list[Any], dict[str, Any]] | dict[str, Any]] = []
    previous: list[Any] = []
    for row in metrics:
        if isinstance(row, dict):
            rows.append(row)
            continue
        options = row[-1] if row and isinstance(row[-1], dict) else {}
        fields = list(row[:-1] if options else row)
        fields = [previous[i] if value == "." and i < len(previous) else value for i, value in enumerate(fields)]
        previous = fields
        rows.append((fields, options))
    return rows


def _dimensions(fields: list[Any]) -> dict[str, str]:
    pairs = fields[2:]
    return {str(pairs[i]): str(pairs[i + 1]) for i in range(0, len(pairs) - 1, 2)}


def _metric_data(cloudwatch: Any, queries: list[dict[str, Any]], start: dt.datetime,
                 end: dt.datetime) -> dict[str, tuple[list[dt.datetime], list[float]]]:
    found: dict[str, tuple[list[dt.datetime], list[float]]] = {}
    for first in range(0, len(queries), 500):  # GetMetricData takes 500 queries at most
        response = cloudwatch.get_metric_data(MetricDataQueries=queries[first:first + 500], StartTime=start,
                                              EndTime=end, ScanBy="TimestampAscending")
        for result in response.get("MetricDataResults", []):
            pairs = sorted(zip(result.get("Timestamps", []), result.get("Values", []), strict=False))
            found[result["Id"]] = ([t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t for t, _ in pairs],
                                   [float(v) for _, v in pairs])
    return found


def _search(cloudwatch: Any, expression: str) -> tuple[str, list[dict[str, Any]], str, int | None] | None:
    """(namespace, metrics, stat, period) of a ``SEARCH`` expression the builder writes, or None for other math."""
    match = _SEARCH.search(expression)
    if match is None:
        return None
    schema = [part.strip().strip('"') for part in match.group(1).split(",")]
    namespace, dimension_names = schema[0], set(schema[1:])
    terms = dict(_TERM.findall(match.group(2)))
    name = terms.pop("MetricName", None)
    listed = [m for page in cloudwatch.get_paginator("list_metrics").paginate(
        Namespace=namespace, **({"MetricName": name} if name else {})) for m in page.get("Metrics", [])]
    chosen = [m for m in listed if {d["Name"] for d in m.get("Dimensions", [])} == dimension_names
              and all({"Name": k, "Value": v} in m.get("Dimensions", []) for k, v in terms.items())]
    return namespace, chosen, match.group(3), int(match.group(4)) if match.group(4) else None


def _metric_panel(clients: Clients, widget: dict[str, Any], panel: Panel, start: dt.datetime, end: dt.datetime,
                  period: int | None) -> None:
    from localcloud.local_metrics import not_computed

    properties = widget["properties"]
    cloudwatch = clients("cloudwatch", panel.region)
    queries: list[dict[str, Any]] = []
    labels: dict[str, tuple[str, bool]] = {}
    silent: set[str] = set()  # metrics the local cloud never computes, named once
    for index, row in enumerate(_rows(properties.get("metrics", []))):
        if isinstance(row, dict):
            expression = str(row.get("expression", ""))
            searched = _search(cloudwatch, expression)
            if searched is None:
                panel.notes.append(f"not drawn: metric math {expression[:60]!r}")
                continue
            namespace, found, stat, searched_period = searched
            if not found:
                name = (dict(_TERM.findall(expression)).get("MetricName") or "")
                if not_computed(namespace, name):
                    silent.add(f"{namespace} {name}")
            for number, metric in enumerate(found):
                query_id = f"s{index}_{number}"
                filtered = {key for key, _ in _TERM.findall(expression)}
                distinct = ",".join(d["Value"] for d in metric["Dimensions"] if d["Name"] not in filtered)
                queries.append({"Id": query_id, "MetricStat": {"Metric": metric, "Stat": stat,
                                                               "Period": period or searched_period or panel.period}})
                labels[query_id] = (f"{row.get('label') or metric['MetricName']} {distinct}".strip(), False)
            continue
        fields, options = row
        if len(fields) < 2:
            continue
        namespace, name = str(fields[0]), str(fields[1])
        metric = {"Namespace": namespace, "MetricName": name,
                  "Dimensions": [{"Name": k, "Value": v} for k, v in _dimensions(fields).items()]}
        query_id = f"m{index}"
        queries.append({"Id": query_id, "MetricStat": {
            "Metric": metric, "Stat": options.get("stat") or panel.stat,
            "Period": period or int(options.get("period") or panel.period)}})
        labels[query_id] = (str(options.get("label") or name), options.get("yAxis") == "right")
        if not_computed(namespace, name):
            silent.add(f"{namespace} {name}")
    data = _metric_data(cloudwatch, queries, start, end) if queries else {}
    for query_id, (label, right) in labels.items():
        times, values = data.get(query_id, ([], []))
        if values:
            panel.lines.append(Line(label, times, values, right))
    if not panel.lines:
        panel.notes.append(f"no data in the last {int((end - start).total_seconds() // 60)} min")
    if silent:
        panel.notes.append("not computed by the local cloud: " + ", ".join(sorted(silent)))


def _alarm_panel(clients: Clients, widget: dict[str, Any], panel: Panel) -> None:
    arns = list(widget["properties"].get("alarms", []))
    by_region: dict[str, list[str]] = {}
    for arn in arns:
        parts = arn.split(":")
        by_region.setdefault(parts[3] if len(parts) > 3 else panel.region, []).append(arn.split(":alarm:")[-1])
    for region, names in by_region.items():
        found = {a["AlarmName"]: a for a in clients("cloudwatch", region).describe_alarms(
            AlarmNames=names).get("MetricAlarms", [])}
        for name in names:
            alarm = found.get(name)
            panel.text.append(f"{alarm['StateValue'] if alarm else 'MISSING':17} {name}")


def read(clients: Clients, region: str, *, name: str | None = None, minutes: int = 30, period: int | None = 60,
         now: dt.datetime | None = None) -> tuple[str, dict[str, Any], list[Panel]]:
    """(dashboard name, body, panels with their data) of ``region``'s dashboard."""
    cloudwatch = clients("cloudwatch", region)
    chosen = choose(cloudwatch, region, name)
    body = json.loads(cloudwatch.get_dashboard(DashboardName=chosen)["DashboardBody"])
    end = now or dt.datetime.now(dt.UTC)
    start = end - dt.timedelta(minutes=minutes)
    panels = []
    for widget in body.get("widgets", []):
        properties = widget.get("properties", {})
        panel = Panel(widget.get("type", "?"), str(properties.get("title", "")), int(widget.get("x", 0)),
                      int(widget.get("y", 0)), int(widget.get("width", 6)), int(widget.get("height", 6)),
                      region=str(properties.get("region") or region), stat=str(properties.get("stat") or "Average"),
                      period=int(properties.get("period") or 300))
        if panel.kind == "metric":
            _metric_panel(clients, widget, panel, start, end, period)
        elif panel.kind == "alarm":
            _alarm_panel(clients, widget, panel)
        elif panel.kind == "text":
            panel.text = str(properties.get("markdown", "")).splitlines()
        else:
            panel.notes.append(f"widget type {panel.kind!r} not drawn")
        panels.append(panel)
    return chosen, body, panels


# -- drawing ------------------------------------------------------------------------------------------------------
def draw(name: str, body: dict[str, Any], panels: list[Panel], png: Path, *, end: dt.datetime, minutes: int,
         period: int | None, source: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.gridspec import GridSpec

    rows = max((p.y + p.height for p in panels), default=6)
    figure = plt.figure(figsize=(22, max(4.0, rows * 0.62)), dpi=90)
    grid = GridSpec(rows, 24, figure=figure, hspace=1.6, wspace=1.2, left=0.04, right=0.96, top=1 - 1.6 / rows,
                    bottom=0.02)
    own = f"dashboard start {body.get('start', '?')}, widget periods {sorted({p.period for p in panels if p.period})} s"
    every = f"{period} s periods" if period else "each widget's period"
    figure.suptitle(f"{name}: the {minutes} min to {end:%H:%M:%S} UTC at {every} ({own}); {source}", fontsize=13,
                    fontweight="bold")
    start = end - dt.timedelta(minutes=minutes)
    for panel in panels:
        axes = figure.add_subplot(grid[panel.y:panel.y + panel.height, panel.x:min(24, panel.x + panel.width)])
        axes.set_title(panel.title + (f" [{panel.region}]" if panel.kind == "metric" else ""), fontsize=9,
                       loc="left")
        if panel.kind != "metric" or not panel.lines:
            axes.set_xticks([])
            axes.set_yticks([])
            lines = panel.text + panel.notes
            axes.text(0.02, 0.95, "\n".join(lines) or "(empty)", va="top", ha="left", fontsize=8,
                      family="monospace", transform=axes.transAxes, wrap=True)
            continue
        right_axes = axes.twinx() if any(line.right for line in panel.lines) else None
        for line in panel.lines:
            target = right_axes if line.right and right_axes is not None else axes
            target.plot(line.times, line.values, marker="o", markersize=3, linewidth=1.4, label=line.label)
        handles, names = axes.get_legend_handles_labels()
        if right_axes is not None:
            more, more_names = right_axes.get_legend_handles_labels()
            handles, names = handles + more, names + [f"{n} (right)" for n in more_names]
        axes.legend(handles, names, fontsize=7, loc="upper left", framealpha=0.7)
        axes.set_xlim(start.replace(tzinfo=None), end.replace(tzinfo=None))  # one time axis for every graph
        axes.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=8))
        axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
        axes.tick_params(labelsize=7)
        axes.grid(alpha=0.3)
        if panel.notes:
            axes.text(0.99, 0.02, "; ".join(panel.notes), fontsize=6, ha="right", va="bottom",
                      transform=axes.transAxes, color="dimgray")
    png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(png)
    plt.close(figure)


def main(region: str, png: Path, *, endpoint_url: str | None = None, name: str | None = None, minutes: int = 30,
         period: int | None = 60) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.Session()
    cache: dict[tuple[str, str], Any] = {}

    def clients(service: str, in_region: str) -> Any:
        if (service, in_region) not in cache:
            cache[service, in_region] = session.client(service, region_name=in_region, endpoint_url=endpoint_url)
        return cache[service, in_region]

    source = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or "AWS"
    now = dt.datetime.now(dt.UTC)
    try:
        chosen, body, panels = read(clients, region, name=name, minutes=minutes, period=period, now=now)
    except DashboardError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as error:
        print(f"error: cannot read the dashboard from {source}: {error}. Is `python -m localcloud up --serve` "
              "running (its banner prints the endpoint and the environment to export)?", file=sys.stderr)
        return 2
    draw(chosen, body, panels, png, end=now, minutes=minutes, period=period, source=f"metrics from {source}")
    drawn = [p for p in panels if p.points]
    print(f"{png}: dashboard {chosen} of {region}, {len(panels)} widgets, {len(drawn)} with data "
          f"({sum(p.points for p in panels)} datapoints), last {minutes} min at {period or 'their own'} s periods")
    for panel in panels:
        what = (f"{len(panel.lines)} lines, {panel.points} points" if panel.kind == "metric" else
                f"{len(panel.text)} entries")
        notes = f" ({'; '.join(panel.notes)})" if panel.notes else ""
        print(f"  {panel.title}: {what}{notes}")
    return 0
