"""The lake's SQL pieces: a table's data files, a query's parse tree, and what a query may name.

This module does not know who is asking. It answers "which files make up this table now" (its
current Iceberg snapshot's scan plan, never a folder glob), "what SQL reads them as the table's
columns" (`raw_select`), and "which datasets does this query name, and does it name anything else"
(`check_read_only`, `check_references`, over DuckDB's own parse tree, not a regex). The governed
query layer above it (`urbanbrain.govern.query`) turns those into each caller's sealed connection.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa

from urbanbrain.core import duck
from urbanbrain.core.errors import QueryError, ReadOnlyViolationError
from urbanbrain.lake.catalog import get_catalog
from urbanbrain.lake.types import duckdb_type
from urbanbrain.lake.writer import _plain

ALLOWED_STATEMENTS = {duckdb.StatementType.SELECT}
# Table functions a query may call: they generate values and touch neither files nor the catalog.
SAFE_TABLE_FUNCTIONS = {"range", "generate_series", "unnest"}
# Scalar functions that read the connection's configuration or variables: refused so that no setting
# (paths included) reaches a caller, although nothing secret is set on a caller's connection.
INTROSPECTION_FUNCTIONS = {"current_setting", "getvariable", "getenv"}
# Table references that only combine other references (checked in turn) or literal rows.
COMBINING_REFS = {"SUBQUERY", "JOIN", "EXPRESSION_LIST", "EMPTY", "EMPTY_FROM", "PIVOT"}

Columns = list[tuple[int, str, pa.DataType]]
_PLAN_CACHE: dict[tuple[str, ...], tuple[str, list[str], Columns]] = {}
_PLAN_LOCK = threading.Lock()
_LOADED: dict[str, Any] = {}  # metadata location -> the Table loaded at it (for `pruned_files`)
_PRUNED: dict[tuple[str, str], list[str]] = {}  # (metadata location, filter) -> files


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_files(identifier: tuple[str, ...]) -> tuple[list[str], Columns]:
    """Live data files and (field id, name, type) columns of a table's current snapshot.

    Cached by metadata location, so repeated queries of an unchanged table skip planning.
    """
    _, files, columns = table_plan(identifier)
    return files, columns


def table_plan(identifier: tuple[str, ...]) -> tuple[str, list[str], Columns]:
    """`table_files` with the metadata location the plan is of (what `pruned_files` takes)."""
    table = get_catalog().load_table(identifier)
    location = str(table.metadata_location)
    with _PLAN_LOCK:
        if len(_LOADED) > 256:
            _LOADED.clear()
        _LOADED[location] = table
        cached = _PLAN_CACHE.get(identifier)
        if cached and cached[0] == location:
            return cached
    files: list[str] = []
    for task in table.scan().plan_files():
        if task.delete_files:
            raise QueryError(f"table {'.'.join(identifier)} has merge-on-read delete files, "
                             "which this engine does not apply yet", hint="compact the table")
        files.append(task.file.file_path.removeprefix("file://"))
    iceberg = table.schema()
    arrow = iceberg.as_arrow()
    columns = [(fld.field_id, fld.name, _plain(a.type)) for fld, a in zip(iceberg.fields, arrow, strict=True)]
    with _PLAN_LOCK:
        _PLAN_CACHE[identifier] = (location, files, columns)
    return location, files, columns


def pruned_files(location: str, row_filter: Any) -> list[str] | None:
    """The data files of the table version at metadata `location` whose partition and column bounds
    may hold rows matching `row_filter` (an Iceberg expression; see `lake.prune`); None when that
    version is no longer at hand (then nothing is pruned)."""
    with _PLAN_LOCK:  # the very version `table_files` planned, never a newer one
        table = _LOADED.get(location)
    if table is None:
        return None
    key = (location, repr(row_filter))
    with _PLAN_LOCK:
        found = _PRUNED.get(key)
    if found is None:
        found = [task.file.file_path.removeprefix("file://") for task in table.scan(row_filter=row_filter).plan_files()]
        with _PLAN_LOCK:
            if len(_PRUNED) > 256:
                _PRUNED.clear()
            _PRUNED[key] = found
    return found


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _view_sql(files: list[str], columns: Columns, root: str | None = None) -> str:
    """Columns are matched by Iceberg field id, not by name: writers sanitise Parquet column names
    (`2010 Census` is stored as `_2010_x20Census`), and ids survive renames and added columns.
    `root` is the warehouse folder when the caller already has it (one view per data file is built
    for every masked twin of a query: hundreds on a day-partitioned table)."""
    if not files:
        nulls = ", ".join(f"CAST(NULL AS {duckdb_type(t)}) AS {quote_ident(n)}" for _, n, t in columns)
        return f"SELECT {nulls} WHERE false"
    mapping = _mapping(tuple(columns))
    own, in_place = _split_in_place(files, root)
    parts = []
    if own:
        listing = ", ".join(_literal(f) for f in own)
        parts.append(f"SELECT * FROM read_parquet([{listing}], schema = MAP {{{mapping}}})")
    if in_place:
        parts.append(_by_name_sql(in_place, columns))
    return " UNION ALL ".join(parts)


@functools.lru_cache(maxsize=64)
def _mapping(columns: tuple[tuple[int, str, pa.DataType], ...]) -> str:
    """read_parquet's field-id schema map for a table's columns (built once per schema)."""
    return ", ".join(
        f"{fid}: {{name: {_literal(n)}, type: {_literal(duckdb_type(t))}, default_value: NULL}}"
        for fid, n, t in columns
    )


def warehouse_root() -> str:
    """The warehouse folder as the prefix of the lake's own data files."""
    from urbanbrain.core.settings import get_settings

    return str(get_settings().warehouse_path) + "/"


