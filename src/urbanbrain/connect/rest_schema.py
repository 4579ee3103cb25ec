"""JSON records -> Arrow for the REST connector: type inference, strict conversion, the `_extra` column.

JSON has no schema, yet the lake needs one that stays the same for a whole read. So the schema is
inferred once (from a sample: the first page) and then every record is converted *to* it:

- types: int64, float64, bool, string, and timestamp[us] (tz=UTC when the strings carry an offset)
  for ISO-8601 date-time strings, only when every sampled value parses; nested objects and arrays
  become string columns holding JSON text; a column whose sampled values are all null is string;
  mixed types fall back to string.
- a key that is absent in a record is null.
- a key that was not in the inferred schema is not dropped silently: all such keys of a record go
  into one JSON-text column `_extra`, present in every schema (null when a record has nothing extra),
  so a field an API adds later is kept and can be promoted to a column by the next discovery.
- a value that cannot be converted (e.g. "abc" for int64) makes the whole record a `Reject`
  with the reason; the row is left out of the batch rather than silently turned into null.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from urbanbrain.connect.base import ColumnInfo
from urbanbrain.core.errors import ConfigurationError

EXTRA = "_extra"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
TS = pa.timestamp("us")
TS_UTC = pa.timestamp("us", tz="UTC")

# names accepted in an endpoint's `columns` option to pin a type instead of inferring it
PINNED_TYPES: dict[str, pa.DataType] = {
    "int64": pa.int64(), "integer": pa.int64(), "bigint": pa.int64(),
    "float64": pa.float64(), "double": pa.float64(), "number": pa.float64(),
    "bool": pa.bool_(), "boolean": pa.bool_(),
    "string": pa.string(), "text": pa.string(), "json": pa.string(),
    "timestamp": TS, "timestamp[us]": TS,
    "timestamptz": TS_UTC, "timestamp[us, tz=UTC]": TS_UTC,
}


class ConversionError(ValueError):
    """One value does not fit its column; `reason` is what the reject records."""

    def __init__(self, name: str, value: Any, type_: pa.DataType) -> None:
        shown = repr(value) if not isinstance(value, dict | list) else json.dumps(value, default=str)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        self.reason = f"field {name!r}: cannot convert {shown} to {type_}"
        super().__init__(self.reason)


def _missing(value: Any) -> bool:
    """JSON null and the empty (or blank) string are both missing, as an empty cell is in a CSV file:
    the same source value must land the same way whichever connector reads it."""
    return value is None or (isinstance(value, str) and not value.strip())


def as_record(item: Any) -> dict[str, Any]:
    """APIs sometimes return a list of scalars; each becomes `{"value": item}`."""
    return item if isinstance(item, dict) else {"value": item}


def parse_datetime(text: str) -> datetime | None:
    """An ISO-8601 date *and time* (a bare date stays text), or None."""
    if not _DATETIME.match(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _infer(values: list[Any]) -> tuple[pa.DataType, str]:
    """Arrow type and a human note on the JSON it came from, for one column's non-null sample."""
    if not values:
        return pa.string(), "json null"
    if all(isinstance(v, bool) for v in values):
        return pa.bool_(), "json boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        if all(INT64_MIN <= v <= INT64_MAX for v in values):
            return pa.int64(), "json integer"
        return pa.string(), "json integer beyond int64"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return pa.float64(), "json number"
    if all(isinstance(v, str) for v in values):
        parsed = [parse_datetime(v) for v in values]
        if all(p is not None for p in parsed):
            aware = {p.tzinfo is not None for p in parsed if p is not None}
            if aware == {True}:
                return TS_UTC, "json string (date-time with offset)"
            if aware == {False}:
                return TS, "json string (date-time)"
        return pa.string(), "json string"
    if all(isinstance(v, dict | list) for v in values):
        return pa.string(), "json object/array (stored as JSON text)"
    return pa.string(), "json mixed types (stored as text)"


def infer_columns(records: list[dict[str, Any]], pinned: dict[str, str] | None = None) -> list[ColumnInfo]:
    """Columns for a sample of records: union of keys in first-seen order, plus `_extra` last.

    `pinned` ({"id": "int64"}) overrides inference for the named columns and adds them even when
    the sample lacks them, for APIs whose first page is not representative.
    """
    samples: dict[str, list[Any]] = {}
    for record in records:
        for key, value in record.items():
            if key == EXTRA:
                continue  # a source field of that name is kept inside our `_extra`
            bucket = samples.setdefault(key, [])
            if not _missing(value):
                bucket.append(value)
    columns: list[ColumnInfo] = []
    for name in list(pinned or {}) + [k for k in samples if k not in (pinned or {})]:
        if name == EXTRA:
            continue
        if pinned and name in pinned:
            type_name = str(pinned[name])
            if type_name not in PINNED_TYPES:
                raise ConfigurationError(f"column {name!r}: unknown type {type_name!r}",
                                         hint=f"use one of {', '.join(PINNED_TYPES)}")
            columns.append(ColumnInfo(name, PINNED_TYPES[type_name], True, f"pinned {type_name}"))
        else:
            type_, note = _infer(samples[name])
            columns.append(ColumnInfo(name, type_, True, note))
    columns.append(ColumnInfo(EXTRA, pa.string(), True, "JSON object of fields not in this schema"))
    return columns


# --- conversion -------------------------------------------------------------------------------


def _to_int(v: Any) -> int:
    if isinstance(v, bool):
        raise TypeError
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    elif isinstance(v, str):
        v = int(v.strip())
    if not isinstance(v, int) or not INT64_MIN <= v <= INT64_MAX:
        raise TypeError
    return v


def _to_float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise TypeError
    return float(v)


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    raise TypeError


def _to_text(v: Any) -> str:
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False, default=str)


def _to_timestamp(aware: bool) -> Callable[[Any], datetime]:
    def convert(v: Any) -> datetime:
        parsed = parse_datetime(v) if isinstance(v, str) else None
        if parsed is None:
            raise TypeError
        if aware:  # naive text in a UTC column is taken as UTC
            return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed

    return convert


def converter_for(type_: pa.DataType) -> Callable[[Any], Any]:
    """The strict Python-side conversion of one JSON value to a column's type."""
    if type_ == pa.int64():
        return _to_int
    if type_ == pa.float64():
        return _to_float
    if type_ == pa.bool_():
        return _to_bool
    if pa.types.is_timestamp(type_):
        return _to_timestamp(type_.tz is not None)
    return _to_text


class RowConverter:
    """Converts records to rows of one fixed schema (the last field is always `_extra`)."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.names = [f.name for f in schema if f.name != EXTRA]
        self.known = set(self.names)
        self.converters = [(f.name, f.type, converter_for(f.type)) for f in schema if f.name != EXTRA]

    def convert(self, record: dict[str, Any]) -> list[Any]:
        """One row in schema order; raises `ConversionError` naming the first field that does not fit."""
        row: list[Any] = []
        for name, type_, conv in self.converters:
            value = record.get(name)
            if _missing(value):
                row.append(None)
                continue
            try:
                row.append(conv(value))
            except (TypeError, ValueError, OverflowError):
                raise ConversionError(name, value, type_) from None
        extra = {k: v for k, v in record.items() if k not in self.known}
        row.append(json.dumps(extra, ensure_ascii=False, default=str) if extra else None)
        return row

    def batch(self, rows: list[list[Any]]) -> pa.RecordBatch:
        """Rows (already converted) -> one RecordBatch with exactly `schema`."""
        arrays = [pa.array([r[i] for r in rows], type=f.type) for i, f in enumerate(self.schema)]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)
