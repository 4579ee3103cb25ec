"""`urbanbrain sync NAME`: run one sync now, with a progress bar per object and a summary table.

The sync itself is `urbanbrain.sync.service.sync_system`; this module only draws its progress callbacks
and maps the run's status to an exit code (0 succeeded, 1 partial or failed) for scripts and CI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from urbanbrain.cli.output import Format, FormatOption, console, emit_rows, err_console
from urbanbrain.core.lazy import lazy_function

if TYPE_CHECKING:  # the real modules for mypy; at run time they load on first use (keeps --help instant)
    from urbanbrain.meta.schemas import SyncRunObjectPublic, SyncRunPublic
    from urbanbrain.sync.service import sync_system
else:
    sync_system = lazy_function("urbanbrain.sync.service", "sync_system")

SUMMARY_COLUMNS = ["object", "mode", "status", "rows_read", "rows_written", "rows_rejected", "error"]
STATUS_STYLE = {"succeeded": "green", "succeeded_with_rejects": "yellow", "partial": "yellow", "failed": "red"}


class RichProgress:
    """A `SyncProgress` drawing one Rich bar per object; the total is the row estimate when known."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def object_started(self, name: str, estimate: int | None) -> None:
        self.tasks[name] = self.progress.add_task(escape(name), total=estimate or None)

    def object_advanced(self, name: str, rows: int) -> None:
        self.progress.advance(self.tasks[name], rows)

    def object_finished(self, name: str, outcome: SyncRunObjectPublic) -> None:
        task = self.tasks[name]
        style = STATUS_STYLE.get(outcome.status, "white")
        done = self.progress.tasks[self.tasks[name]].completed
        self.progress.update(task, total=max(done, 1), completed=max(done, 1),
                             description=f"{escape(name)} [{style}]{outcome.status}[/{style}]")


def summary_rows(run: SyncRunPublic) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"object": o.object_name, "mode": o.mode, "status": o.status, "rows_read": o.rows_read,
         "rows_written": o.rows_written, "rows_rejected": o.rows_rejected, "error": o.error}
        for o in run.objects
    ]
    rows.append({"object": "TOTAL", "mode": "", "status": run.status, "rows_read": run.rows_read,
                 "rows_written": run.rows_written, "rows_rejected": run.rows_rejected, "error": run.error})
    return rows


def sync_command(
    name: Annotated[str, typer.Argument(help="System name.")],
    object_: Annotated[
        list[str] | None, typer.Option("--object", help="Only this object (repeatable); default all enabled.")
    ] = None,
    full_refresh: Annotated[bool, typer.Option("--full-refresh", help="Ignore stored cursors; reload all.")] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Sync a system into the lake now. Exit code 0 succeeded, 1 partial or failed."""
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err_console, transient=False) as progress:
        run = sync_system(name, objects=object_ or None, full_refresh=full_refresh, progress=RichProgress(progress))
    style = STATUS_STYLE.get(run.status, "white")
    emit_rows(summary_rows(run), fmt, columns=SUMMARY_COLUMNS,
              title=f"sync {run.system} — run {run.id} — [{style}]{run.status}[/{style}]")
    from urbanbrain.sync.runs import succeeded

    if not succeeded(run.status):
        if run.error:
            err_console.print(f"[bold red]error:[/bold red] [red]{escape(run.error)}[/red]", soft_wrap=True)
        raise typer.Exit(1)
    if fmt is Format.table and run.rows_rejected:
        console.print(f"[yellow]succeeded with rejects:[/yellow] {run.rows_written} rows written, "
                      f"{run.rows_rejected} rows quarantined (see the objects' __quarantine datasets)")
    elif fmt is Format.table:
        console.print(f"[green]ok:[/green] {run.rows_written} rows written in {len(run.objects)} object(s)")
