"""Rich tables for each command's report (``--json`` prints ``report.to_json()`` instead)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ops.allow_list import ImportReport
from ops.backfill import BackfillReport
from ops.detach import DetachReport
from ops.reconcile import ReconcileReport
from ops.redrive import RedriveReport

_MAX_ROWS = 200


def _counts(title: str, counts: dict[str, int]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for name, value in counts.items():
        table.add_row(name, str(value))
    return table


def _more(console: Console, total: int) -> None:
    if total > _MAX_ROWS:
        console.print(f"… {total - _MAX_ROWS} more rows (use --json for all of them)")


def backfill(console: Console, report: BackfillReport) -> None:
    console.print(_counts(f"backfill {report.region} → {report.state_machine_arn}", report.counts))
    if report.waited:
        console.print(_counts("execution statuses", report.statuses))
    shown = [row for row in report.rows if row.outcome == "failed" or (row.status and row.status != "SUCCEEDED")]
    if shown:
        table = Table(title="needing attention", title_justify="left")
        for column in ("thing", "outcome", "status", "execution", "detail"):
            table.add_column(column)
        for row in shown[:_MAX_ROWS]:
            table.add_row(row.thing_name, row.outcome, row.status, row.execution_name, row.detail)
        console.print(table)
        _more(console, len(shown))


def redrive(console: Console, report: RedriveReport) -> None:
    console.print(_counts(f"redrive {report.region} ({report.queue_url})", report.counts))
    if report.rows:
        table = Table(title="messages", title_justify="left")
        for column in ("message", "kind", "action", "machine", "execution", "detail"):
            table.add_column(column)
        for row in report.rows[:_MAX_ROWS]:
            table.add_row(row.message_id, row.kind, row.action, row.state_machine, row.execution_name, row.detail)
        console.print(table)
        _more(console, len(report.rows))
    else:
        console.print("[green]The dead-letter queue is empty.[/green]")
    for note in report.advice:
        console.print(f"[yellow]{note}[/yellow]")


def reconcile(console: Console, report: ReconcileReport) -> None:
    console.print(f"reconcile {report.region}: {report.items_checked} items, {report.things_listed} things, "
                  f"{report.drifted} drifted, {report.orphans} without an item")
    if not report.rows:
        console.print("[green]The registry matches the inventory.[/green]")
        return
    table = Table(title="drift", title_justify="left")
    for column in ("thing", "item", "drift", "action", "execution", "detail"):
        table.add_column(column)
    for row in report.rows[:_MAX_ROWS]:
        table.add_row(row.thing_name, row.item_status or "—", "\n".join(row.drift), row.action or "—",
                      row.execution_name, row.detail)
    console.print(table)
    _more(console, len(report.rows))
    if not report.repaired and any(not row.action for row in report.rows):
        console.print(f"[yellow]Run `python -m ops reconcile {report.region} --repair` to start the machines "
                      f"that converge these things.[/yellow]")


def detach(console: Console, report: DetachReport) -> None:
    verb = "would detach" if report.dry_run else "detached"
    done = report.targets if report.dry_run else report.detached
    console.print(f"detach-all {report.region}: policy {report.policy!r} {verb} from {len(done)} of "
                  f"{len(report.targets)} targets")
    table = Table(title="targets", title_justify="left")
    table.add_column("target")
    table.add_column("result")
    failures = {f["target"]: f["error"] for f in report.failed}
    for target in report.targets[:_MAX_ROWS]:
        table.add_row(target, failures.get(target, verb))
    if report.targets:
        console.print(table)
        _more(console, len(report.targets))
    if report.dry_run and report.targets:
        console.print(f"[yellow]Nothing was changed: run `python -m ops detach-all {report.region} --yes` "
                      f"to detach them.[/yellow]")


def allow_list(console: Console, report: ImportReport) -> None:
    console.print(_counts(f"allow-list ({report.region}; a global table)",
                          {"enrolled": len(report.enrolled), "already enrolled (left as it is)": len(report.already)}))
