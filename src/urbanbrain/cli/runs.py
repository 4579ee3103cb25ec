"""`urbanbrain runs ...`: what each sync read, wrote, rejected, and why it failed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from urbanbrain.cli.output import Format, FormatOption, OutputOption, console, emit_record, emit_rows, model_rows
from urbanbrain.core.lazy import lazy_module

if TYPE_CHECKING:  # the real modules for mypy; at run time they load on first use (keeps --help instant)
    from urbanbrain.sync import runs as svc
else:
    svc = lazy_module("urbanbrain.sync.runs")

app = typer.Typer(no_args_is_help=True)

LIST_COLUMNS = ["id", "system", "trigger", "status", "attempt", "started_at", "finished_at", "rows_read",
                "rows_written", "rows_rejected", "error"]
OBJECT_COLUMNS = ["object_name", "dataset_name", "mode", "status", "rows_read", "rows_written", "rows_rejected",
                  "bytes_written", "error"]


@app.command("list")
def list_(
    system: Annotated[str | None, typer.Option("--system", help="Only this system's runs.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="running, succeeded, partial or failed.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Newest runs first, at most this many.")] = 50,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
) -> None:
    """List recent sync runs, newest first."""
    emit_rows(model_rows(svc.list_runs(system=system, status=status, limit=limit), LIST_COLUMNS), fmt,
              columns=LIST_COLUMNS, title="Sync runs", output=output)


@app.command("show")
def show(run_id: Annotated[str, typer.Argument(help="Run id (from `runs list`).")],
         fmt: FormatOption = Format.table) -> None:
    """Show one run and its per-object outcomes."""
    run = svc.get_run(run_id)
    if fmt is Format.json:
        emit_rows([run.model_dump()], fmt)
        return
    if fmt is not Format.table:
        emit_rows(model_rows(run.objects, OBJECT_COLUMNS), fmt, columns=OBJECT_COLUMNS)
        return
    emit_record(model_rows([run], [*LIST_COLUMNS, "bytes_written", "error_transient"])[0], title=f"Run {run.id}")
    console.print()
    emit_rows(model_rows(run.objects, OBJECT_COLUMNS), fmt, columns=OBJECT_COLUMNS, title="Objects")
