"""The one formatter every listing command uses: `--format table|csv|json|parquet`.

Commands shape their rows (a list of dicts, or an Arrow table for query results) and hand them here,
so every listing speaks the same four formats the same way: a Rich table for people, CSV with a
header and JSON (a list of objects, ISO datetimes) for scripts, Parquet for analysts. Parquet is
binary: it goes to `--output FILE`, or to stdout only when stdout is not a terminal.
"""

from __future__ import annotations

import base64
import io
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum, StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, cast

import typer

from urbanbrain.core.errors import ValidationError

if TYPE_CHECKING:  # Arrow, pydantic and Rich load only when a command prints (keeps --help instant)
    import pyarrow as pa
    from pydantic import BaseModel
    from rich.console import Console


class _LazyConsole:
    """A Rich console made on first use: `urbanbrain <group> --help` never prints through Rich."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def _real(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)

    def __enter__(self) -> Console:  # Rich's Live (progress bars) enters its console
        return self._real().__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._real().__exit__(*exc)


console = cast("Console", _LazyConsole(soft_wrap=False, width=None if sys.stdout.isatty() else 160))
err_console = cast("Console", _LazyConsole(stderr=True))


def escape(text: str) -> str:
    """rich.markup.escape, imported when first needed."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)

TABLE_MAX_ROWS = 1_000  # a terminal table longer than this helps nobody; CSV/Parquet have no such limit


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout (needed for parquet "
                                                       "on a terminal).", dir_okay=False)
]


def json_default(value: Any) -> Any:
    """JSON for the values Arrow and our models carry: ISO datetimes, exact decimals as text."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if hasattr(value, "model_dump"):  # a pydantic model
        return value.model_dump(mode="json")
    return str(value)


def _cell(value: Any) -> Any:
    """Flatten one metadata value for formats that have no nesting (table, CSV, Parquet)."""
    if isinstance(value, list | tuple):
        if all(isinstance(v, str | int | float) for v in value):
            return ", ".join(str(v) for v in value)
        return json.dumps(value, default=json_default, ensure_ascii=False)
    if isinstance(value, dict):
        return json.dumps(value, default=json_default, ensure_ascii=False)
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, Enum):
        return value.value
    return value


def model_rows(models: Iterable[BaseModel], fields: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Rows from public models, keeping `fields` (in that order) when given."""
    rows = []
    for model in models:
        data = model.model_dump()
        rows.append({f: data.get(f) for f in fields} if fields else data)
    return rows


def rows_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> pa.Table:
    """Metadata rows as a flat Arrow table (nested values become text, all-null columns text)."""
    import pyarrow as pa

    data = {c: [_cell(r.get(c)) for r in rows] for c in columns}
    arrays = []
    for c in columns:
        try:
            array = pa.array(data[c])
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            array = pa.array([None if v is None else str(v) for v in data[c]], pa.string())
        if pa.types.is_null(array.type):
            array = array.cast(pa.string())
        arrays.append(array)
    return pa.Table.from_arrays(arrays, names=list(columns))


def emit_rows(
    rows: Sequence[Mapping[str, Any]],
    fmt: Format = Format.table,
    *,
    columns: Sequence[str] | None = None,
    title: str | None = None,
    output: Path | None = None,
    vertical: bool = False,
) -> None:
    """Print metadata rows; JSON keeps nesting, the flat formats flatten it."""
    cols = list(columns) if columns is not None else _columns(rows)
    if fmt is Format.json:
        payload = [{c: r.get(c) for c in cols} for r in rows]
        _write_text(json.dumps(payload, default=json_default, ensure_ascii=False, indent=2) + "\n", output)
        return
    if fmt is Format.table and vertical and len(rows) == 1:
        _print_vertical(rows[0], cols, title)
        return
    if fmt is Format.table:  # straight to Rich: a listing on a terminal needs no Arrow
        flat = [[_cell(r.get(c)) for c in cols] for r in rows]
        numeric = [all(isinstance(row[i], int | float | Decimal) and not isinstance(row[i], bool)
                       for row in flat if row[i] is not None) and any(row[i] is not None for row in flat)
                   for i in range(len(cols))]
        _print_rows(list(zip(cols, numeric, strict=True)), iter(flat), title, output, None)
        return
    emit_table(rows_table(rows, cols), fmt, title=title, output=output)


def emit_record(record: Mapping[str, Any], fmt: Format = Format.table, *, title: str | None = None,
                output: Path | None = None) -> None:
    """One object (`show` commands): key/value lines as a table, else like a one-row listing."""
    emit_rows([record], fmt, title=title, output=output, vertical=True)


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for r in rows:
        for key in r:
            seen.setdefault(key, None)
    return list(seen)


def emit_table(table: pa.Table, fmt: Format = Format.table, *, title: str | None = None,
               output: Path | None = None, truncated: bool = False) -> None:
    """Print an Arrow table (query results, previews, flattened listings) in the chosen format."""
    emit_batches(table.schema, table.to_batches(), fmt, title=title, output=output, truncated=truncated)


