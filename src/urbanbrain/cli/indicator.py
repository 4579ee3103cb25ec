"""`urbanbrain indicator add|functions|list|show|compute|remove|publish`: thin callers of urbanbrain.operate's
indicator services."""

from __future__ import annotations

from typing import Annotated

import typer

from urbanbrain.cli.acting import AsOption, acting_principal
from urbanbrain.cli.output import Format, FormatOption, console, emit_record, emit_rows, err_console

app = typer.Typer(no_args_is_help=True)

LIST_COLUMNS = ["name", "theme", "title_zh", "value", "unit", "state", "stale", "department", "computed_at", "error"]


@app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="e.g. aqi_good_days.")],
    owner: Annotated[str, typer.Option("--owner", help="The owning department (it computes with its view).")],
    sql: Annotated[str, typer.Option("--sql", help="SQL over lake datasets returning a `value` column.")] = "",
    function: Annotated[str | None, typer.Option(
        "--function", help="Instead of --sql: a Python function registered in the `urbanbrain.indicators` "
                           "entry-point group (`urbanbrain indicator functions` lists them).")] = None,
    title: Annotated[str, typer.Option("--title", help="Chinese title, e.g. 空气质量优良天数比例.")] = "",
    title_en: Annotated[str, typer.Option("--title-en")] = "",
    unit: Annotated[str, typer.Option("--unit")] = "",
    theme: Annotated[str, typer.Option("--theme", help="environment, transport, safety, ...")] = "general",
    direction: Annotated[str, typer.Option("--direction", help="up (higher is better) or down.")] = "up",
    by_column: Annotated[str | None, typer.Option("--by", help="Breakdown column, e.g. district.")] = None,
    target: Annotated[str | None, typer.Option("--target", help="e.g. '>= 85'.")] = None,
    warn: Annotated[str | None, typer.Option("--warn", help="e.g. '< 80'.")] = None,
    alarm: Annotated[str | None, typer.Option("--alarm", help="e.g. '< 70'.")] = None,
    schedule: Annotated[str | None, typer.Option("--schedule", help="manual, 'every 1h' or cron.")] = None,
    iso: Annotated[str | None, typer.Option("--iso", help="ISO 37120/37122 code, e.g. 37120:8.1.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Redefine an existing indicator.")] = False,
    as_: AsOption = None,
) -> None:
    """Define an indicator; thresholds and schedule are checked now."""
    from urbanbrain.operate.indicators import define_indicator

    define_indicator(acting_principal(as_), name, sql=sql, department=owner, title_zh=title, title_en=title_en,
                     unit=unit, theme=theme, direction=direction, breakdown=by_column, target=target, warn=warn,
                     alarm=alarm, schedule=schedule, iso_code=iso, replace=replace, function=function)
    console.print(f"defined indicator [bold]{name}[/bold] (owner {owner.lower()})")


@app.command("functions")
def functions_command(fmt: FormatOption = Format.table) -> None:
    """List the registered indicator functions (`--function` of `indicator add`)."""
    from urbanbrain.operate.indicator_functions import FUNCTIONS

    emit_rows([{"function": n} for n in FUNCTIONS.names()], fmt, columns=["function"])


@app.command("list")
def list_command(theme: Annotated[str | None, typer.Option("--theme")] = None,
                 dept: Annotated[str | None, typer.Option("--dept")] = None,
                 fmt: FormatOption = Format.table) -> None:
    """List indicators with their current value and traffic light."""
    from urbanbrain.operate.indicators import list_indicators

    emit_rows(list_indicators(theme, dept), fmt, columns=LIST_COLUMNS)


@app.command("show")
def show_command(name: Annotated[str, typer.Argument()],
                 key: Annotated[str | None, typer.Option("--key", help="One breakdown value's series.")] = None,
                 since: Annotated[str | None, typer.Option("--since", help="e.g. 30d or 12h.")] = None,
                 fmt: FormatOption = Format.table) -> None:
    """An indicator's definition, state, latest breakdown and history."""
    from urbanbrain.operate.indicators import get_indicator, parse_since

    record = get_indicator(name, key=key, since=parse_since(since))
    if fmt is not Format.table:
        emit_record(record, fmt, title=name)
        return
    history, breakdown = record.pop("history"), record.pop("breakdown_values")
    emit_record(record, fmt, title=name)
    if breakdown:
        emit_rows([{"key": k, "value": v} for k, v in breakdown.items()], fmt, title="breakdown")
    emit_rows(history, fmt, columns=["at", "value"], title="history")


@app.command("compute")
def compute_command(name: Annotated[str | None, typer.Argument()] = None,
                    all_: Annotated[bool, typer.Option("--all", help="Every indicator.")] = False,
                    due: Annotated[bool, typer.Option("--due", help="With --all: only the ones due now.")] = False,
                    every: Annotated[float | None, typer.Option(
                        "--every", help="With --all --due: keep computing due ones every N seconds.")] = None,
                    fmt: FormatOption = Format.table, as_: AsOption = None) -> None:
    """Compute one indicator, or all; a failing one is recorded on it (stale) and the rest go on."""
    from urbanbrain.operate.indicator_compute import compute, compute_all, compute_loop

    if all_ == (name is not None):
        raise typer.BadParameter("name one indicator or pass --all")
    by = acting_principal(as_)
    if every:
        if not (all_ and due):
            raise typer.BadParameter("--every needs --all --due")
        import threading

        console.print(f"computing due indicators every {every:g} s; Ctrl-C stops")
        stop = threading.Event()
        try:
            compute_loop(stop, by, every=every)
        except KeyboardInterrupt:
            stop.set()
        return
    results = compute_all(by, only_due=due) if all_ else [compute(name or "", by)]
    emit_rows(results, fmt, columns=["name", "value", "unit", "state", "stale", "error"])
    if any(r.get("error") for r in results):
        err_console.print("[yellow]some indicators failed; their last good value is kept (stale)[/yellow]")


@app.command("remove")
def remove_command(name: Annotated[str, typer.Argument()], as_: AsOption = None) -> None:
    """Remove an indicator and its history."""
    from urbanbrain.operate.indicators import delete_indicator

    delete_indicator(acting_principal(as_), name)
    console.print(f"removed indicator [bold]{name}[/bold]")


@app.command("publish")
def publish_command(as_: AsOption = None) -> None:
    """Sync the indicator definitions and time series into the lake (datasets of the operations centre)."""
    from urbanbrain.operate.indicator_publish import publish_indicators

    for name in publish_indicators(acting_principal(as_)):
        console.print(f"published {name}")
