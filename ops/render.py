"""Rich tables for each command's report (``--json`` prints ``report.to_json()`` instead)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ops.allow_list import ImportReport, ResetReport
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
    if report.waited_for:
        console.print(f"detach-all {report.region}: waited for {len(report.waited_for)} running execution(s) to end")
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


def allow_list(console: Console, report: ImportReport | ResetReport) -> None:
    if isinstance(report, ResetReport):
        allow_list_reset(console, report)
        return
    console.print(_counts(f"allow-list ({report.region}; a global table)",
                          {"enrolled": len(report.enrolled), "already enrolled (left as it is)": len(report.already)}))


def allow_list_reset(console: Console, report: ResetReport) -> None:
    """The entry as found, what the reset undoes and replaces, and what is left (or, without --yes, the plan)."""
    table = Table(title=f"allow-list reset {report.thing} ({report.region})", title_justify="left")
    table.add_column("")
    table.add_column("")
    table.add_row("entry", report.status + (f" (certificate {report.certificate_id})" if report.certificate_id else ""))
    table.add_row("attempts to undo", ", ".join(report.attempts) + (f" in {report.attempt_region}"
                                                                      if report.attempts else "none"))
    table.add_row("next provisioning replaces", report.replaces or "nothing (no ACTIVE inventory item)")
    if report.confirmed:
        table.add_row("undone", ", ".join(report.cleaned) or "-")
    console.print(table)
    for left in report.left:
        console.print(f"[yellow]left: {escape(left)}[/yellow]")
    if report.refused:
        console.print(f"[red]not reset:[/red] {escape(report.refused)}")
    elif report.done and report.confirmed:
        console.print(f"[green]{report.thing} is unprovisioned: the device may ask the provisioning API again.[/green]")
    elif report.done:
        console.print(f"[green]{report.thing} is already reset: nothing to do.[/green]")
    else:
        console.print(f"[yellow]Nothing changed: run again with --yes to reset {report.thing}.[/yellow]")
