"""Per-format readers for the files connector: plan once (columns, types), then stream batches.

Every text format (CSV, xlsx, JSON, NDJSON) is read as columns of strings, so all of them share one
type inference and quarantine path (`urbanbrain.connect.coerce`). A reader yields
`(string batch or None, rejects)` pairs of at most `batch_rows` rows; structural problems (a CSV line
with the wrong number of fields, a bad NDJSON line, a JSON record that is not an object) are rejects
here, value conversion problems are rejects in `coerce`. Parquet already carries types and yields
typed batches.

JSON columns: the union of the keys of every record (NDJSON: found in a cheap first pass over the
file), in first-seen order, so no key is ever lost and the schema is the same for every batch.
Nested objects and arrays are kept as JSON text.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from urbanbrain.connect import coerce, encoding
from urbanbrain.connect.base import Reject
from urbanbrain.core.errors import SourceFormatError
from urbanbrain.core.naming import column_identifier

MAX_JSON_BYTES = 512 * 1024 * 1024
DELIMITERS = ",;\t|"
_COUNT_LINES_UP_TO = 256 * 1024 * 1024

RawBatches = Iterator[tuple[pa.RecordBatch | None, list[Reject]]]


@dataclass
class Plan:
    """What one object looks like, inferred once per file version and shared by discover and read."""

    specs: list[coerce.ColumnSpec]
    keys: list[str]  # the source's own column names (header cells, JSON keys), same order as specs
    row_estimate: int | None = None
    typed: bool = False  # parquet: batches arrive typed, no conversion
    encoding: str | None = None
    delimiter: str | None = None
    cursor_candidates: list[str] = field(default_factory=list)
    inference: coerce.Inference | None = None  # what every value allows; merged across a system's files
    increasing: set[str] = field(default_factory=set)  # integer-looking columns that never decrease
    null_values: tuple[str, ...] = coerce.DEFAULT_NULL_TOKENS


def _names(keys: list[str]) -> list[str]:
    taken: set[str] = set()
    return [column_identifier(str(k), taken) for k in keys]


def _string_batch(names: list[str], columns: list[list[str | None]]) -> pa.RecordBatch:
    schema = pa.schema([pa.field(n, pa.string()) for n in names])
    return pa.RecordBatch.from_arrays([pa.array(c, pa.string()) for c in columns], schema=schema)


def nullify_batch(batch: pa.RecordBatch, tokens: tuple[str, ...]) -> pa.RecordBatch:
    """Missing-value tokens become nulls in every text column (CSV batches already had them read as
    nulls by pyarrow; this is the one place for xlsx and JSON)."""
    if not tokens:
        return batch
    arrays = [coerce.nullify(coerce._as_array(c), tokens) for c in batch.columns]
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)


def _whole_object_plan(keys: list[str], batches: Iterator[pa.RecordBatch], tokens: tuple[str, ...],
                       **kw: Any) -> Plan:
    """Infer from every row of the object (not its first rows), so a late value never contradicts
    the type; the first rows also say which integer columns only ever increase (cursor candidates)."""
    names = _names(keys)
    inference = coerce.Inference(names)
    head: list[pa.RecordBatch] = []
    head_rows = 0
    for raw in batches:
        batch = nullify_batch(pa.RecordBatch.from_arrays(raw.columns, names=names), tokens)
        inference.update(batch)
        if head_rows < coerce.SAMPLE_ROWS:
            head.append(batch.slice(0, coerce.SAMPLE_ROWS - head_rows))
            head_rows += head[-1].num_rows
    increasing: set[str] = set()
    for i, name in enumerate(names):
        if not head:
            break
        column = pa.concat_arrays([coerce._as_array(b.column(i)) for b in head])
        typed = coerce.parse_column(column, coerce.ColumnSpec(name, pa.int64(), "int"))
        if typed.null_count < len(typed) and coerce.looks_increasing(typed):
            increasing.add(name)
    plan = Plan(inference.specs(), keys, inference=inference, increasing=increasing, null_values=tokens, **kw)
    plan.cursor_candidates = cursor_candidates(plan.specs, increasing)
    return plan


def cursor_candidates(specs: list[coerce.ColumnSpec], increasing: set[str]) -> list[str]:
    return [s.name for s in specs if coerce.is_cursor_like(s.name, s)
            or (pa.types.is_integer(s.type) and s.name in increasing)]


# --- CSV -------------------------------------------------------------------------------------


def sniff_delimiter(text: str) -> str:
    """The candidate delimiter giving the most rows with one consistent field count (>1)."""
    lines = text.splitlines(keepends=True)[:200]
    if len(lines) > 1:
        lines = lines[:-1]  # the sample may cut the last line
    best, best_score = ",", (0.0, 0)
    for delim in DELIMITERS:
        counts = [len(r) for r in csv.reader(io.StringIO("".join(lines)), delimiter=delim) if r]
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        if mode < 2:
            continue
        score = (counts.count(mode) / len(counts), mode)
        if score > best_score:
            best, best_score = delim, score
    return best


def _arrow_encoding(enc: str) -> str:
    # Arrow reads UTF-8 natively and skips a BOM itself; anything else is transcoded via Python.
    return "utf8" if enc in ("utf-8", "utf-8-sig") else enc


def _count_rows(path: Path, size: int) -> int | None:
    if size > _COUNT_LINES_UP_TO:
        return None
    lines, last = 0, b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1
    return max(lines - 1, 0)


class _CsvStream:
    """pyarrow's streaming CSV reader, all columns as strings, bad lines collected as rejects."""

    def __init__(self, path: Path, plan: Plan, block_size: int) -> None:
        import pyarrow.csv as pcsv

        self.path, self.plan = path, plan
        self._bad: list[tuple[int | None, str, int, int]] = []
        self._good = self._invalid_seen = self._newlines = 0
        names = [s.name for s in plan.specs]
        assert plan.encoding is not None and plan.delimiter is not None
        try:
            self.reader = pcsv.open_csv(
                path,
                read_options=pcsv.ReadOptions(
                    use_threads=False,  # line numbers in invalid_row_handler need a serial reader
                    block_size=block_size,
                    skip_rows=1,
                    column_names=names,
                    encoding=_arrow_encoding(plan.encoding),
                ),
                parse_options=pcsv.ParseOptions(
                    delimiter=plan.delimiter, newlines_in_values=True, invalid_row_handler=self._invalid
                ),
                convert_options=pcsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                    null_values=list(plan.null_values) or [""],  # missing-value tokens, natively
                ),
            )
        except Exception as exc:
            raise _csv_error(path, plan.encoding, exc) from exc

    def _invalid(self, row: Any) -> str:
        self._bad.append((row.number, row.text, row.expected_columns, row.actual_columns))
        return "skip"

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        while True:
            try:
                batch = self.reader.read_next_batch()
            except StopIteration:
                return
            except Exception as exc:
                raise _csv_error(self.path, self.plan.encoding or "", exc) from exc
            yield batch

    def take_rejects(self, batch: pa.RecordBatch | None) -> list[Reject]:
        """Rejects for the lines skipped while parsing `batch`, with physical line numbers.

        pyarrow numbers records (header = 1), not lines; a quoted field spanning lines shifts
        every later line, so the newlines inside earlier values are added back here.
        """
        per_row: list[int] = []
        if batch is not None and batch.num_rows:
            total = pa.array([0] * batch.num_rows, pa.int64())
            for col in batch.columns:
                counts = pc.fill_null(pc.count_substring(col, "\n"), 0)
                total = pc.add(total, pc.cast(counts, pa.int64()))
            per_row = total.to_pylist()
        out: list[Reject] = []
        cum, k = 0, 0  # newlines in this batch's rows before the bad line; rows consumed
        while self._bad:
            number, text, expected, actual = self._bad[0]
            if number is None:
                where = "a line"
            else:
                rows_before = number - 2 - self._good - self._invalid_seen
                if batch is not None and rows_before > len(per_row):
                    break  # parsed ahead: belongs after a later batch
                while k < min(rows_before, len(per_row)):
                    cum += per_row[k]
                    k += 1
                where = f"line {number + self._newlines + cum}"
            self._bad.pop(0)
            out.append(Reject(record=text, reason=f"{where}: expected {expected} fields, found {actual}"))
            self._invalid_seen += 1
            self._newlines += text.count("\n")
        self._good += len(per_row)
        self._newlines += sum(per_row)
        return out


