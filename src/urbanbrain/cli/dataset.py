"""`urbanbrain dataset ...`: what is in the lake, where it came from, and a look at its rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from urbanbrain.cli.acting import AsOption, acting_principal
from urbanbrain.cli.output import (
    Format,
    FormatOption,
    OutputOption,
    console,
    emit_record,
    emit_rows,
    emit_table,
    model_rows,
)
from urbanbrain.core.lazy import lazy_module

if TYPE_CHECKING:  # the real modules for mypy; at run time they load on first use (keeps --help instant)
    from urbanbrain.lake import datasets as svc
else:
    svc = lazy_module("urbanbrain.lake.datasets")

app = typer.Typer(no_args_is_help=True)

LIST_COLUMNS = ["name", "role", "department", "system", "object_name", "row_count", "last_synced_at"]
SHOW_COLUMNS = ["name", "role", "department", "system", "object_name", "row_count", "primary_key",
                "last_synced_at", "last_run_id"]
LINEAGE_COLUMNS = ["department", "department_name", "system", "system_kind", "source_object", "source",
                   "last_run_id", "last_synced_at", "snapshot_id"]


@app.command("list")
def list_(
    search: Annotated[str | None, typer.Option("--search", help="Match dataset, object or column names.")] = None,
    dept: Annotated[str | None, typer.Option("--dept", help="Only this department's datasets.")] = None,
    system: Annotated[str | None, typer.Option("--system", help="Only this system's datasets.")] = None,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
) -> None:
    """List datasets (quarantine tables included, role `quarantine`)."""
    rows = model_rows(svc.list_datasets(search=search, dept=dept, system=system), LIST_COLUMNS)
    emit_rows(rows, fmt, columns=LIST_COLUMNS, title="Datasets", output=output)


@app.command("show")
def show(name: Annotated[str, typer.Argument(help="department.system.object")],
         fmt: FormatOption = Format.table) -> None:
    """Show a dataset's schema and lineage."""
    ds = svc.get_dataset(name)
    lineage = svc.lineage(name)
    if fmt is Format.json:
        record: dict[str, Any] = {**ds.model_dump(), "lineage": lineage.model_dump()}
        emit_rows([record], fmt)
        return
    if fmt is not Format.table:
        emit_rows(ds.columns, fmt, columns=["name", "type"])
        return
    emit_record(model_rows([ds], SHOW_COLUMNS)[0], title=ds.name)
    console.print()
    emit_rows(ds.columns, fmt, columns=["name", "type"], title="Schema")
    console.print()
    emit_record(model_rows([lineage], LINEAGE_COLUMNS)[0], title="Lineage")


@app.command("preview")
def preview(
    name: Annotated[str, typer.Argument(help="department.system.object")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, max=1000, help="Rows to show.")] = 20,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
    as_: AsOption = None,
) -> None:
    """Show the first rows of a dataset (as another department sees them with --as)."""
    from urbanbrain.govern.query import preview as governed_preview

    emit_table(governed_preview(name, limit, principal=acting_principal(as_)).table, fmt, title=name, output=output)


@app.command("drop")
def drop(
    name: Annotated[str, typer.Argument(help="department.system.object")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Drop a lake table and its files (e.g. to re-ingest after an incompatible schema change)."""
    svc.get_dataset(name)  # unknown names fail before we ask
    if not yes:
        typer.confirm(f"drop dataset {name!r} and delete its files?", abort=True)
    from urbanbrain.sync.service import drop_dataset

    drop_dataset(name)
    console.print(f"dropped dataset [bold]{name}[/bold]")


@app.command("label")
def label(
    name: Annotated[str, typer.Argument(help="department.system.object")],
    column: Annotated[str | None, typer.Argument(help="The field; leave out to name the dataset itself.")] = None,
    zh: Annotated[str | None, typer.Option("--zh", help="Display name in Chinese, e.g. 老人编号.")] = None,
    en: Annotated[str | None, typer.Option("--en", help="Display name in English, e.g. 'elder ID'.")] = None,
    description_zh: Annotated[str | None, typer.Option("--description-zh", help="Description in Chinese.")] = None,
    description_en: Annotated[str | None, typer.Option("--description-en", help="Description in English.")] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Show or set display names and descriptions of a dataset and its fields (both languages; stewards)."""
    from urbanbrain.govern import labels

    if any(v is not None for v in (zh, en, description_zh, description_en)):
        done = labels.set_label(name, column or labels.DATASET, label_zh=zh, label_en=en,
                                description_zh=description_zh, description_en=description_en)
        console.print(f"{name}{'.' + column if column else ''}: {done.label_zh} / {done.label_en}")
        return
    rows = [{**lb.as_dict(), "column": lb.column or "(dataset)"} for lb in labels.labels_of(name).values()]
    emit_rows(rows, fmt, columns=["column", "label_zh", "label_en", "description_zh", "description_en", "named"],
              title=f"Names of {name}")
