"""`urbanbrain classify ...`: stewards set sharing levels, PII types and masks, per field and per dataset."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from urbanbrain.cli.acting import AsOption, acting_principal
from urbanbrain.cli.output import Format, FormatOption, OutputOption, console, emit_rows
from urbanbrain.core.lazy import lazy_module

if TYPE_CHECKING:  # the real modules for mypy; at run time they load on first use (keeps --help instant)
    from urbanbrain.govern import classification as svc
else:
    svc = lazy_module("urbanbrain.govern.classification")

app = typer.Typer(no_args_is_help=True)

COLUMNS = ["column", "type", "level", "pii_type", "mask", "status", "proposed_pii_type", "proposed_confidence"]
DatasetArg = Annotated[str, typer.Argument(help="department.system.object")]


@app.command("show")
def show(dataset: DatasetArg, fmt: FormatOption = Format.table, output: OutputOption = None) -> None:
    """Every field's level, PII type and mask (unclassified fields show the dataset default)."""
    default, fields = svc.get_classification(dataset)
    emit_rows([f.as_dict() for f in fields], fmt, columns=COLUMNS, title=f"{dataset} (default: {default})",
              output=output)


@app.command("set")
def set_(
    dataset: DatasetArg,
    column: Annotated[str, typer.Argument(help="Field name.")],
    level: Annotated[str | None, typer.Option("--level", help="open, conditional or closed.")] = None,
    pii: Annotated[str | None, typer.Option("--pii", help="PII type, or `proposed` to accept the proposal.")] = None,
    no_pii: Annotated[bool, typer.Option("--no-pii", help="The field holds no personal information.")] = False,
    mask: Annotated[str | None, typer.Option("--mask", help="partial, hash, redact or none.")] = None,
    as_: AsOption = None,
) -> None:
    """Confirm or correct one field; syncs leave a confirmed field alone."""
    info = svc.set_field(dataset, column, level=level, pii_type=pii, mask=mask, clear_pii=no_pii,
                         by=acting_principal(as_))
    console.print(f"{dataset}.{column}: {info.level}, PII {info.pii_type or '-'}, mask {info.mask}")


@app.command("default")
def default(dataset: DatasetArg, level: Annotated[str, typer.Argument(help="open, conditional or closed.")],
            as_: AsOption = None) -> None:
    """The level of every field nobody has classified."""
    svc.set_default_level(dataset, level, by=acting_principal(as_))
    console.print(f"{dataset}: unclassified fields are {level}")


@app.command("filter")
def filter_(
    dataset: DatasetArg,
    dept: Annotated[str, typer.Argument(help="The department whose rows are limited.")],
    predicate: Annotated[str | None, typer.Argument(help="A condition, e.g. \"district = '岳麓区'\".")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the filter.")] = False,
    as_: AsOption = None,
) -> None:
    """Limit the rows one department sees of a dataset."""
    if predicate is None and not clear:
        raise typer.BadParameter("give a predicate, or --clear")
    svc.set_row_filter(dataset, dept, None if clear else predicate, by=acting_principal(as_))
    console.print(f"{dept} sees {'all rows' if clear else 'rows where ' + str(predicate)} of {dataset}")


@app.command("propose")
def propose(dataset: DatasetArg) -> None:
    """Sample unclassified fields and propose PII types (syncs do this for new fields)."""
    found = svc.propose_new_columns(dataset)
    console.print(f"proposals for: {', '.join(found)}" if found else "no new PII proposals")
