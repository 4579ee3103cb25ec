"""Which engine answers a governed query: DuckDB here, or Daft (on the Ray cluster) above a size.

`run_sql` (and `stream_sql` for exports) is the one way a caller's SQL runs: `urbanbrain sql
--engine`, `POST /api/sql` with `"engine"` and the data APIs (`implementation.engine`) all call it.
With `auto` (the default) a query goes to Daft when the data files of the
datasets it names add up to `query_daft_above_bytes` or more (0, the default: never on its own), and
to DuckDB otherwise; `--engine duckdb` or `--engine daft` choose outright. Both engines apply the same
policy decision (`govern.policy.policy_for`): masked projection and row filter, so the choice changes
where the work runs, never what the caller sees.

A query Daft must not run (a function off its allow-list) or cannot express (QUALIFY) goes to DuckDB
when the choice was automatic; chosen outright, Daft's refusal is the answer.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

from urbanbrain.core.errors import QueryError, ReadOnlyViolationError, UrbanBrainError
from urbanbrain.core.settings import get_settings
from urbanbrain.govern.principals import Principal
from urbanbrain.govern.query import PolicyOf, QueryResult, run_query, stream_query

if TYPE_CHECKING:
    import pyarrow as pa

ENGINES = ("auto", "duckdb", "daft")
DAFT_CANNOT = "the daft engine cannot run this query"


def scanned_bytes(datasets: list[tuple[str, ...]]) -> int:
    """Bytes of the data files of the current snapshots of `datasets` (unknown ones count 0: the query
    then fails on its own, with the engine's message)."""
    from urbanbrain.lake.catalog import get_catalog

    catalog = get_catalog()
    total = 0
    for ident in datasets:
        try:
            snap = catalog.load_table(tuple(p.lower() for p in ident)).current_snapshot()
        except Exception:
            continue
        if snap is not None and snap.summary is not None:
            total += int(snap.summary.get("total-files-size", 0) or 0)
    return total


def choose_engine(sql: str, engine: str = "auto") -> str:
    """`duckdb` or `daft` for `sql`: as given, or by the size of what it reads when `auto`."""
    engine = check_engine(engine)
    if engine != "auto":
        return engine
    threshold = get_settings().query_daft_above_bytes
    if not threshold:
        return "duckdb"
    from urbanbrain.govern.daft_query import check_functions
    from urbanbrain.lake.engine import nodes, parse_tree

    try:
        tree = parse_tree(sql)
        check_functions(tree)  # what Daft must not run stays on DuckDB (which has its own checks)
    except UrbanBrainError:
        return "duckdb"
    datasets = sorted({tuple(str(n[k]) for k in ("catalog_name", "schema_name", "table_name"))
                       for n in nodes(tree) if n.get("type") == "BASE_TABLE"
                       and n.get("catalog_name") and n.get("schema_name")})
    return "daft" if datasets and scanned_bytes(list(datasets)) >= threshold else "duckdb"


def check_engine(engine: str) -> str:
    """`engine` in lower case, or a QueryError naming the choices (an API answers it with 400)."""
    if not isinstance(engine, str) or engine.lower() not in ENGINES:
        raise QueryError(f"unknown engine {engine!r}", hint="choose auto, duckdb or daft")
    return engine.lower()


def run_sql(sql: str, *, principal: Principal, engine: str = "auto", max_rows: int | None = None,
            params: dict[str, Any] | None = None, capability_grant: bool = False,
            policy_of: PolicyOf | None = None) -> QueryResult:
    """One governed query on the engine `choose_engine` picks; the rows and masks are the same on both.

    The one path for a caller's SQL: the CLI (`urbanbrain sql`), `POST /api/sql` and the data APIs of
    the capability center all run here, so an engine choice means the same thing everywhere. `params`
    are `$name` values (prepared-statement values on DuckDB, checked literals on Daft: `govern.binding`);
    `policy_of` decides each dataset's view (data APIs: what their owner may share)."""
    engine = check_engine(engine)
    chosen = choose_engine(sql, engine)
    if chosen == "duckdb":
        return run_query(sql, max_rows, params, principal=principal, capability_grant=capability_grant,
                         policy_of=policy_of)
    from urbanbrain.govern.daft_query import run_daft_query

    try:
        return run_daft_query(sql, max_rows, params, principal=principal, capability_grant=capability_grant,
                              policy_of=policy_of)
    except (QueryError, ReadOnlyViolationError) as exc:
        if engine != "auto" or not str(exc).startswith(DAFT_CANNOT):
            raise
    return run_query(sql, max_rows, params, principal=principal, capability_grant=capability_grant,
                     policy_of=policy_of)  # a construct only DuckDB knows


def stream_sql(sql: str, *, principal: Principal, engine: str = "auto", batch_rows: int = 50_000
               ) -> Iterator[pa.RecordBatch]:
    """Every row, batch by batch, for exports (CSV and Parquet downloads): streamed by DuckDB; Daft's
    answer is collected first (it runs where the data is, possibly a cluster) and then handed out in
    batches. Closing the iterator closes DuckDB's connection."""
    engine = check_engine(engine)
    if choose_engine(sql, engine) == "duckdb":
        return stream_query(sql, batch_rows, principal=principal)
    return _batches(run_sql(sql, principal=principal, engine=engine).table, batch_rows)


def _batches(table: pa.Table, batch_rows: int) -> Generator[pa.RecordBatch, None, None]:
    yield from table.to_batches(max_chunksize=batch_rows)