def _split_in_place(files: list[str], root: str | None = None) -> tuple[list[str], list[str]]:
    """Files the lake wrote (Parquet field ids) and files registered in place (read by column name)."""
    root = root or warehouse_root()
    own = [f for f in files if f.startswith(root)]
    return own, [f for f in files if not f.startswith(root)]


def _by_name_sql(files: list[str], columns: Columns) -> str:
    """Parquet registered in place (`--register-in-place`) has no field ids: its columns are the
    table's by name, as the table's name mapping says; the lineage columns it lacks read as NULL."""
    import pyarrow.parquet as pq

    present: set[str] = set()
    for f in files:
        present |= set(pq.read_schema(f).names)
    exprs = [f"CAST({quote_ident(n) if n in present else 'NULL'} AS {duckdb_type(t)}) AS {quote_ident(n)}"
             for _, n, t in columns]
    listing = ", ".join(_literal(f) for f in files)
    return f"SELECT {', '.join(exprs)} FROM read_parquet([{listing}], union_by_name = true)"


def raw_select(files: list[str], columns: Columns, root: str | None = None) -> str:
    """SQL reading a table's data files as its current columns (for the platform's own connections)."""
    return _view_sql(files, columns, root)


def _parse_tree(sql: str, con: duckdb.DuckDBPyConnection | None = None) -> dict[str, Any]:
    """DuckDB's own parse tree of `sql`, on `con` if given (a connection costs ~25 ms to open)."""
    own = con is None
    con = con or duck.connect()
    try:
        raw = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
    except duckdb.Error as exc:
        raise QueryError(f"cannot parse the query: {exc}") from None
    finally:
        if own:
            con.close()
    tree = json.loads(raw[0]) if raw else {}
    if tree.get("error"):
        message = str(tree.get("error_message", "syntax error"))
        if "Only SELECT statements" in message:  # e.g. PRAGMA, which DuckDB rewrites into a query
            raise ReadOnlyViolationError("only plain SELECT queries may run",
                                         hint="the lake is read-only over SQL; PRAGMA and the like are refused")
        raise QueryError(f"cannot parse the query: {message}", hint="check the SQL syntax")
    return dict(tree)


