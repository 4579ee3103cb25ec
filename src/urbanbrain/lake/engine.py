"""The SQL engine: DuckDB over lake tables, read-only, confined to the warehouse.

Each query gets a fresh in-memory DuckDB. Only the datasets the query names are exposed, as views
over the data files of each table's current Iceberg snapshot (its scan plan, never a folder glob,
which would also see superseded files). Then external access is switched off except for the
warehouse folder and the configuration is locked, so no statement can read files outside the lake;
only SELECT statements run, so none can write. Safety does not rest on spotting SQL tricks.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from urbanbrain.core import duck
from urbanbrain.core.errors import QueryError, ReadOnlyViolationError
from urbanbrain.core.settings import get_settings
from urbanbrain.lake.catalog import get_catalog
from urbanbrain.lake.types import duckdb_type
from urbanbrain.lake.writer import _plain

ALLOWED_STATEMENTS = {duckdb.StatementType.SELECT}

Columns = list[tuple[int, str, pa.DataType]]
_PLAN_CACHE: dict[tuple[str, ...], tuple[str, list[str], Columns]] = {}
_PLAN_LOCK = threading.Lock()


@dataclass
class QueryResult:
    table: pa.Table
    truncated: bool

    @property
    def columns(self) -> list[str]:
        return list(self.table.column_names)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_files(identifier: tuple[str, ...]) -> tuple[list[str], Columns]:
    """Live data files and (field id, name, type) columns of a table's current snapshot.

    Cached by metadata location, so repeated queries of an unchanged table skip planning.
    """
    table = get_catalog().load_table(identifier)
    location = str(table.metadata_location)
    with _PLAN_LOCK:
        cached = _PLAN_CACHE.get(identifier)
        if cached and cached[0] == location:
            return cached[1], cached[2]
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
    return files, columns


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _view_sql(files: list[str], columns: Columns) -> str:
    """Columns are matched by Iceberg field id, not by name: writers sanitise Parquet column names
    (`2010 Census` is stored as `_2010_x20Census`), and ids survive renames and added columns."""
    if not files:
        nulls = ", ".join(f"CAST(NULL AS {duckdb_type(t)}) AS {quote_ident(n)}" for _, n, t in columns)
        return f"SELECT {nulls} WHERE false"
    mapping = ", ".join(
        f"{fid}: {{name: {_literal(n)}, type: {_literal(duckdb_type(t))}, default_value: NULL}}"
        for fid, n, t in columns
    )
    listing = ", ".join(_literal(f) for f in files)
    return f"SELECT * FROM read_parquet([{listing}], schema = MAP {{{mapping}}})"


def referenced_tables(sql: str) -> list[tuple[str, ...]]:
    """Fully qualified tables the query names, from DuckDB's parse tree (parsed, not bound)."""
    con = duck.connect()
    try:
        raw = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
    except duckdb.Error as exc:
        raise QueryError(f"cannot parse the query: {exc}") from None
    finally:
        con.close()
    tree = json.loads(raw[0]) if raw else {}
    if tree.get("error"):
        raise QueryError(f"cannot parse the query: {tree.get('error_message', 'syntax error')}",
                         hint="check the SQL syntax")
    found: list[tuple[str, ...]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE" and node.get("catalog_name") and node.get("schema_name"):
                ident = (node["catalog_name"], node["schema_name"], node["table_name"])
                if ident not in found:
                    found.append(ident)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree)
    return found


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


def open_query_connection(sql: str) -> duckdb.DuckDBPyConnection:
    """A locked-down DuckDB with views for the datasets `sql` names."""
    settings = get_settings()
    warehouse = str(settings.warehouse_path)
    tmp = settings.home_dir / "tmp" / "duckdb"
    tmp.mkdir(parents=True, exist_ok=True)
    con = duck.connect(memory_limit=settings.query_memory_limit, config={"temp_directory": str(tmp)})
    try:
        check_read_only(con, sql)
        catalogs: set[str] = set()
        schemas: set[tuple[str, str]] = set()
        catalog = get_catalog()
        for ident in referenced_tables(sql):
            ident = tuple(part.lower() for part in ident)
            if not catalog.table_exists(ident):
                raise QueryError(f"no dataset named {'.'.join(ident)!r}",
                                 hint="dataset names are department.system.object; "
                                      "list them with `urbanbrain dataset list`")
            files, columns = table_files(ident)
            if ident[0] not in catalogs:
                con.execute(f"ATTACH ':memory:' AS {quote_ident(ident[0])}")
                catalogs.add(ident[0])
            if (ident[0], ident[1]) not in schemas:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(ident[0])}.{quote_ident(ident[1])}")
                schemas.add((ident[0], ident[1]))
            name = ".".join(quote_ident(p) for p in ident)
            con.execute(f"CREATE VIEW {name} AS {_view_sql(files, columns)}")
        con.execute("SET allowed_directories = [?]", [warehouse.rstrip("/") + "/"])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        return con
    except BaseException:
        con.close()
        raise


def _classify(exc: duckdb.Error) -> QueryError:
    """DuckDB's errors as ours: reaching outside the lake is a 403, anything else a 400."""
    if isinstance(exc, duckdb.PermissionException):
        return ReadOnlyViolationError(f"the query tried to reach outside the lake: {exc}")
    if isinstance(exc, duckdb.CatalogException):
        return QueryError(f"{exc}", hint="dataset names are department.system.object; "
                                         "list them with `urbanbrain dataset list`")
    return QueryError(str(exc))


def _reader(con: duckdb.DuckDBPyConnection, sql: str, batch_rows: int,
            params: dict[str, Any] | None = None) -> pa.RecordBatchReader:
    try:
        return con.execute(sql, params).fetch_record_batch(batch_rows)
    except duckdb.Error as exc:
        raise _classify(exc) from None


def _batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
    except duckdb.Error as exc:
        raise _classify(exc) from None


def run_query(sql: str, max_rows: int | None = None, params: dict[str, Any] | None = None) -> QueryResult:
    """Run one read-only query; at most `max_rows` rows come back (`truncated` says if more existed).

    `params` are bound by DuckDB as prepared-statement values for `$name` placeholders (data APIs),
    so a value can never change the statement: `run_query("... WHERE code = $code", params={"code": x})`.
    """
    con = open_query_connection(sql)
    try:
        reader = _reader(con, sql, 10_000, params)
        batches: list[pa.RecordBatch] = []
        rows = 0
        truncated = False
        for batch in _batches(reader):
            if max_rows is not None and rows + batch.num_rows > max_rows:
                batches.append(batch.slice(0, max_rows - rows))
                truncated = True
                break
            batches.append(batch)
            rows += batch.num_rows
        return QueryResult(pa.Table.from_batches(batches, schema=reader.schema), truncated)
    finally:
        con.close()


def stream_query(sql: str, batch_rows: int = 50_000) -> Iterator[pa.RecordBatch]:
    """All rows, batch by batch, for exports (CSV/Parquet downloads of any size)."""
    con = open_query_connection(sql)
    try:
        yield from _batches(_reader(con, sql, batch_rows))
    finally:
        con.close()
