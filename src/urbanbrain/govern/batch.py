"""Several governed queries as one principal on one sealed connection (indicators refreshed together).

Split from `govern.query` (which builds the sealed connections and runs single queries): this module
batches, remembers which SQL texts already passed the checks, and reuses kept connections
(`govern.kept`).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import threading
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import duckdb
import pyarrow as pa

from urbanbrain.core import duck
from urbanbrain.core.errors import QueryError, UrbanBrainError
from urbanbrain.govern.policy import policies_for_many
from urbanbrain.govern.principals import Principal
from urbanbrain.govern.query import QueryResult, Sealed, _record, classify_error, open_sealed, run_query
from urbanbrain.lake.engine import check_read_only, check_references, parse_tree, quote_ident

log = logging.getLogger(__name__)
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


Params = dict[str, Any] | None


def run_queries(sqls: list[str], max_rows: int | None = None, *, principal: Principal,
                params: list[Params] | None = None) -> list[QueryResult | QueryError]:
    """Several read-only queries as one `principal` on ONE sealed connection (indicators refreshed
    together): each is checked as `run_query` checks it and audited as its own read; the views are
    built once for the union of the datasets they name, and the connection is kept for the next run
    while it still shows the current snapshots under the current policies (`govern.kept`). A query
    that fails gets its error in its slot; when the shared connection cannot be opened (a dataset
    gone, say) each query runs alone, so one bad query never hides the others' results. `params[i]`
    binds the `$name` placeholders of `sqls[i]` (function indicators)."""
    return run_groups([(principal, sqls, params)], max_rows)[0]


Group = tuple[Principal, list[str], list[Params] | None]


def run_groups(groups: list[Group], max_rows: int | None = None) -> list[list[QueryResult | QueryError]]:
    """`run_queries` of several readers at once (every department's indicators): their kept connections
    are checked together (`kept.take_many`: one catalog query, one policy session for all) and the
    policies of the ones to build afresh decided together (`policy.policies_for_many`); then each group
    runs on its OWN reader's connection, exactly as `run_queries` would run it alone, the groups side by
    side on the process's cores. A group that fails unexpectedly gets the error in each of its slots
    (logged); the others keep their answers and their reads are audited once."""
    from urbanbrain.govern import kept

    named: list[list[list[tuple[str, ...]] | QueryError]] = []
    unions: list[list[tuple[str, ...]]] = []
    for _, sqls, _ in groups:
        refs_of: list[list[tuple[str, ...]] | QueryError] = []
        for sql in sqls:
            try:
                refs_of.append(checked_references(sql))
            except QueryError as exc:
                refs_of.append(exc)
        named.append(refs_of)
        unions.append(sorted({i for refs in refs_of if not isinstance(refs, QueryError) for i in refs}))
    keys = [kept.key_of(principal, union) for (principal, _, _), union in zip(groups, unions, strict=True)]
    wanted = [n for n, union in enumerate(unions) if union]
    taken = dict(zip(wanted, kept.take_many([(keys[n], groups[n][0]) for n in wanted]), strict=True))
    fresh = [(groups[n][0], ".".join(i)) for n in wanted if taken[n] is None for i in unions[n]]
    if fresh:
        with contextlib.suppress(UrbanBrainError):  # decided together, then cached; a dataset gone
            policies_for_many(fresh)  # is said by open_sealed below

    def one(n: int) -> list[QueryResult | QueryError]:
        principal, sqls, params = groups[n]
        binds = params or [None] * len(sqls)
        if not unions[n]:
            return [refs if isinstance(refs, QueryError) else _alone(sql, max_rows, principal, bind)
                    for sql, refs, bind in zip(sqls, named[n], binds, strict=True)]
        return _run_group(principal, sqls, binds, named[n], unions[n], keys[n], taken[n], max_rows)

    if len(groups) == 1:
        return [one(0)]  # `run_queries`: its caller sees an unexpected failure as it is

    def guarded(n: int) -> list[QueryResult | QueryError]:
        """One reader's failure is its own queries' error, never the others' (they are not run again)."""
        try:
            return one(n)
        except Exception as exc:
            log.exception("the queries of %s failed", groups[n][0].label)
            return [QueryError(f"{type(exc).__name__}: {exc}", hint="see the server log")] * len(groups[n][1])

    workers = min(len(groups), _cores())
    if workers < 2:
        return [guarded(n) for n in range(len(groups))]
    # Readers' connections are separate DuckDB instances and a query releases the GIL, so groups run side
    # by side, one per core, the largest first; each in a copy of this context, so the reads it audits
    # reach the caller's `audit.reads_held` like the ones of a group run here.
    order = sorted(range(len(groups)), key=lambda n: -len(groups[n][1]))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ub-groups") as pool:
        futures = {n: pool.submit(contextvars.copy_context().run, guarded, n) for n in order}
    return [futures[n].result() for n in range(len(groups))]


def _cores() -> int:
    """The cores this process may use (its CPU affinity, e.g. a container's cpuset), not the machine's."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _run_group(principal: Principal, sqls: list[str], binds: list[Params],
               named: list[list[tuple[str, ...]] | QueryError], union: list[tuple[str, ...]], key: Hashable,
               sealed: Sealed | None, max_rows: int | None) -> list[QueryResult | QueryError]:
    """One reader's queries on its kept connection (`sealed`) or a fresh one, which is kept afterwards."""
    from urbanbrain.govern import kept

    reused = sealed is not None
    if sealed is None:
        try:
            sealed = open_sealed("SELECT 1 FROM " + ", ".join(".".join(quote_ident(p) for p in i) for i in union),
                                 principal)
        except QueryError:
            return [refs if isinstance(refs, QueryError) else _alone(sql, max_rows, principal, bind)
                    for sql, refs, bind in zip(sqls, named, binds, strict=True)]
    out: list[QueryResult | QueryError] = []
    healthy = True
    try:
        policies = {p.dataset: p for p in sealed.policies}
        for sql, refs, bind in zip(sqls, named, binds, strict=True):
            if isinstance(refs, QueryError):
                out.append(refs)
                continue
            try:
                table = _table(sealed.con, sql, bind)
            except QueryError as exc:
                if reused:  # maybe a view gone stale: run alone; if that answers otherwise, drop the connection
                    alone = _alone(sql, max_rows, principal, bind)
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


def _table(con: duckdb.DuckDBPyConnection, sql: str, params: Params = None) -> pa.Table:
    """The whole answer at once (an indicator's is small): materialised by DuckDB's parallel collector
    rather than pulled batch by batch through a streaming result."""
    try:
        return con.execute(sql, params).to_arrow_table()
    except duckdb.Error as exc:
        raise classify_error(exc) from None


def _alone(sql: str, max_rows: int | None, principal: Principal, params: Params = None) -> QueryResult | QueryError:
    try:
        return run_query(sql, max_rows, params, principal=principal)
    except QueryError as exc:
        return exc
