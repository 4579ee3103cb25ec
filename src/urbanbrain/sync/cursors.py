"""Incremental cursors that never lose or double a row at a tie.

A cursor alone cannot be exact: rows appended later with the *same* cursor value as the stored
maximum are lost by `>` and doubled by `>=`. So (as dlt does) sync reads `>=` the stored value and
the cursor remembers a content hash of every row that sat at that value when it was stored; a
re-read row whose hash is remembered is skipped, a new row at the same value is not. Hashes are a
multiset, so two identical source rows stay two rows. The whole state lives in the table property
committed with the data (`urbanbrain.cursor`), so "rows landed" and "cursor moved" stay one step.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from urbanbrain.connect.base import Cursor
from urbanbrain.core.errors import ValidationError
from urbanbrain.lake.types import LINEAGE_NAMES, duckdb_type

# Rows that may share the stored cursor value: past this the cursor is refused (the property that
# carries their hashes is rewritten on every commit, so it must stay small).
TIE_LIMIT = 20_000


@dataclass
class CursorState:
    column: str
    value: str
    type: str = "VARCHAR"
    tie: Counter[str] = field(default_factory=Counter)
    legacy: bool = False  # stored before ties were remembered: read `>` once, as it was written

    def as_cursor(self) -> Cursor:
        return Cursor(column=self.column, value=self.value, type=self.type)


def parse(raw: str | None, column: str | None) -> CursorState | None:
    """The stored cursor, or None when there is none or the steward chose another column."""
    if not raw or not column:
        return None
    data = json.loads(raw)
    if data.get("column") != column:
        return None  # the steward changed the cursor column: start over with a full load
    return CursorState(column=data["column"], value=data["value"], type=data.get("type", "VARCHAR"),
                       tie=Counter(data.get("tie") or {}), legacy="tie" not in data)


def dumps(state: CursorState) -> str:
    return json.dumps({"column": state.column, "value": state.value, "type": state.type,
                       "tie": dict(sorted(state.tie.items()))})


def cursor_text(value: Any) -> str:
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def _canonical(value: Any) -> str:
    """One text per value whatever its column's type, so a row hashes the same after its column
    was widened (20 -> '20', 200 -> 200.0, a date -> its ISO text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "hour") and hasattr(value, "isoformat"):
        return str(value.isoformat(sep=" "))
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str) \
        if isinstance(value, dict | list) else str(value)


def row_hashes(table: pa.Table) -> list[str]:
    """A content hash per row over its non-null data values (lineage columns differ every run; a
    column added later is null in old rows, so it does not change their hash)."""
    names = [n for n in table.column_names if n not in LINEAGE_NAMES]
    out = []
    for row in table.select(names).to_pylist():
        canon = {k: _canonical(v) for k, v in row.items() if v is not None}
        text = json.dumps(canon, sort_keys=True, ensure_ascii=False)
        out.append(hashlib.blake2b(text.encode("utf-8"), digest_size=10).hexdigest())
    return out


def typed_value(state: CursorState, column_type: pa.DataType) -> pa.Scalar:
    """The stored value as a scalar of the lake column's type, to compare rows with."""
    from urbanbrain.connect.files import cursor_scalar

    return cursor_scalar(state.value, column_type)


@dataclass
class TieTracker:
    """Follows one object's read: drops re-read rows at the stored value, finds the new maximum and
    the hashes of the rows at it."""

    column: str
    old: CursorState | None
    column_type: pa.DataType
    remember: bool = True
    # With a primary key the merge would absorb re-read rows anyway, so too many rows at one value is
    # no error: the tie is then forgotten and those rows are merged again next time (as before).
    strict: bool = True
    best: Any = None
    tie: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    _left: Counter[str] = field(default_factory=Counter)
    _old_value: Any = None
    _overflow: Any = None

    def __post_init__(self) -> None:
        if self.old is not None:
            self._left = Counter(self.old.tie)
            try:
                self._old_value = typed_value(self.old, self.column_type).as_py()
            except ValidationError:
                self._old_value = None

    def filter(self, table: pa.Table) -> pa.Table:
        """Rows of `table` that are new: at the stored value only those not remembered."""
        if not self.remember or self.old is None or self._old_value is None or table.num_rows == 0:
            return table
        col = table.column(self.column)
        at_old = pc.fill_null(pc.equal(col, pa.scalar(self._old_value, col.type)), False)
        if not pc.any(at_old).as_py():
            return table
        idx = pc.indices_nonzero(at_old).to_pylist()
        keep = [True] * table.num_rows
        for i, digest in zip(idx, row_hashes(table.take(idx)), strict=True):
            if self._left[digest] > 0:
                self._left[digest] -= 1
                keep[i] = False
                self.skipped += 1
        return table.filter(pa.array(keep))

    def observe(self, table: pa.Table) -> None:
        """Track the maximum cursor value of rows written and the hashes of rows at it."""
        if table.num_rows == 0 or self.column not in table.column_names:
            return
        col = table.column(self.column)
        top = pc.max(col).as_py()
        if top is None:
            return
        if self.best is not None and top < self.best:
            return
        if self.best is None or top > self.best:
            self.best, self.tie = top, Counter()
        if not self.remember:
            return
        at = pc.fill_null(pc.equal(col, pa.scalar(top, col.type)), False)
        if self.best == self._overflow:
            return
        self.tie.update(row_hashes(table.filter(at)))
        if len(self.tie) > TIE_LIMIT and not self.strict:
            self.tie, self._overflow = Counter(), self.best
        elif len(self.tie) > TIE_LIMIT:
            raise ValidationError(
                f"more than {TIE_LIMIT:,} rows share the value {cursor_text(top)!r} of cursor column "
                f"{self.column!r}, too many to tell new rows at that value from old ones",
                hint="choose a finer cursor column (a timestamp with seconds, an increasing id), "
                     "or clear the cursor so the object is fully reloaded each sync")

    def result(self) -> CursorState | None:
        """The cursor to commit, or None to leave the stored one as it is."""
        type_name = duckdb_type(self.column_type)
        if self.best is None:
            return None
        if self.old is not None and self._old_value is not None:
            try:
                if self.best < self._old_value:
                    return None
                if self.best == self._old_value:  # only rows at the old value: they join its tie
                    return CursorState(self.column, self.old.value, type_name, self.old.tie + self.tie)
            except TypeError:
                pass
        return CursorState(self.column, cursor_text(self.best), type_name, self.tie)
