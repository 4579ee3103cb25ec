"""`urbanbrain dept ...`: departments own systems; their code prefixes every dataset name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from urbanbrain.cli.output import Format, FormatOption, OutputOption, console, emit_rows, model_rows
from urbanbrain.core.lazy import lazy_module

if TYPE_CHECKING:  # the real modules for mypy; at run time they load on first use (keeps --help instant)
    from urbanbrain.meta import departments as svc
else:
    svc = lazy_module("urbanbrain.meta.departments")

app = typer.Typer(no_args_is_help=True)

COLUMNS = ["code", "name", "systems", "created_at"]


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Full name, e.g. \"Market Regulation\".")],
    code: Annotated[str, typer.Option("--code", help="Short code used in dataset names, e.g. market.")],
) -> None:
    """Register a department."""
    dept = svc.add_department(name, code)
    console.print(f"added department [bold]{dept.code}[/bold] ({dept.name})")


@app.command("list")
def list_(fmt: FormatOption = Format.table, output: OutputOption = None) -> None:
    """List departments with how many systems each has."""
    emit_rows(model_rows(svc.list_departments(), COLUMNS), fmt, columns=COLUMNS, title="Departments",
              output=output)


@app.command("show")
def show(code: Annotated[str, typer.Argument(help="Department code.")], fmt: FormatOption = Format.table) -> None:
    """Show one department."""
    emit_rows(model_rows([svc.get_department(code)], COLUMNS), fmt, columns=COLUMNS, vertical=True)
