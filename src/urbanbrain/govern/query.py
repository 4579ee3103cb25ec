"""Governed SQL: a caller's query runs on a connection that holds only the caller's views of the data.

Two DuckDB connections per query, and the caller's SQL only ever runs on the second:

1. The *platform's* connection knows the raw data files and the masking key. It runs SQL we write,
   never the caller's: for each dataset the caller's query names it computes the caller's view
   (`govern.policy`: projection, masks, row filter) and writes it as Parquet (`lake.maskcache`: kept
   per snapshot and policy, or a private file per query for large datasets), then closes.
2. The *caller's* connection gets, per dataset, a view over those masked files (a dataset the caller may
   see entirely as stored - its owner, say - is a view over its data files, which hold nothing the
   caller may not see). Then file access is switched off except for exactly those files, Python
   replacement scans are off and the configuration is locked, all before the caller's SQL runs.

So whatever name, quoting or scoping trick a query uses, everything its connection can reach is data
the caller may see: the raw files of a restricted dataset and the masking key were never in it. The
parse-tree check (`lake.engine.check_references`) still refuses files, catalog functions and settings
up front, but the guarantee does not rest on it (docs/governance.md has the argument).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.exceptions import NoSuchTableError

from urbanbrain.core import duck
from urbanbrain.core.errors import QueryError, ReadOnlyViolationError
from urbanbrain.core.metrics import QUERIES, QUERY_SECONDS
from urbanbrain.core.settings import get_settings
from urbanbrain.govern import access
from urbanbrain.govern.masking import mask_key, mask_sql
from urbanbrain.govern.policy import RAW, DatasetPolicy, policy_for
from urbanbrain.govern.principals import Principal
from urbanbrain.lake import maskcache, prune
from urbanbrain.lake.engine import (
    Columns,
    _literal,
    check_read_only,
    check_references,
    parse_tree,
    pruned_files,
    quote_ident,
    raw_select,
    table_plan,
    warehouse_root,
)

PolicyOf = Callable[[str], DatasetPolicy]


@dataclass
class QueryResult:
    table: pa.Table
    truncated: bool
    policies: list[DatasetPolicy] | None = None

    @property
    def columns(self) -> list[str]:
        return list(self.table.column_names)


@dataclass
class Sealed:
    """A caller's locked connection, the policies it was built from, and its private files."""

    con: duckdb.DuckDBPyConnection
    policies: list[DatasetPolicy]
    scratch: list[str] = field(default_factory=list)
    # what each view was built from: (dataset, snapshot's metadata location, policy), for `govern.kept`
    plan: list[tuple[tuple[str, ...], str | None, DatasetPolicy]] = field(default_factory=list)

    def close(self) -> None:
        self.con.close()
        for path in self.scratch:
            with contextlib.suppress(OSError):
                os.unlink(path)


def masked_select(raw_sql: str, columns: Columns, policy: DatasetPolicy, key: str) -> str:
    """The caller's view of a dataset as SQL over its raw rows (runs on the platform's connection only)."""
    head, tail = _masked_template(columns, policy, key)
    return f"{head}{raw_sql}{tail}"


def _masked_template(columns: Columns, policy: DatasetPolicy, key: str) -> tuple[str, str]:
    """`masked_select` around a hole for the raw SQL: built once per dataset and query, then filled in
    per group of data files (`maskcache.groups`: a big table has tens of masked twins)."""
    types = {n: _duck(t) for _, n, t in columns}
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
    return f"SELECT {', '.join(exprs)} FROM (", f") AS ub_raw{where}"


def _duck(arrow_type: pa.DataType) -> str:
    from urbanbrain.lake.types import duckdb_type

    return duckdb_type(arrow_type)


def _as_stored(policy: DatasetPolicy, columns: Columns) -> bool:
    """The caller may see every column of the table in clear and every row: its files hold nothing more."""
    return policy.unrestricted and {n for _, n, _ in columns} <= {c.name for c in policy.columns}


def _pruned(tree: dict[str, Any], ident: tuple[str, ...], files: list[str], columns: Columns,
            policy: DatasetPolicy, location: str | None) -> list[str]:
    """Only the data files the query's own filter on `ident` can need (`lake.prune`): a one-day filter
    on a day-partitioned table masks and reads one day's files, not the table's."""
    if len(files) < 2:
        return files
    raw = {c.name for c in policy.columns if c.method == RAW}
    expr = prune.row_filter(tree, ident, columns, raw)
    found = pruned_files(location, expr) if expr is not None and location else None
    if found is None:
        return files
    keep = set(found)
    return [f for f in files if f in keep]


