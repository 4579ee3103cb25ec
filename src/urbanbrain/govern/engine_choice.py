"""Which engine answers a governed query: DuckDB here, or Daft (on the Ray cluster) above a size.

`urbanbrain sql` with `--engine auto` (the default) sends a query to Daft when the data files of the
datasets it names add up to `query_daft_above_bytes` or more (0, the default: never on its own), and
to DuckDB otherwise; `--engine duckdb` or `--engine daft` choose outright. Both engines apply the same
policy decision (`govern.policy.policy_for`): masked projection and row filter, so the choice changes
where the work runs, never what the caller sees.

A query Daft must not run (a function off its allow-list) or cannot express (QUALIFY) goes to DuckDB
when the choice was automatic; chosen outright, Daft's refusal is the answer.
"""

from __future__ import annotations

from urbanbrain.core.errors import QueryError, ReadOnlyViolationError, UrbanBrainError
from urbanbrain.core.settings import get_settings
from urbanbrain.govern.principals import Principal
from urbanbrain.govern.query import QueryResult, run_query

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
    engine = engine.lower()
    if engine not in ENGINES:
        raise QueryError(f"unknown engine {engine!r}", hint="choose auto, duckdb or daft")
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


def run_sql(sql: str, *, principal: Principal, engine: str = "auto", max_rows: int | None = None) -> QueryResult:
    """One governed query on the engine `choose_engine` picks; the rows and masks are the same on both."""
    chosen = choose_engine(sql, engine)
    if chosen == "duckdb":
        return run_query(sql, max_rows=max_rows, principal=principal)
    from urbanbrain.govern.daft_query import run_daft_query

    try:
        return run_daft_query(sql, max_rows=max_rows, principal=principal)
    except (QueryError, ReadOnlyViolationError) as exc:
        if engine.lower() != "auto" or not str(exc).startswith(DAFT_CANNOT):
            raise
    return run_query(sql, max_rows=max_rows, principal=principal)  # a construct only DuckDB knows