def _csv_error(path: Path, enc: str, exc: Exception) -> Exception:
    text = str(exc)
    if isinstance(exc, UnicodeDecodeError) or "utf8" in text.lower() or "utf-8" in text.lower():
        return encoding.decode_error(path, enc)
    if isinstance(exc, PermissionError | FileNotFoundError):
        return exc
    return SourceFormatError(f"cannot parse CSV {path}: {text}", file=str(path))


def plan_csv(path: Path, enc_option: str, delimiter: str | None,
             tokens: tuple[str, ...] = coerce.DEFAULT_NULL_TOKENS) -> Plan:
    """Encoding, delimiter, header and column types of one CSV file (types from every row)."""
    enc = encoding.resolve(path, enc_option)
    text = encoding.decode_sample(path, enc)
    size = path.stat().st_size
    if not text.strip():
        return Plan([], [], row_estimate=0, encoding=enc, delimiter=delimiter or ",", null_values=tokens)
    delim = delimiter or sniff_delimiter(text)
    header = next(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delim))
    plan = Plan([coerce.ColumnSpec(n, pa.string()) for n in _names(header)], header, encoding=enc, delimiter=delim,
                null_values=tokens)
    stream = _CsvStream(path, plan, block_size=4 << 20)
    return _whole_object_plan(header, iter(stream), tokens, encoding=enc, delimiter=delim,
                              row_estimate=_count_rows(path, size))


