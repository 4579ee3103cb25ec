"""How a lake table is laid out: its partition spec, its sort order and its target file size.

A partition spec is written as a list of short texts a steward can type: `day(observed_at)`,
`month(time)`, `year(time)`, `hour(time)`, `identity(district)` (or just `district`). When nobody
chose, `choose` picks one at table creation from the object's size and columns: small tables stay
unpartitioned (partitions of a few rows are only small files), large ones are split by month or day
of their time column (the cursor column when it is a time), and a table without a time column by
its district code. Data a cursor orders is also written sorted by that column, so each file covers a
narrow range and queries skip files by their column bounds.

Changing the spec of an existing table is Iceberg partition evolution: new data lands under the new
spec at once; `lake maintain` rewrites the old files into it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pyiceberg.table import Table
from pyiceberg.transforms import (
    DayTransform,
    HourTransform,
    IdentityTransform,
    MonthTransform,
    YearTransform,
)

from urbanbrain.core.errors import ValidationError

TRANSFORMS: dict[str, Any] = {
    "identity": IdentityTransform, "year": YearTransform, "month": MonthTransform, "day": DayTransform,
    "hour": HourTransform,
}
TIME_ONLY = {"year", "month", "day", "hour"}
MONTH_ROWS = 1_000_000    # from here a table is split by month of its time column
DAY_ROWS = 100_000_000    # and from here by day
TARGET_FILE_PROPERTY = "write.target-file-size-bytes"
SORT_PROPERTY = "urbanbrain.sort-by"
_FIELD = re.compile(r"^\s*(?:(\w+)\s*\(\s*([^()]+?)\s*\)|([^()\s]+))\s*$")
_TIME_NAMES = ("observed_at", "time", "timestamp", "event_time", "occurred_at", "reading_time", "created_at",
               "updated_at", "date", "day")
_DISTRICT = re.compile(r"(^|_)(district|district_code|adcode|region_code)(_code|_id)?$", re.IGNORECASE)


@dataclass(frozen=True)
class PartField:
    transform: str
    column: str

    @property
    def text(self) -> str:
        return f"{self.transform}({self.column})"

    @property
    def name(self) -> str:
        """The partition field's name in the spec: `observed_at_day`, `district`."""
        return self.column if self.transform == "identity" else f"{self.column}_{self.transform}"


def parse(spec: list[str] | tuple[str, ...], schema: pa.Schema | None = None) -> list[PartField]:
    """Parse a steward's spec; with `schema`, check each column exists and each transform fits it."""
    fields: list[PartField] = []
    for raw in spec:
        m = _FIELD.match(raw)
        if not m:
            raise ValidationError(f"cannot read partition field {raw!r}",
                                  hint="write day(col), month(col), year(col), hour(col) or identity(col)")
        transform, column = (m.group(1).lower(), m.group(2)) if m.group(1) else ("identity", m.group(3))
        if transform not in TRANSFORMS:
            raise ValidationError(f"unknown partition transform {transform!r} in {raw!r}",
                                  hint="use one of " + ", ".join(sorted(TRANSFORMS)))
        if schema is not None:
            if column not in schema.names:
                raise ValidationError(f"partition column {column!r} is not a column of the table",
                                      hint="columns: " + ", ".join(schema.names[:20]))
            t = schema.field(column).type
            if transform in TIME_ONLY and not (pa.types.is_timestamp(t) or pa.types.is_date(t)):
                raise ValidationError(f"{transform}({column}) needs a date or time column; {column!r} is {t}",
                                      hint=f"use identity({column}) for codes")
            if transform == "hour" and pa.types.is_date(t):
                raise ValidationError(f"hour({column}) needs a time column; {column!r} is a date")
            if transform == "identity" and (pa.types.is_floating(t) or pa.types.is_timestamp(t)):
                raise ValidationError(f"identity({column}) would make one partition per {t} value",
                                      hint=f"use day({column}) or month({column}) for times")
        field = PartField(transform, column)
        if any(f.column == column for f in fields):
            raise ValidationError(f"column {column!r} is named twice in the partition spec")
        fields.append(field)
    return fields


def _temporal(t: pa.DataType) -> bool:
    return pa.types.is_timestamp(t) or pa.types.is_date(t)


def time_column(schema: pa.Schema, cursor: str | None) -> str | None:
    """The column that orders the data in time: the cursor if it is a time, else a well-named time."""
    if cursor and cursor in schema.names and _temporal(schema.field(cursor).type):
        return cursor
    temporal = [f.name for f in schema if _temporal(f.type) and not f.name.startswith("_ub_")]
    for name in _TIME_NAMES:
        if name in temporal:
            return name
    return temporal[0] if len(temporal) == 1 else None


def district_column(schema: pa.Schema) -> str | None:
    for f in schema:
        if _DISTRICT.search(f.name) and (pa.types.is_string(f.type) or pa.types.is_integer(f.type)):
            return f.name
    return None


def choose(schema: pa.Schema, row_estimate: int | None, cursor: str | None) -> list[str]:
    """The spec a new table gets when no steward chose one (see the module docstring)."""
    rows = row_estimate or 0
    if rows < MONTH_ROWS:
        return []
    when = time_column(schema, cursor)
    if when is not None:
        return [f"{'day' if rows >= DAY_ROWS else 'month'}({when})"]
    district = district_column(schema)
    return [f"identity({district})"] if district else []


def sort_column(schema: pa.Schema, cursor: str | None) -> str | None:
    """Rows are written sorted by the cursor column when there is one (it orders the data)."""
    return cursor if cursor and cursor in schema.names else None


def apply(table: Table, fields: list[PartField], sort_by: str | None = None) -> Table:
    """Set `table`'s partition spec (and sort order) to `fields` in one commit; existing files keep
    the spec they were written with until `lake maintain` rewrites them."""
    current = describe(table)
    with table.transaction() as tx:
        if current != [f.text for f in fields]:
            with tx.update_spec() as update:
                for old in table.spec().fields:
                    update.remove_field(old.name)
                for f in fields:
                    update.add_field(f.column, TRANSFORMS[f.transform](), f.name)
        if sort_by is not None and table.properties.get(SORT_PROPERTY) != sort_by:
            with tx.update_sort_order() as order:
                order.asc(sort_by, IdentityTransform())
            tx.set_properties({SORT_PROPERTY: sort_by})
    return table.refresh()


def describe(table: Table) -> list[str]:
    """The current spec of `table` as the texts `parse` reads."""
    schema = table.schema()
    out = []
    for f in table.spec().fields:
        column = schema.find_column_name(f.source_id) or str(f.source_id)
        name = "identity" if isinstance(f.transform, IdentityTransform) else str(f.transform).split("[")[0].lower()
        out.append(f"{name}({column})")
    return out


def target_file_bytes(table: Table, default: int) -> int:
    """The table's own target file size (`write.target-file-size-bytes`), else `default`."""
    raw = table.properties.get(TARGET_FILE_PROPERTY)
    try:
        return int(raw) if raw else default
    except ValueError:
        return default
