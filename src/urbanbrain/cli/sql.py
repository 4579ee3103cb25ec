"""`urbanbrain sql "SELECT ..."`: query the lake read-only, in any of the four output formats.

Tables and JSON are for looking, so they stop at a row limit; CSV and Parquet are for exporting, so
without `--max-rows` they stream every row batch by batch instead of holding the result in memory.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from itertools import chain
from typing import TYPE_CHECKING, Annotated

import typer

from urbanbrain.cli.acting import AsOption, acting_principal
from urbanbrain.cli.output import TABLE_MAX_ROWS, Format, FormatOption, OutputOption, emit_batches, emit_table
from urbanbrain.core.lazy import lazy_function
from urbanbrain.govern.principals import Principal

if TYPE_CHECKING:  # the real modules for mypy; at run time they load on first use (keeps --help instant)
    import pyarrow as pa

    from urbanbrain.core.settings import get_settings
    from urbanbrain.govern.engine_choice import run_sql, stream_sql
else:
    get_settings = lazy_function("urbanbrain.core.settings", "get_settings")
    run_sql = lazy_function("urbanbrain.govern.engine_choice", "run_sql")
    stream_sql = lazy_function("urbanbrain.govern.engine_choice", "stream_sql")


def _stream(sql: str, principal: Principal, engine: str) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """Peek the first batch so errors (and the schema) surface before any output is written."""
    batches = stream_sql(sql, principal=principal, engine=engine)
    first = next(batches, None)
    if first is None:
        return run_sql(sql, max_rows=0, principal=principal, engine=engine).table.schema, iter(())

    def rest() -> Generator[pa.RecordBatch, None, None]:
        try:
            yield from chain([first], batches)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    return first.schema, rest()


def sql_command(
    query: Annotated[str, typer.Argument(metavar="SQL", help="One SELECT; datasets are department.system.object.")],
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
    max_rows: Annotated[
        int | None, typer.Option("--max-rows", min=0, help="Return at most this many rows.")
    ] = None,
    as_: AsOption = None,
    engine: Annotated[str, typer.Option(
        "--engine", help="auto (default: daft when the datasets read hold URBANBRAIN_QUERY_DAFT_ABOVE_BYTES or more, "
                         "else duckdb), duckdb, or daft (Daft over the same Iceberg tables and the same policy; "
                         "on the Ray cluster when URBANBRAIN_ENGINE=ray://...).")] = "auto",
) -> None:
    """Run a read-only SQL query over the lake (as another department sees it with --as)."""
    principal = acting_principal(as_)
    if engine.lower() not in ("auto", "duckdb", "daft"):
        raise typer.BadParameter(f"unknown engine {engine!r}: choose auto, duckdb or daft", param_hint="--engine")
    if fmt in (Format.csv, Format.parquet) and max_rows is None:
        schema, batches = _stream(query, principal, engine)
        try:
            emit_batches(schema, batches, fmt, output=output)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:  # the query's connection closes now, even when writing failed
                close()
        return
    limit = max_rows if max_rows is not None else (
        TABLE_MAX_ROWS if fmt is Format.table else get_settings().query_max_rows)
    result = run_sql(query, max_rows=limit, principal=principal, engine=engine)
    emit_table(result.table, fmt, output=output, truncated=result.truncated)
