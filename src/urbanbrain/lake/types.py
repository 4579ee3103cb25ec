"""Arrow types the lake stores, and which source type changes a table can absorb.

Iceberg has no unsigned integers, nanosecond timestamps (v2), dictionaries or intervals; each source
type maps to exactly one lake type here, so every connector's output lands the same way.
"""

from __future__ import annotations

import pyarrow as pa

from urbanbrain.core.errors import SchemaChangeError

LINEAGE_FIELDS = [
    pa.field("_ub_system", pa.string()),
    pa.field("_ub_run_id", pa.string()),
    pa.field("_ub_synced_at", pa.timestamp("us", tz="UTC")),
]
LINEAGE_NAMES = {f.name for f in LINEAGE_FIELDS}


def lake_type(t: pa.DataType) -> pa.DataType:
    """The Iceberg-storable Arrow type for a source Arrow type."""
    if pa.types.is_dictionary(t):
        return lake_type(t.value_type)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or str(t) == "string_view":
        return pa.string()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t) \
            or str(t) == "binary_view":
        return pa.binary()
    if pa.types.is_boolean(t):
        return pa.bool_()
    if t in (pa.int8(), pa.int16(), pa.int32(), pa.uint8(), pa.uint16()):
        return pa.int32()
    if t in (pa.int64(), pa.uint32()):
        return pa.int64()
    if t == pa.uint64():
        return pa.decimal128(20, 0)
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return pa.float32()
    if pa.types.is_float64(t):
        return pa.float64()
    if pa.types.is_decimal(t):
        if t.precision <= 38:
            return pa.decimal128(t.precision, t.scale)
        return pa.string()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC" if t.tz else None)
    if pa.types.is_date(t):
        return pa.date32()
    if pa.types.is_time(t):
        return pa.time64("us")
    return pa.string()  # null, intervals, durations, nested values: kept as text (JSON for nested)


def lake_schema(schema: pa.Schema) -> pa.Schema:
    """Source schema -> lake schema (all nullable; lineage columns appended)."""
    fields = [pa.field(f.name, lake_type(f.type), True) for f in schema if f.name not in LINEAGE_NAMES]
    return pa.schema(fields + LINEAGE_FIELDS)


def can_widen(old: pa.DataType, new: pa.DataType) -> bool:
    """Iceberg's allowed promotions: int->long, float->double, decimal precision up (same scale)."""
    if old == new:
        return True
    if old == pa.int32() and new == pa.int64():
        return True
    if old == pa.float32() and new == pa.float64():
        return True
    return (pa.types.is_decimal(old) and pa.types.is_decimal(new)
            and old.scale == new.scale and new.precision >= old.precision)


def fits(value_type: pa.DataType, column_type: pa.DataType) -> bool:
    """Can values of `value_type` be stored in an existing column of `column_type` without loss?"""
    return value_type == column_type or can_widen(value_type, column_type)


def can_evolve(old: pa.DataType, new: pa.DataType) -> bool:
    """Changes Iceberg cannot promote in place but that lose no value, made by rewriting the column:
    anything -> text, integer -> double, date -> timestamp. Used for sources whose types are inferred
    from values (files, APIs), where a later value that does not fit means the type was too narrow."""
    if pa.types.is_string(new):
        return not pa.types.is_binary(old)
    if pa.types.is_integer(old) and pa.types.is_floating(new):
        return True
    return pa.types.is_date(old) and pa.types.is_timestamp(new) and new.tz is None


def evolved(table_schema: pa.Schema, source_schema: pa.Schema) -> list[pa.Field]:
    """Columns of the table whose type must be rewritten to take `source_schema`'s values."""
    existing = {f.name: f for f in table_schema}
    return [f for f in source_schema if f.name in existing and not fits(f.type, existing[f.name].type)
            and not can_widen(existing[f.name].type, f.type) and can_evolve(existing[f.name].type, f.type)]


def absorbed(table_schema: pa.Schema, source_schema: pa.Schema) -> pa.Schema:
    """`source_schema` with each column the table already holds more widely (text for today's
    integers) given the table's type, so a narrower inference never counts as a schema change."""
    existing = {f.name: f for f in table_schema}
    return pa.schema([existing[f.name] if f.name in existing and not fits(f.type, existing[f.name].type)
                      and can_evolve(f.type, existing[f.name].type) else f for f in source_schema])


def reconcile(table_schema: pa.Schema, source_schema: pa.Schema, where: str) -> tuple[list[pa.Field], list[pa.Field]]:
    """Compare the lake table with today's source schema.

    Returns (columns to add, columns to widen). Raises `SchemaChangeError` naming every column whose
    type changed incompatibly, so the object stops instead of corrupting its table.
    """
    existing = {f.name: f for f in table_schema}
    add: list[pa.Field] = []
    widen: list[pa.Field] = []
    problems: list[str] = []
    for field in source_schema:
        old = existing.get(field.name)
        if old is None:
            add.append(field)
        elif fits(field.type, old.type):
            continue
        elif can_widen(old.type, field.type):
            widen.append(field)
        else:
            problems.append(f"column {field.name!r} changed from {old.type} to {field.type}")
    if problems:
        raise SchemaChangeError(
            f"incompatible schema change in {where}: " + "; ".join(problems),
            hint="fix the source, or drop the lake table to re-ingest with the new types "
                 "(`urbanbrain dataset drop`)",
        )
    return add, widen


def duckdb_type(t: pa.DataType) -> str:
    """DuckDB's name for a lake type (views cast to it; cursors compare with it)."""
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if t == pa.int32():
        return "INTEGER"
    if t == pa.int64():
        return "BIGINT"
    if pa.types.is_float32(t):
        return "FLOAT"
    if pa.types.is_float64(t):
        return "DOUBLE"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_time(t):
        return "TIME"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "BLOB"
    if pa.types.is_integer(t):
        return "BIGINT"
    return "VARCHAR"


def _nested(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) \
        or pa.types.is_struct(t) or pa.types.is_map(t)


def csv_ready(table: pa.Table) -> pa.Table:
    """`table` with list, struct and map columns as JSON text: CSV has no nested values, and Arrow's CSV
    writer refuses them. Flat columns are untouched."""
    if not any(_nested(f.type) for f in table.schema):
        return table
    import json

    columns = []
    for f, col in zip(table.schema, table.columns, strict=True):
        if _nested(f.type):
            values = [None if v is None else json.dumps(v, ensure_ascii=False, default=str) for v in col.to_pylist()]
            columns.append(pa.array(values, pa.string()))
        else:
            columns.append(col)
    return pa.Table.from_arrays(columns, names=table.column_names)
