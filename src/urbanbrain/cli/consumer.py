"""`urbanbrain consumer ...`: applications that call capabilities, each owned by a department."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from urbanbrain.cli.output import Format, FormatOption, OutputOption, console, emit_rows, model_rows
from urbanbrain.core.lazy import lazy_module

if TYPE_CHECKING:  # the real modules for mypy; at run time they load on first use (keeps --help instant)
    from urbanbrain.capability import consumers as svc
else:
    svc = lazy_module("urbanbrain.capability.consumers")

app = typer.Typer(no_args_is_help=True)

COLUMNS = ["name", "department", "enabled", "description", "created_at"]


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Application name, e.g. grid-app.")],
    dept: Annotated[str, typer.Option("--dept", help="Code of the department that owns the application.")],
    description: Annotated[str | None, typer.Option("--description", help="What it does.")] = None,
) -> None:
    """Register a consumer; then create a key (`urbanbrain key create`) and request grants."""
    consumer = svc.add_consumer(name, dept, description)
    console.print(f"added consumer [bold]{consumer.name}[/bold] of {consumer.department}; "
                  f"create its key with `urbanbrain key create --consumer {consumer.name}`")


@app.command("list")
def list_(dept: Annotated[str | None, typer.Option("--dept", help="Owning department code.")] = None,
          fmt: FormatOption = Format.table, output: OutputOption = None) -> None:
    """List consumers."""
    emit_rows(model_rows(svc.list_consumers(dept), COLUMNS), fmt, columns=COLUMNS, title="Consumers", output=output)