def open_sealed(sql: str, principal: Principal, *, capability_grant: bool = False,
                policy_of: PolicyOf | None = None) -> Sealed:
    """The caller's connection for `sql`, holding `principal`'s views of the datasets `sql` names.

    `policy_of(dataset)` overrides how each dataset's view is decided (data APIs read as their owner
    allows); by default it is `policy_for(principal, dataset, capability_grant=...)`."""
    settings = get_settings()
    tmp = settings.home_dir / "tmp" / "duckdb"
    tmp.mkdir(parents=True, exist_ok=True)
    decide = policy_of or (lambda name: policy_for(principal, name, capability_grant=capability_grant))
    con = duck.connect(memory_limit=settings.query_memory_limit,
                       config={"temp_directory": str(tmp), "python_enable_replacements": False})
    # the data files and masked twins a connection reads never change under their path (a new snapshot
    # is new files); a kept connection (`govern.kept`) re-reads the same ones every refresh, so their
    # Parquet footers are kept (DuckDB still re-reads a file whose modification time is newer)
    con.execute("SET parquet_metadata_cache = true")
    sealed = Sealed(con, [])
    platform: duckdb.DuckDBPyConnection | None = None
    try:
        check_read_only(con, sql)
        tree = parse_tree(sql, con)
        idents = check_references(tree)
        catalogs: set[str] = set()
        schemas: set[tuple[str, str]] = set()
        allowed: list[str] = []
        key = ""
        for n, ident in enumerate(idents):
            ident = tuple(part.lower() for part in ident)
            try:
                location, files, columns = table_plan(ident)
            except NoSuchTableError:
                from urbanbrain.lake.names import dataset_name_hint

                raise QueryError(f"no dataset named {'.'.join(ident)!r}", hint=dataset_name_hint(ident)) from None
            policy = decide(".".join(ident))
            sealed.policies.append(policy)
            sealed.plan.append((ident, location, policy))
            files = _pruned(tree, ident, files, columns, policy, location)
            if _as_stored(policy, columns):
                source = raw_select(files, columns)
                allowed.extend(files)
            else:
                key = key or (mask_key() if policy.masked else "")
                paths: list[str] = []
                head, tail = _masked_template(columns, policy, key)
                root = warehouse_root()
                for group in maskcache.groups(files):  # one twin per group of files: new snapshots reuse them
                    view = f"{head}{raw_select(group, columns, root)}{tail}"  # = masked_select(...)
                    keep = maskcache.worth_materialising(group)
                    found = maskcache.lookup(view) if keep else None
                    if found is None and platform is None:  # opened only when something must be written
                        platform = duck.connect(memory_limit=settings.query_memory_limit,
                                                config={"temp_directory": str(tmp)})
                    if found is not None:
                        path = found
                    elif keep:
                        assert platform is not None
                        path = maskcache.materialised(platform, view, evict=False)
                    else:
                        assert platform is not None
                        path = maskcache.scratch(platform, view)
                        sealed.scratch.append(path)
                    paths.append(path)
                maskcache.evict(keep=set(paths))
                allowed.extend(paths)
                source = maskcache.union_sql(paths)  # one scan per twin: DuckDB keeps each one's statistics
            hidden = f"ub_view_{n}"
            # a view made from a relation keeps its definition (paths) out of duckdb_views()
            con.sql(source).to_view(hidden, replace=True)
            setup: list[str] = []
            if ident[0] not in catalogs:
                setup.append(f"ATTACH ':memory:' AS {quote_ident(ident[0])}")
                catalogs.add(ident[0])
            if (ident[0], ident[1]) not in schemas:
                setup.append(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(ident[0])}.{quote_ident(ident[1])}")
                schemas.add((ident[0], ident[1]))
            setup.append(f"CREATE VIEW {'.'.join(quote_ident(p) for p in ident)} AS SELECT * FROM memory.main.{hidden}")
            con.execute(";\n".join(setup))
        if platform is not None:
            platform.close()
            platform = None
        listing = ", ".join(_literal(f) for f in allowed)
        threads = "SET threads = 1; " if duck.small_scan(allowed) else ""  # before the lock
        con.execute(f"{threads}SET allowed_paths = [{listing}]; SET enable_external_access = false; "
                    "SET lock_configuration = true")
        return sealed
    except duckdb.Error as exc:
        sealed.close()
        raise classify_error(exc) from None
    except BaseException:
        sealed.close()
        raise
    finally:
        if platform is not None:
            platform.close()