def plan_schema(plan: Plan) -> pa.Schema:
    return coerce.schema_of(plan.specs)


def iter_csv(path: Path, plan: Plan, batch_rows: int) -> RawBatches:
    """String batches of at most `batch_rows` rows; the whole file is never in memory."""
    if not plan.specs:
        return
    per_row = max(path.stat().st_size // max(plan.row_estimate or 1, 1), 64)
    block = min(max(per_row * batch_rows, 1 << 20), 64 << 20)
    stream = _CsvStream(path, plan, block_size=block)
    for batch in stream:
        pending = stream.take_rejects(batch)
        for start in range(0, batch.num_rows, batch_rows):
            yield batch.slice(start, batch_rows), pending
            pending = []
        if pending:
            yield None, pending
    if tail := stream.take_rejects(None):
        yield None, tail


# --- xlsx ------------------------------------------------------------------------------------


def _cell_text(value: Any) -> str | None:
    """One cell or JSON value as the text the inference reads; nested values as JSON text."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def sheet_names(path: Path) -> list[str]:
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(path))
    try:
        return list(wb.sheet_names)
    finally:
        wb.close()


def _xlsx_rows(path: Path, sheet: str) -> Iterator[list[Any]]:
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(path))
    try:
        yield from wb.get_sheet_by_name(sheet).iter_rows()
    finally:
        wb.close()


def _batches_of_rows(
    rows: Iterator[list[str | None]], width: int, names: list[str], batch_rows: int
) -> Iterator[pa.RecordBatch]:
    columns: list[list[str | None]] = [[] for _ in range(width)]
    count = 0
    for row in rows:
        for i in range(width):
            columns[i].append(row[i] if i < len(row) else None)
        count += 1
        if count == batch_rows:
            yield _string_batch(names, columns)
            columns, count = [[] for _ in range(width)], 0
    if count:
        yield _string_batch(names, columns)


def _xlsx_text_rows(rows: Iterator[list[Any]]) -> Iterator[list[str | None]]:
    for row in rows:
        cells = [_cell_text(v) for v in row]
        if any(c is not None for c in cells):  # wholly empty rows carry no data
            yield cells


def plan_xlsx(path: Path, sheet: str, tokens: tuple[str, ...] = coerce.DEFAULT_NULL_TOKENS) -> Plan:
    rows = _xlsx_rows(path, sheet)
    header = next(rows, None)
    if header is None:
        return Plan([], [], row_estimate=0, null_values=tokens)
    keys = [_cell_text(v) or "" for v in header]
    names = _names(keys)
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(path))
    try:
        estimate = max(wb.get_sheet_by_name(sheet).height - 1, 0)
    finally:
        wb.close()
    batches = _batches_of_rows(_xlsx_text_rows(rows), len(keys), names, coerce.SAMPLE_ROWS)
    return _whole_object_plan(keys, batches, tokens, row_estimate=estimate)


def iter_xlsx(path: Path, sheet: str, plan: Plan, batch_rows: int) -> RawBatches:
    if not plan.specs:
        return
    rows = _xlsx_rows(path, sheet)
    next(rows, None)
    names = [s.name for s in plan.specs]
    for batch in _batches_of_rows(_xlsx_text_rows(rows), len(names), names, batch_rows):
        yield batch, []


# --- JSON and NDJSON -------------------------------------------------------------------------


def _load_json(path: Path, enc_option: str) -> Any:
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise SourceFormatError(
            f"{path} is {size // (1 << 20)} MB, too large to load as one JSON document",
            hint="export it as NDJSON (one JSON object per line, format='ndjson'), which is streamed",
            file=str(path),
        )
    enc = encoding.resolve(path, enc_option)
    try:
        with path.open(encoding=enc) as fh:
            return json.load(fh)
    except UnicodeDecodeError as exc:
        raise encoding.decode_error(path, enc) from exc
    except json.JSONDecodeError as exc:
        raise SourceFormatError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", file=str(path)
        ) from exc


def _records(doc: Any, records_path: str | None, path: Path) -> list[Any]:
    node = doc
    if records_path:
        for part in records_path.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise SourceFormatError(
                    f"{path} has no {records_path!r} (stopped at {part!r})",
                    hint="set 'records_path' to the dotted path of the list of records, e.g. 'data.items'",
                    file=str(path),
                )
    elif isinstance(node, dict):
        node = next((v for v in node.values() if isinstance(v, list)), node)
    if isinstance(node, dict):
        return [node]
    if not isinstance(node, list):
        raise SourceFormatError(
            f"{path}: {records_path or 'the document'} is not a list of records",
            hint="set 'records_path' to the dotted path of the list of records",
            file=str(path),
        )
    return node


def _key_union(records: Iterator[dict[str, Any]]) -> list[str]:
    keys: dict[str, None] = {}
    for rec in records:
        for k in rec:
            if k not in keys:
                keys[k] = None
    return list(keys)


def _record_batches(
    records: Iterator[dict[str, Any]], keys: list[str], names: list[str], batch_rows: int
) -> Iterator[pa.RecordBatch]:
    rows = ([_cell_text(rec.get(k)) for k in keys] for rec in records)
    yield from _batches_of_rows(rows, len(keys), names, batch_rows)


def plan_json(path: Path, enc_option: str, records_path: str | None,
              tokens: tuple[str, ...] = coerce.DEFAULT_NULL_TOKENS) -> Plan:
    records = _records(_load_json(path, enc_option), records_path, path)
    objs = [r for r in records if isinstance(r, dict)]
    keys = _key_union(iter(objs))
    names = _names(keys)
    batches = _record_batches(iter(objs), keys, names, coerce.SAMPLE_ROWS)
    return _whole_object_plan(keys, batches, tokens, row_estimate=len(records))


def iter_json(path: Path, enc_option: str, records_path: str | None, plan: Plan, batch_rows: int) -> RawBatches:
    records = _records(_load_json(path, enc_option), records_path, path)
    rejects: list[Reject] = []

    def objects() -> Iterator[dict[str, Any]]:
        for i, rec in enumerate(records):
            if isinstance(rec, dict):
                yield rec
            else:
                rejects.append(Reject(json.dumps(rec, ensure_ascii=False), f"record {i}: not a JSON object"))

    names = [s.name for s in plan.specs]
    for batch in _record_batches(objects(), plan.keys, names, batch_rows):
        yield batch, rejects[:]
        rejects.clear()
    if rejects:
        yield None, rejects[:]


def _ndjson_lines(path: Path, enc: str) -> Iterator[tuple[int, dict[str, Any] | None, str, str]]:
    """(line number, record or None, raw line, error) for every non-blank line."""
    try:
        with path.open(encoding=enc, newline=None) as fh:
            for number, line in enumerate(fh, start=1):
                text = line.rstrip("\n")
                if not text.strip():
                    continue
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as exc:
                    yield number, None, text, f"line {number}: invalid JSON: {exc.msg}"
                    continue
                if isinstance(value, dict):
                    yield number, value, text, ""
                else:
                    yield number, None, text, f"line {number}: not a JSON object"
    except UnicodeDecodeError as exc:
        raise encoding.decode_error(path, enc) from exc


def plan_ndjson(path: Path, enc_option: str, tokens: tuple[str, ...] = coerce.DEFAULT_NULL_TOKENS) -> Plan:
    """One cheap pass for the key union and the line count, a second one for the types."""
    enc = encoding.resolve(path, enc_option)
    keys: dict[str, None] = {}
    count = 0
    for _, rec, _, _ in _ndjson_lines(path, enc):
        count += 1
        if rec is None:
            continue
        for k in rec:
            if k not in keys:
                keys[k] = None
    key_list = list(keys)
    names = _names(key_list)
    records = (rec for _, rec, _, _ in _ndjson_lines(path, enc) if rec is not None)
    batches = _record_batches(records, key_list, names, coerce.SAMPLE_ROWS)
    return _whole_object_plan(key_list, batches, tokens, row_estimate=count, encoding=enc)


def iter_ndjson(path: Path, plan: Plan, batch_rows: int) -> RawBatches:
    rejects: list[Reject] = []

    def objects() -> Iterator[dict[str, Any]]:
        for _, rec, raw, error in _ndjson_lines(path, plan.encoding or "utf-8"):
            if rec is None:
                rejects.append(Reject(raw, error))
            else:
                yield rec

    names = [s.name for s in plan.specs]
    for batch in _record_batches(objects(), plan.keys, names, batch_rows):
        yield batch, rejects[:]
        rejects.clear()
    if rejects:
        yield None, rejects[:]


# --- Parquet ---------------------------------------------------------------------------------


def plan_parquet(path: Path) -> Plan:
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as pf:
        schema = pf.schema_arrow
        rows = pf.metadata.num_rows
    keys = list(schema.names)
    specs = [coerce.ColumnSpec(n, f.type, "native") for n, f in zip(_names(keys), schema, strict=True)]
    return Plan(specs, keys, row_estimate=rows, typed=True, cursor_candidates=cursor_candidates(specs, set()))


def iter_parquet(path: Path, plan: Plan, batch_rows: int) -> RawBatches:
    import pyarrow.parquet as pq

    schema = plan_schema(plan)
    with pq.ParquetFile(path) as pf:
        for batch in pf.iter_batches(batch_size=batch_rows):
            yield pa.RecordBatch.from_arrays(batch.columns, schema=schema), []