def parse_tree(sql: str, con: duckdb.DuckDBPyConnection | None = None) -> dict[str, Any]:
    """DuckDB's parse tree of `sql` as JSON (public name of `_parse_tree`)."""
    return _parse_tree(sql, con)


def nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict node of a parse tree, depth first."""
    return _nodes(node)


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


def referenced_tables(sql: str) -> list[tuple[str, ...]]:
    """Fully qualified tables the query names, from DuckDB's parse tree (parsed, not bound)."""
    return _references(_parse_tree(sql))


def _references(tree: dict[str, Any]) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for node in _nodes(tree):
        if node.get("type") == "BASE_TABLE" and node.get("catalog_name") and node.get("schema_name"):
            ident = (node["catalog_name"], node["schema_name"], node["table_name"])
            if ident not in found:
                found.append(ident)
    return found


def check_references(tree: dict[str, Any]) -> list[tuple[str, ...]]:
    """The datasets a query reads; refuses any other source (files, catalog functions, bare names).

    A whitelist over DuckDB's own parse tree: a table reference is a dataset, a CTE of the query, a
    value-generating table function, or a combination of those. Everything else fails closed."""
    ctes = {str(entry.get("key", "")).lower() for node in _nodes(tree) if isinstance(node.get("cte_map"), dict)
            for entry in node["cte_map"].get("map", [])}
    for node in _nodes(tree):
        kind = node.get("type")
        if node.get("class") == "FUNCTION" and str(node.get("function_name", "")).lower() in INTROSPECTION_FUNCTIONS:
            raise ReadOnlyViolationError(f"{node.get('function_name')}() is not available: queries read datasets, "
                                         "not the engine's configuration")
        if kind not in ("BASE_TABLE", "TABLE_FUNCTION") and (
                "sample" not in node or not isinstance(kind, str) or kind.endswith("_NODE")):
            continue  # not a table reference
        if kind == "BASE_TABLE":
            if node.get("catalog_name") and node.get("schema_name"):
                continue
            bare = str(node.get("table_name", ""))
            if not node.get("schema_name") and bare.lower() in ctes and not any(c in bare for c in "/\\.:"):
                continue  # a CTE's name; never one that reads as a file path
            name = ".".join(str(node.get(k)) for k in ("catalog_name", "schema_name", "table_name") if node.get(k))
            from urbanbrain.lake.names import dataset_name_hint

            raise ReadOnlyViolationError(f"{name!r} is not a dataset; queries read datasets by their full "
                                         "name, department.system.object",
                                         hint=dataset_name_hint(name.split(".")))
        elif kind == "TABLE_FUNCTION":
            fn = str((node.get("function") or {}).get("function_name", "")).lower()
            if fn not in SAFE_TABLE_FUNCTIONS:
                raise ReadOnlyViolationError(
                    f"table function {fn}() is not available: it reaches outside the lake's datasets, "
                    "which are the only thing queries read",
                    hint="name datasets as department.system.object; allowed table functions: "
                         + ", ".join(sorted(SAFE_TABLE_FUNCTIONS)))
        elif kind not in COMBINING_REFS:
            raise ReadOnlyViolationError(f"{kind.lower()} references are not available: queries read lake "
                                         "datasets only")
    return _references(tree)


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"cannot parse the query: {exc}", hint="check the SQL syntax") from None
    if len(statements) != 1:
        raise ReadOnlyViolationError(f"send exactly one statement (got {len(statements)})")
    kind = statements[0].type
    if kind not in ALLOWED_STATEMENTS:
        raise ReadOnlyViolationError(
            f"only SELECT queries may run; this is a {kind.name} statement",
            hint="the lake is read-only over SQL; data enters it only through syncs",
        )