def _scrub(message: str) -> str:
    """Errors name no file of the platform's: its home and warehouse folders become `<lake>`."""
    settings = get_settings()
    for root in {str(settings.home_dir.resolve()), str(settings.home_dir), str(settings.warehouse_path)}:
        if root and root != ".":
            message = re.sub(re.escape(root) + r"[^\s'\"]*", "<lake>", message)
    return message


def classify_error(exc: duckdb.Error) -> QueryError:
    """DuckDB's errors as ours: reaching outside the lake is a 403, anything else a 400; no paths."""
    text = _scrub(str(exc))
    if isinstance(exc, duckdb.PermissionException):
        return ReadOnlyViolationError(f"the query tried to reach outside the lake: {text}")
    if isinstance(exc, duckdb.CatalogException):
        return QueryError(text, hint="dataset names are department.system.object; "
                                     "list them with `urbanbrain dataset list`")
    return QueryError(text)


def _reader(con: duckdb.DuckDBPyConnection, sql: str, batch_rows: int,
            params: dict[str, Any] | None = None) -> pa.RecordBatchReader:
    try:
        return con.execute(sql, params).fetch_record_batch(batch_rows)
    except duckdb.Error as exc:
        raise classify_error(exc) from None


def _batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
    except duckdb.Error as exc:
        raise classify_error(exc) from None


def _record(principal: Principal, policies: list[DatasetPolicy], rows: int, sql: str) -> None:
    for p in policies:
        access.on_read(principal, p.dataset, [c.name for c in p.columns], rows, p.masked, p.grant_id,
                       statement=sql)


def run_query(sql: str, max_rows: int | None = None, params: dict[str, Any] | None = None, *,
              principal: Principal, capability_grant: bool = False,
              policy_of: PolicyOf | None = None) -> QueryResult:
    """Run one read-only query as `principal`; at most `max_rows` rows come back (`truncated` says if
    more existed).

    `params` are bound by DuckDB as prepared-statement values for `$name` placeholders (data APIs),
    so a value can never change the statement: `run_query("... WHERE code = $code", params={"code": x},
    principal=consumer)`. Local, internal work passes `SYSTEM`; capabilities pass their caller.
    """
    with counted("duckdb"):
        return _run_query(sql, max_rows, params, principal, capability_grant, policy_of)


@contextlib.contextmanager
def counted(engine: str) -> Iterator[None]:
    """Count a query for /metrics (`core/metrics.py`): by engine and outcome, with its wall time."""
    start = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    finally:
        QUERIES.inc(engine, outcome)
        QUERY_SECONDS.observe(time.perf_counter() - start, engine)


def _run_query(sql: str, max_rows: int | None, params: dict[str, Any] | None, principal: Principal,
               capability_grant: bool, policy_of: PolicyOf | None) -> QueryResult:
    sealed = open_sealed(sql, principal, capability_grant=capability_grant, policy_of=policy_of)
    try:
        reader = _reader(sealed.con, sql, 10_000, params)
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
        _record(principal, sealed.policies, rows, sql)
        return QueryResult(pa.Table.from_batches(batches, schema=reader.schema), truncated, sealed.policies)
    finally:
        sealed.close()


def stream_query(sql: str, batch_rows: int = 50_000, *, principal: Principal
                 ) -> Generator[pa.RecordBatch, None, None]:
    """All rows, batch by batch, for exports (CSV/Parquet downloads of any size)."""
    sealed = open_sealed(sql, principal)
    rows = 0
    try:
        for batch in _batches(_reader(sealed.con, sql, batch_rows)):
            rows += batch.num_rows
            yield batch
    finally:
        sealed.close()
        _record(principal, sealed.policies, rows, sql)


def preview(name: str, limit: int = 20, *, principal: Principal) -> QueryResult:
    """The first rows as `principal` may see them (masked, filtered) - the same views SQL gets."""
    from urbanbrain.lake.datasets import get_dataset

    get_dataset(name)
    ident = ".".join(quote_ident(p) for p in name.lower().split("."))
    return run_query(f"SELECT * FROM {ident} LIMIT {int(max(0, min(limit, 1000)))}", principal=principal)


def lineage(name: str, *, principal: Principal) -> Any:
    """Where a dataset's rows came from; the source's connection details only for its own department
    (a URL names hosts, databases and users other departments have no business knowing)."""
    from urbanbrain.lake.datasets import lineage as stored

    found = stored(name)
    if principal.in_department(found.department):
        return found
    return found.model_copy(update={"source": ""})
