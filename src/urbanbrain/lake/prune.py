"""File pruning from a query's own filters: which data files a query can possibly need.

A caller's query never reads raw files: each dataset it names is materialised as the caller's view
first (`govern.query`, `lake.maskcache`). Without pruning, a one-day filter on a billion-row table
would have every file masked (or at least opened). So before the view is built, the query's filter
on that dataset is turned into an Iceberg row filter and the table's scan plan keeps only the files
whose partition and column bounds may hold matching rows.

Soundness rules (a pruned file must hold no row the query could use):
* the dataset is named exactly once in the query, as the only table of a SELECT's FROM, and only
  the top-level AND terms of that SELECT's WHERE are used (WHERE runs before anything else reads
  those rows);
* only terms of the shapes `col <op> constant`, `col BETWEEN c1 AND c2` and `CAST(col AS DATE) <op>
  constant` are used, on columns the caller sees unmasked (`raw_columns`), with constants whose
  conversion to the column's type is exact; anything else is ignored, never guessed.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import reduce
from typing import Any

import pyarrow as pa
from pyiceberg.expressions import (
    And,
    BooleanExpression,
    EqualTo,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
)

from urbanbrain.lake.engine import nodes

_OPS = {"COMPARE_EQUAL": "=", "COMPARE_GREATERTHAN": ">", "COMPARE_GREATERTHANOREQUALTO": ">=",
        "COMPARE_LESSTHAN": "<", "COMPARE_LESSTHANOREQUALTO": "<="}
_FLIP = {"=": "=", ">": "<", ">=": "<=", "<": ">", "<=": ">="}
_EXPR: dict[str, Any] = {"=": EqualTo, ">": GreaterThan, ">=": GreaterThanOrEqual, "<": LessThan, "<=": LessThanOrEqual}
# constant types (DuckDB's ids) that convert exactly into a column of each kind
_EXACT = {"timestamp": {"VARCHAR", "TIMESTAMP", "DATE", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_TZ"},
          "date": {"VARCHAR", "DATE"}, "string": {"VARCHAR"}, "integer": {"INTEGER", "BIGINT", "SMALLINT",
                                                                             "TINYINT", "HUGEINT"}}


def _cmp(op: str, column: str, value: Any) -> BooleanExpression:
    """`column <op> value` as an Iceberg filter (pyiceberg's pydantic signatures confuse mypy)."""
    return _EXPR[op](column, value)  # type: ignore[no-any-return]


def _kind(t: pa.DataType) -> str | None:
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_integer(t):
        return "integer"
    return None


def _constant(node: dict[str, Any]) -> tuple[Any, str] | None:
    """(python value, DuckDB type id) of a literal or a cast literal; None for anything else."""
    if node.get("class") == "CONSTANT":
        value = node.get("value") or {}
        if value.get("is_null"):
            return None
        return value.get("value"), str((value.get("type") or {}).get("id", ""))
    if node.get("class") == "CAST" and not node.get("try_cast"):
        inner = _constant(node.get("child") or {})
        if inner is None:
            return None
        return inner[0], str((node.get("cast_type") or {}).get("id", ""))
    return None


def _column(node: dict[str, Any], names: dict[str, str], aliases: set[str]) -> str | None:
    if node.get("class") != "COLUMN_REF":
        return None
    parts = [str(p) for p in node.get("column_names") or []]
    if not parts or (len(parts) > 1 and parts[-2].lower() not in aliases) or len(parts) > 2:
        return None
    return names.get(parts[-1].lower())


def _value(raw: Any, kind: str, column_type: pa.DataType) -> Any:
    """The constant as Iceberg compares it with the column (ISO text for times)."""
    if kind == "integer":
        return int(raw)
    if kind == "string":
        return str(raw)
    text = str(raw).strip()
    if kind == "date":
        return date.fromisoformat(text[:10]).isoformat()
    moment = datetime.fromisoformat(text.replace(" ", "T")) if "T" in text or " " in text or ":" in text \
        else datetime.combine(date.fromisoformat(text), datetime.min.time())
    if getattr(column_type, "tz", None):
        if moment.tzinfo is None:  # DuckDB reads it in the session's time zone: ask DuckDB
            moment = _session_time(text)
        return moment.isoformat()
    if moment.tzinfo is not None:
        return None
    return moment.isoformat()


def _term(node: dict[str, Any], names: dict[str, str], aliases: set[str], types: dict[str, pa.DataType],
          raw: set[str]) -> list[BooleanExpression]:
    cls = node.get("class")
    if cls == "COMPARISON" and node.get("type") in _OPS:
        op = _OPS[str(node["type"])]
        left, right = node.get("left") or {}, node.get("right") or {}
        col_node, const_node = (left, right) if _constant(right) is not None else (right, left)
        if col_node is right:
            op = _FLIP[op]
        const = _constant(const_node)
        if const is None:
            return []
        day_cast = col_node.get("class") == "CAST" and str((col_node.get("cast_type") or {}).get("id")) == "DATE" \
            and not col_node.get("try_cast")
        column = _column(col_node.get("child") or {} if day_cast else col_node, names, aliases)
        if column is None or column not in raw:
            return []
        kind = _kind(types[column])
        if kind is None or const[1] not in _EXACT.get("date" if day_cast else kind, set()):
            return []
        try:
            if day_cast:
                return _day_terms(column, op, const[0], types[column])
            value = _value(const[0], kind, types[column])
        except (ValueError, TypeError, OverflowError):
            return []
        return [] if value is None else [_cmp(op, column, value)]
    if cls == "BETWEEN":
        low = {"class": "COMPARISON", "type": "COMPARE_GREATERTHANOREQUALTO", "left": node.get("input"),
               "right": node.get("lower")}
        high = {"class": "COMPARISON", "type": "COMPARE_LESSTHANOREQUALTO", "left": node.get("input"),
                "right": node.get("upper")}
        return _term(low, names, aliases, types, raw) + _term(high, names, aliases, types, raw)
    return []


def _session_time(text: str) -> datetime:
    """`text` as DuckDB reads it into a TIMESTAMPTZ on a connection with our defaults (the caller's
    connection has the same time zone setting)."""
    from urbanbrain.core import duck

    con = duck.connect()
    try:
        row = con.execute("SELECT CAST(CAST($1 AS TIMESTAMPTZ) AS VARCHAR)", [text]).fetchone()
    finally:
        con.close()
    assert row is not None
    return datetime.fromisoformat(str(row[0]))


def _day_terms(column: str, op: str, raw: Any, column_type: pa.DataType) -> list[BooleanExpression]:
    """`CAST(col AS DATE) <op> d` as a range of the column itself."""
    day = date.fromisoformat(str(raw).strip()[:10])
    if pa.types.is_date(column_type):
        return [_cmp(op, column, day.isoformat())]
    start = datetime.combine(day, datetime.min.time())
    end = start + timedelta(days=1)
    if getattr(column_type, "tz", None):  # the day's bounds in the session's time zone
        lo, hi = _session_time(start.isoformat()).isoformat(), _session_time(end.isoformat()).isoformat()
    else:
        lo, hi = start.isoformat(), end.isoformat()
    return {"=": [_cmp(">=", column, lo), _cmp("<", column, hi)], ">=": [_cmp(">=", column, lo)],
            ">": [_cmp(">=", column, hi)], "<": [_cmp("<", column, lo)], "<=": [_cmp("<", column, hi)]}[op]


def row_filter(tree: dict[str, Any], ident: tuple[str, ...], columns: list[tuple[int, str, pa.DataType]],
               raw_columns: set[str]) -> BooleanExpression | None:
    """An Iceberg filter every row the query can use from `ident` satisfies, or None (no pruning)."""
    refs = [n for n in nodes(tree) if n.get("type") == "BASE_TABLE"
            and tuple(str(n.get(k, "")).lower() for k in ("catalog_name", "schema_name", "table_name")) == ident]
    if len(refs) != 1:
        return None
    ref = refs[0]
    if ref.get("sample"):
        return None  # a sample is drawn before WHERE: fewer rows in would change which rows it draws
    select = next((n for n in nodes(tree) if n.get("type") == "SELECT_NODE" and n.get("from_table") is ref), None)
    if select is None or not select.get("where_clause") or select.get("sample"):
        return None  # `USING SAMPLE` too is drawn before WHERE
    aliases = {ident[-1], str(ref.get("alias") or "").lower()} - {""}
    names = {n.lower(): n for _, n, _ in columns}
    types = {n: t for _, n, t in columns}
    where = select["where_clause"]
    found: list[BooleanExpression] = []
    pending = [where]
    while pending:
        term = pending.pop()
        if term.get("type") == "CONJUNCTION_AND":
            pending.extend(term.get("children", []))
        else:
            found.extend(_term(term, names, aliases, types, raw_columns))
    return reduce(And, found) if found else None  # type: ignore[arg-type]
