"""Several governed queries as one principal on one sealed connection (indicators refreshed together).

Split from `govern.query` (which builds the sealed connections and runs single queries): this module
batches, remembers which SQL texts already passed the checks, and reuses kept connections
(`govern.kept`).
"""

from __future__ import annotations

import contextlib
import threading

import duckdb
import pyarrow as pa

from urbanbrain.core import duck
from urbanbrain.core.errors import QueryError, UrbanBrainError
from urbanbrain.govern.policy import policies_for
from urbanbrain.govern.principals import Principal
from urbanbrain.govern.query import QueryResult, _record, classify_error, open_sealed, run_query
from urbanbrain.lake.engine import check_read_only, check_references, parse_tree, quote_ident

_CHECKER: duckdb.DuckDBPyConnection | None = None  # parses only: it never holds a view or reads a file
_CHECKER_LOCK = threading.Lock()
_CHECKED: dict[str, list[tuple[str, ...]]] = {}  # SQL text -> the datasets it names, once it passed the checks
_CHECKED_MAX = 4096


def checked_references(sql: str) -> list[tuple[str, ...]]:
    """The datasets `sql` reads, after the read-only and reference checks (`QueryError` if refused).

    Remembered by the SQL text: the checks are a pure function of the text (DuckDB's parse tree and
    a fixed whitelist), so an indicator refreshed every few minutes is parsed once per definition,
    not once per refresh. Refusals are not remembered (their hints name current datasets)."""
    hit = _CHECKED.get(sql)
    if hit is not None:
        return hit
    with _CHECKER_LOCK:  # parsing needs a connection, not a new one per batch (opening one costs ~30 ms)
        global _CHECKER
        if _CHECKER is None:
            _CHECKER = duck.connect()
        check_read_only(_CHECKER, sql)
        refs = [tuple(p.lower() for p in i) for i in check_references(parse_tree(sql, _CHECKER))]
        if len(_CHECKED) >= _CHECKED_MAX:
            _CHECKED.clear()
        _CHECKED[sql] = refs
    return refs


def run_queries(sqls: list[str], max_rows: int | None = None, *,
                principal: Principal) -> list[QueryResult | QueryError]:
    """Several read-only queries as one `principal` on ONE sealed connection (indicators refreshed
    together): each is checked as `run_query` checks it and audited as its own read; the views are
    built once for the union of the datasets they name, and the connection is kept for the next run
    while it still shows the current snapshots under the current policies (`govern.kept`). A query
    that fails gets its error in its slot; when the shared connection cannot be opened (a dataset
    gone, say) each query runs alone, so one bad query never hides the others' results."""
    from urbanbrain.govern import kept

    named: list[list[tuple[str, ...]] | QueryError] = []
    for sql in sqls:
        try:
            named.append(checked_references(sql))
        except QueryError as exc:
            named.append(exc)
    union = sorted({ident for refs in named if not isinstance(refs, QueryError) for ident in refs})
    if not union:
        return [refs if isinstance(refs, QueryError) else _alone(sql, max_rows, principal)
                for sql, refs in zip(sqls, named, strict=True)]
    key = kept.key_of(principal, union)
    sealed = kept.take(key, principal)
    reused = sealed is not None
    if sealed is None:
        with contextlib.suppress(UrbanBrainError):  # decided in one session, then cached; a dataset gone
            policies_for(principal, [".".join(i) for i in union])  # is said by open_sealed below
        try:
            sealed = open_sealed("SELECT 1 FROM " + ", ".join(".".join(quote_ident(p) for p in i) for i in union),
                                 principal)
        except QueryError:
            return [refs if isinstance(refs, QueryError) else _alone(sql, max_rows, principal)
                    for sql, refs in zip(sqls, named, strict=True)]
    out: list[QueryResult | QueryError] = []
    healthy = True
    try:
        policies = {p.dataset: p for p in sealed.policies}
        for sql, refs in zip(sqls, named, strict=True):
            if isinstance(refs, QueryError):
                out.append(refs)
                continue
            try:
                table = _table(sealed.con, sql)
            except QueryError as exc:
                if reused:  # maybe a view gone stale: run alone; if that answers otherwise, drop the connection
                    alone = _alone(sql, max_rows, principal)
                    if not (isinstance(alone, QueryError) and alone.message == exc.message):
                        healthy = False
                    out.append(alone)
                else:
                    out.append(exc)
                continue
            truncated = max_rows is not None and table.num_rows > max_rows
            if truncated:
                table = table.slice(0, max_rows)
            mine = [policies[".".join(i)] for i in refs if ".".join(i) in policies]
            _record(principal, mine, table.num_rows, sql)
            out.append(QueryResult(table, truncated, mine))
        return out
    except BaseException:
        healthy = False
        raise
    finally:
        if healthy:
            kept.give(key, sealed)
        else:
            sealed.close()


def _table(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """The whole answer at once (an indicator's is small): materialised by DuckDB's parallel collector
    rather than pulled batch by batch through a streaming result."""
    try:
        return con.execute(sql).to_arrow_table()
    except duckdb.Error as exc:
        raise classify_error(exc) from None


def _alone(sql: str, max_rows: int | None, principal: Principal) -> QueryResult | QueryError:
    try:
        return run_query(sql, max_rows, principal=principal)
    except QueryError as exc:
        return exc
