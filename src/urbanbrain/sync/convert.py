"""Conform a source batch to its lake table: cast every column, and quarantine rows that won't go.

A value that cannot be converted never fails the batch and is never dropped silently: its row goes to
quarantine with a reason naming the column, the value and the target type.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from urbanbrain.connect.base import Reject

_NESTED = (pa.types.is_list, pa.types.is_large_list, pa.types.is_struct, pa.types.is_map,
           pa.types.is_fixed_size_list)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def row_json(batch: pa.RecordBatch | pa.Table, index: int) -> str:
    row = {name: batch.column(i)[index].as_py() for i, name in enumerate(batch.schema.names)}
    return json.dumps(row, ensure_ascii=False, default=_json_default)


def _to_text(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    values = column.to_pylist()
    return pa.array([None if v is None else (v if isinstance(v, str) else
                     json.dumps(v, ensure_ascii=False, default=_json_default)) for v in values], pa.string())


def _cast_column(column: pa.Array, target: pa.DataType) -> tuple[pa.Array, list[tuple[int, str]]]:
    """Cast; on failure, find the offending rows one value at a time (the slow path is rare)."""
    if column.type == target:
        return column, []
    textual = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    if pa.types.is_string(target) and (any(check(column.type) for check in _NESTED) or not textual):
        return _to_text(column), []
    try:
        return pc.cast(column, target, safe=True), []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    if pa.types.is_timestamp(column.type) and pa.types.is_timestamp(target):
        return pc.cast(column, target, safe=False), []  # sub-microsecond precision is truncated
    bad: list[tuple[int, str]] = []
    good: list[Any] = []
    for i in range(len(column)):
        scalar = column[i]
        try:
            good.append(scalar.cast(target, safe=True).as_py() if scalar.is_valid else None)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError):
            bad.append((i, f"cannot convert {scalar.as_py()!r} to {target}"))
            good.append(None)
    return pa.array(good, target), bad


def conform(batch: pa.RecordBatch, target: pa.Schema, lineage: dict[str, Any]) -> tuple[pa.Table, list[Reject]]:
    """Return (rows ready for the table, rows for quarantine)."""
    n = batch.num_rows
    arrays: list[pa.Array] = []
    problems: dict[int, list[str]] = {}
    names = set(batch.schema.names)
    for field in target:
        if field.name in lineage:
            arrays.append(pa.repeat(pa.scalar(lineage[field.name], type=field.type), n))
        elif field.name in names:
            column = batch.column(field.name)
            if pa.types.is_dictionary(column.type):
                column = column.dictionary_decode()
            casted, bad = _cast_column(column, field.type)
            for index, reason in bad:
                problems.setdefault(index, []).append(f"column {field.name!r}: {reason}")
            arrays.append(casted)
        else:
            arrays.append(pa.nulls(n, field.type))
    table = pa.Table.from_arrays(arrays, schema=target)
    if not problems:
        return table, []
    rejects = [Reject(record=row_json(batch, i), reason="; ".join(reasons)) for i, reasons in sorted(problems.items())]
    keep = pa.array([i not in problems for i in range(n)])
    return table.filter(keep), rejects


QUARANTINE_SCHEMA = pa.schema([
    pa.field("_ub_reason", pa.string()),
    pa.field("_ub_record", pa.string()),
    pa.field("_ub_cursor_from", pa.string()),
])


def rejects_table(rejects: list[Reject], cursor_from: str, target: pa.Schema, lineage: dict[str, Any]) -> pa.Table:
    n = len(rejects)
    columns: dict[str, pa.Array] = {
        "_ub_reason": pa.array([r.reason for r in rejects], pa.string()),
        "_ub_record": pa.array([r.record for r in rejects], pa.string()),
        "_ub_cursor_from": pa.array([cursor_from] * n, pa.string()),
    }
    arrays = [columns[f.name] if f.name in columns else pa.repeat(pa.scalar(lineage.get(f.name), type=f.type), n)
              for f in target]
    return pa.Table.from_arrays(arrays, schema=target)