def emit_batches(schema: pa.Schema, batches: Iterable[pa.RecordBatch], fmt: Format = Format.table, *,
                 title: str | None = None, output: Path | None = None, truncated: bool = False) -> int:
    """Stream batches out without holding them all (CSV, Parquet); returns the rows written."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rows = 0
    if fmt is Format.csv:
        from urbanbrain.lake.types import csv_ready

        with _binary_sink(output) as sink:
            first = True
            for batch in batches:
                pacsv.write_csv(csv_ready(pa.Table.from_batches([batch], schema)), sink,
                                pacsv.WriteOptions(include_header=first))
                first = False
                rows += batch.num_rows
            if first:
                pacsv.write_csv(csv_ready(schema.empty_table()), sink, pacsv.WriteOptions(include_header=True))
    elif fmt is Format.parquet:
        if output is None and sys.stdout.isatty():
            raise ValidationError("refusing to write binary Parquet to a terminal",
                                  hint="add --output FILE.parquet, or redirect stdout to a file")
        with _binary_sink(output) as sink, pq.ParquetWriter(sink, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
                rows += batch.num_rows
    elif fmt is Format.json:
        records: list[dict[str, Any]] = []
        for batch in batches:
            records.extend(batch.to_pylist())
        rows = len(records)
        _write_text(json.dumps(records, default=json_default, ensure_ascii=False, indent=2) + "\n", output)
    else:
        rows = _print_rich(schema, batches, title, output)
    if truncated:
        err_console.print(f"[yellow]truncated: showing the first {rows} rows (raise --max-rows for more)[/yellow]")
    return rows


class _Sink(io.RawIOBase):
    """A write-only binary stream over stdout or a file that tracks its position (Parquet asks for it)."""

    def __init__(self, target: BinaryIO) -> None:
        self.target = target
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        written = self.target.write(bytes(data))
        self.position += len(data)
        return written if written is not None else len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        self.target.flush()


@contextmanager
def _binary_sink(output: Path | None) -> Iterator[_Sink]:
    """A file when `--output` is given, else stdout's byte stream."""
    if output is not None:
        with open(output, "wb") as handle:
            yield _Sink(handle)
        return
    yield _Sink(sys.stdout.buffer)
    sys.stdout.buffer.flush()


def _write_text(text: str, output: Path | None) -> None:
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def _display(value: Any) -> str:
    if value is None:
        return "[dim]∅[/dim]"
    if isinstance(value, datetime):
        return escape(value.isoformat(sep=" ", timespec="seconds"))
    if isinstance(value, list | dict):
        return escape(json.dumps(value, default=json_default, ensure_ascii=False))
    return escape(str(value))


def _limited(batches: Iterable[pa.RecordBatch], limit: int, more: list[bool]) -> Iterator[tuple[Any, ...]]:
    """Rows as tuples (not dicts: `SELECT 1 a, 2 a` has two columns named a)."""
    shown = 0
    for batch in batches:
        for row in zip(*[c.to_pylist() for c in batch.columns], strict=True):
            if shown >= limit:
                more.append(True)
                return
            shown += 1
            yield row


def _print_rich(schema: pa.Schema, batches: Iterable[pa.RecordBatch], title: str | None,
                output: Path | None) -> int:
    import pyarrow as pa

    columns = [(field.name, pa.types.is_integer(field.type) or pa.types.is_floating(field.type)
                or pa.types.is_decimal(field.type)) for field in schema]
    more: list[bool] = []
    return _print_rows(columns, _limited(batches, TABLE_MAX_ROWS, more), title, output, more)


def _print_rows(columns: Sequence[tuple[str, bool]], rows: Iterator[Sequence[Any]], title: str | None,
                output: Path | None, more: list[bool] | None) -> int:
    """A Rich table of (name, numeric) columns; stops at TABLE_MAX_ROWS."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, header_style="bold cyan", show_lines=False)
    for name, numeric in columns:
        table.add_column(escape(name), justify="right" if numeric else "left", overflow="fold")
    shown = 0
    for row in rows:
        if shown >= TABLE_MAX_ROWS:
            more = [True]
            break
        table.add_row(*[_display(v) for v in row])
        shown += 1
    if output is not None:
        with open(output, "w", encoding="utf-8") as fh:
            Console(file=fh, width=200).print(table)
    else:
        console.print(table)
    if shown == 0:
        err_console.print("[dim](no rows)[/dim]")
    elif more:
        err_console.print(f"[yellow]table output stops at {TABLE_MAX_ROWS} rows; use --format csv or parquet "
                          "for all of them[/yellow]")
    return shown


def _print_vertical(record: Mapping[str, Any], columns: Sequence[str], title: str | None) -> None:
    from rich.table import Table

    table = Table(title=title, show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column(overflow="fold")
    for c in columns:
        table.add_row(escape(c), _display(record.get(c)))
    console.print(table)


def say(message: str) -> None:
    """A status line for people (stderr, so stdout stays clean for pipes)."""
    err_console.print(message, soft_wrap=True)
