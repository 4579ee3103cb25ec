"""The SQL engine: DuckDB over lake tables, read-only, each caller seeing only its masked views.

Each query gets a fresh in-memory DuckDB. Only the datasets the query names are exposed, and each as
the *caller's* view of it (`govern.policy.policy_for`): closed and ungranted columns do not exist,
PII columns are masked, row filters applied. Those views are built from relations (their definitions,
which hold the data files' paths and the hash key, are not visible in `duckdb_views()`), over the
data files of each table's current Iceberg snapshot (its scan plan, never a folder glob).

Then external access is switched off except for exactly those files, Python replacement scans are
off, and the configuration is locked. Reading those files directly would bypass the masks, so the
query's own parse tree (DuckDB's, not a regex) may name only the datasets, its own CTEs and a few
table functions that generate values (`range`, `unnest`); anything else - `read_parquet`, `glob`,
catalog functions, `query()` - is refused before it runs. Only one SELECT runs, so nothing writes.
`bench/govern.py` measures what the views cost against raw DuckDB over the same files.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.exceptions import NoSuchTableError

from urbanbrain.core import duck
from urbanbrain.core.errors import QueryError, ReadOnlyViolationError
from urbanbrain.core.settings import get_settings
from urbanbrain.govern import access
from urbanbrain.govern.masking import HASH, PARTIAL, mask_key, mask_sql
from urbanbrain.govern.policy import RAW, DatasetPolicy, policy_for
from urbanbrain.govern.principals import Principal
from urbanbrain.lake import maskcache
from urbanbrain.lake.catalog import get_catalog
from urbanbrain.lake.types import duckdb_type
from urbanbrain.lake.writer import _plain

ALLOWED_STATEMENTS = {duckdb.StatementType.SELECT}
# Table functions a query may call: they generate values and touch neither files nor the catalog.
SAFE_TABLE_FUNCTIONS = {"range", "generate_series", "unnest"}
# Table references that only combine other references (checked in turn) or literal rows.
COMBINING_REFS = {"SUBQUERY", "JOIN", "EXPRESSION_LIST", "EMPTY", "EMPTY_FROM", "PIVOT"}

Columns = list[tuple[int, str, pa.DataType]]
_PLAN_CACHE: dict[tuple[str, ...], tuple[str, list[str], Columns]] = {}
_PLAN_LOCK = threading.Lock()


@dataclass
class QueryResult:
    table: pa.Table
    truncated: bool
    policies: list[DatasetPolicy] | None = None

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
        if kind not in ("BASE_TABLE", "TABLE_FUNCTION") and (
                "sample" not in node or not isinstance(kind, str) or kind.endswith("_NODE")):
            continue  # not a table reference
        if kind == "BASE_TABLE":
            if node.get("catalog_name") and node.get("schema_name"):
                continue
            if not node.get("schema_name") and str(node.get("table_name", "")).lower() in ctes:
                continue
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


COMPUTED = (PARTIAL, HASH)  # masks computed per row, worth materialising (redaction is a constant NULL)


def _masked_select(raw_sql: str, columns: Columns, policy: DatasetPolicy, key: str) -> str:
    types = {n: duckdb_type(t) for _, n, t in columns}
    exprs = []
    for col in policy.columns:
        if col.name not in types:  # classified but not (yet) in the table
            continue
        ref = "ub_raw." + quote_ident(col.name)
        expr = ref if col.method == RAW else mask_sql(ref, col.method, types[col.name], col.pii_type, key)
        if policy.row_filter:  # a fence: even a predicate DuckDB evaluated before the filter sees NULLs
            expr = f"CASE WHEN ({policy.row_filter}) THEN {expr} END"
        exprs.append(f"{expr} AS {quote_ident(col.name)}")
    if not exprs:
        raise QueryError(f"no column of {policy.dataset} is visible to you",
                         hint="request fields from the owning department (`urbanbrain share request`)")
    where = f" WHERE {policy.row_filter}" if policy.row_filter else ""
    return f"SELECT {', '.join(exprs)} FROM ({raw_sql}) AS ub_raw{where}"


def open_query_connection(sql: str, principal: Principal, *, capability_grant: bool = False
                          ) -> tuple[duckdb.DuckDBPyConnection, list[DatasetPolicy]]:
    """A locked-down DuckDB holding `principal`'s views of the datasets `sql` names."""
    settings = get_settings()
    tmp = settings.home_dir / "tmp" / "duckdb"
    tmp.mkdir(parents=True, exist_ok=True)
    con = duck.connect(memory_limit=settings.query_memory_limit,
                       config={"temp_directory": str(tmp), "python_enable_replacements": False})
    try:
        check_read_only(con, sql)
        idents = check_references(_parse_tree(sql, con))
        catalogs: set[str] = set()
        schemas: set[tuple[str, str]] = set()
        allowed: list[str] = []
        policies: list[DatasetPolicy] = []
        key = ""
        for n, ident in enumerate(idents):
            ident = tuple(part.lower() for part in ident)
            try:
                files, columns = table_files(ident)
            except NoSuchTableError:
                from urbanbrain.lake.names import dataset_name_hint

                raise QueryError(f"no dataset named {'.'.join(ident)!r}", hint=dataset_name_hint(ident)) from None
            policy = policy_for(principal, ".".join(ident), capability_grant=capability_grant)
            policies.append(policy)
            allowed.extend(files)
            setup: list[str] = []  # one round trip per dataset: each execute costs ~0.5 ms
            if ident[0] not in catalogs:
                setup.append(f"ATTACH ':memory:' AS {quote_ident(ident[0])}")
                catalogs.add(ident[0])
            if (ident[0], ident[1]) not in schemas:
                setup.append(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(ident[0])}.{quote_ident(ident[1])}")
                schemas.add((ident[0], ident[1]))
            if policy.masked and not key:
                key = mask_key()
            hidden = f"ub_view_{n}"
            view = _masked_select(_view_sql(files, columns), columns, policy, key)
            if any(c.method in COMPUTED for c in policy.columns) and maskcache.worth_materialising(files):
                cached = maskcache.materialised(con, view)
                allowed.append(cached)
                view = f"SELECT * FROM read_parquet({_literal(cached)})"
            setup.append(f"CREATE VIEW memory.main.{hidden} AS {view}")
            setup.append(f"CREATE VIEW {'.'.join(quote_ident(p) for p in ident)} AS SELECT * FROM memory.main.{hidden}")
            con.execute(";\n".join(setup))
        listing = ", ".join(_literal(f) for f in allowed)
        con.execute(f"SET allowed_paths = [{listing}]; SET enable_external_access = false; "
                    "SET lock_configuration = true")
        return con, policies
    except duckdb.Error as exc:
        con.close()
        raise _classify(exc) from None
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


