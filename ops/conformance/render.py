"""What the kit prints (rich): the plan before anything is created, each probe's verdict, the cleanup."""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ops.conformance.estimate import creates_text, estimate, usd
from ops.conformance.probes import Probe
from ops.conformance.resources import NAME_PREFIX, TAG_KEY, Run
from ops.conformance.runner import ProbeResult, RunReport
from ops.conformance.sweep import Sweep


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return escape("\n".join(f"{k}: {json.dumps(v) if not isinstance(v, str) else v}" for k, v in value.items()))
    return escape(json.dumps(value))


def plan(console: Console, mode: str, region: str, partner: str, account: str, run: Run,
         probes: Sequence[Probe], earlier: Sweep) -> None:
    where = "the local cloud (nothing is created in AWS)" if mode == "local" else f"AWS account {account}"
    console.print(f"[bold]Conformance run {run.id}[/bold] in {where}, region {region} "
                  f"(partner region {partner} for the certificate-provider probe).")
    table = Table(title="what each probe creates (temporary)", title_justify="left")
    for column in ("register row", "probe", "creates", "cost", "time"):
        table.add_column(column, justify="right" if column in ("cost", "time") else "left")
    total_usd = total_s = 0.0
    for probe in probes:
        figures = estimate(probe)
        total_usd, total_s = total_usd + figures.usd, total_s + figures.seconds
        table.add_row(probe.register_row, probe.name, creates_text(probe), usd(figures.usd), f"~{figures.seconds:.0f} s")
    console.print(table)
    console.print(f"Estimate: {usd(total_usd)} and about {total_s / 60:.0f} minutes in AWS (list prices as we know "
                  "them, not fetched; see ops/conformance/estimate.py).")
    console.print(f"Every resource is named {NAME_PREFIX}{run.id}-… (topic rules iotmr_conf_{run.id}_…), tagged "
                  f"{TAG_KEY}={run.id} where it takes tags, and deleted at the end, on failure and on Ctrl-C.")
    console.print("The TLS probe uses a configurable endpoint on an AWS-managed domain with our TLS policy (a custom "
                  "domain needs a certificate and DNS the kit does not make).")
    if earlier.found.items:
        console.print(f"[yellow]Found {len(earlier.found.items)} leftovers of earlier runs "
                      f"({', '.join(sorted(earlier.runs))}); they are deleted first:[/yellow]")
        for resource in earlier.found.items:
            console.print(f"  {resource.kind} {resource.name} ({resource.region})")
    for note in earlier.skipped + earlier.notes:
        console.print(f"[yellow]{escape(note)}[/yellow]")


def result(console: Console, probe_result: ProbeResult) -> None:
    verdict = "[green]agree[/green]" if probe_result.agree else "[red]DISAGREE[/red]"
    console.print(f"  {probe_result.probe.register_row}: {verdict}")


def report(console: Console, run_report: RunReport) -> None:
    table = Table(title=f"conformance run {run_report.run.id} ({run_report.mode}, {run_report.region})",
                  title_justify="left", show_lines=True)
    for column in ("register row", "expected (the local cloud)", "observed", "agree"):
        table.add_column(column)
    for item in run_report.results:
        table.add_row(item.probe.register_row, _value(item.expected), _value(item.observed),
                      "[green]agree[/green]" if item.agree else "[red]DISAGREE[/red]")
    console.print(table)
    if run_report.earlier_deleted:
        console.print(f"Deleted {len(run_report.earlier_deleted)} leftovers of earlier runs.")
    console.print(f"Deleted {len(run_report.deleted)} temporary resources of this run.")
    for note in run_report.notes:
        console.print(f"[yellow]{escape(note)}[/yellow]")
    if run_report.left:
        console.print("[red]Could not delete (delete them by hand, or run the kit again: it finds them by tag):[/red]")
        for resource in run_report.left:
            console.print(f"  {resource.kind} {resource.name} ({resource.region}): {escape(resource.error)}")
    if run_report.interrupted:
        console.print(f"[red]{run_report.interrupted}: {len(run_report.results)} probes ran.[/red]")
    disagreements = [r for r in run_report.results if not r.agree]
    if disagreements:
        console.print(f"[red]{len(disagreements)} of {len(run_report.results)} probes disagree with the local cloud: "
                      "update the assumptions register (docs/emulator.md) and the local cloud, or the design.[/red]")
    elif run_report.results and not run_report.interrupted:
        console.print(f"[green]All {len(run_report.results)} probes agree with the local cloud.[/green]")