def _record(principal: Principal, policies: list[DatasetPolicy], rows: int) -> None:
    for p in policies:
        access.on_read(principal, p.dataset, [c.name for c in p.columns], rows, p.masked, p.grant_id)


def run_query(sql: str, max_rows: int | None = None, params: dict[str, Any] | None = None, *,
              principal: Principal, capability_grant: bool = False) -> QueryResult:
    """Run one read-only query as `principal`; at most `max_rows` rows come back (`truncated` says if
    more existed).

    `params` are bound by DuckDB as prepared-statement values for `$name` placeholders (data APIs),
    so a value can never change the statement: `run_query("... WHERE code = $code", params={"code": x},
    principal=consumer)`. Local, internal work passes `SYSTEM`.
    """
    con, policies = open_query_connection(sql, principal, capability_grant=capability_grant)
    try:
        reader = _reader(con, sql, 10_000, params)
        batches: list[pa.RecordBatch] = []
        rows = 0
        truncated = False
        for batch in _batches(reader):
            if max_rows is not None and rows + batch.num_rows > max_rows:
                batches.append(batch.slice(0, max_rows - rows))
                rows = max_rows
                truncated = True
                break
            batches.append(batch)
            rows += batch.num_rows
        _record(principal, policies, rows)
        return QueryResult(pa.Table.from_batches(batches, schema=reader.schema), truncated, policies)
    finally:
        con.close()


def stream_query(sql: str, batch_rows: int = 50_000, *, principal: Principal) -> Iterator[pa.RecordBatch]:
    """All rows, batch by batch, for exports (CSV/Parquet downloads of any size)."""
    con, policies = open_query_connection(sql, principal)
    rows = 0
    try:
        for batch in _batches(_reader(con, sql, batch_rows)):
            rows += batch.num_rows
            yield batch
    finally:
        con.close()
        _record(principal, policies, rows)
