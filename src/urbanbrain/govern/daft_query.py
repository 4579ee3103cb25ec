"""Governed SQL on Daft: the same query, the same policy, planned and run by Daft over the Iceberg tables.

`urbanbrain sql --engine daft "..."` (and `run_daft_query`) answer a query as `govern/query.py` does,
with Daft instead of DuckDB doing the work, so a query too big for one machine can run on Daft's Ray
runner across a cluster (`URBANBRAIN_ENGINE=ray://...`).

How the caller's view is kept, step by step:

1. The query is checked with the DuckDB engine's own checks first: exactly one SELECT, and every
   table reference is a dataset (`department.system.object`), a CTE or a value-generating function
   (`lake.engine.check_references`); no files, no catalog functions. Then every function it calls must
   be on `SAFE_FUNCTIONS`: Daft's SQL has functions that read files or URLs (`url_download` reads
   `file:///etc/passwd`), models and the network, so the list is an allow-list, failing closed.
2. For each dataset the caller names, `govern.policy.policy_for` decides (the very decision DuckDB
   uses): which columns exist for the caller, which are masked how, which rows they see. The dataset
   becomes a Daft DataFrame: Iceberg scan -> row filter -> projection of visible columns with their
   masks, each masked value fenced by the row filter (as the DuckDB view does), all inside Daft's plan.
   Masks compute exactly what `govern/masking.py`'s SQL computes (the tests compare both engines):
   partial masks of identifiers as Daft expressions, of addresses and e-mails and keyed hashes as Python
   functions (slower per row).
3. The caller's SQL runs on Daft with only those DataFrames bound (`register_globals=False`), each
   under a private name the query's table references are rewritten to (by their positions in DuckDB's
   parse tree, so the rest of the query text is the caller's own).

What Daft's SQL cannot express (QUALIFY, some DuckDB functions) fails with Daft's message naming the
construct, plus the hint to run it on DuckDB, the default engine.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from urbanbrain.core import duck
from urbanbrain.core.errors import QueryError, ReadOnlyViolationError
from urbanbrain.govern.binding import bind
from urbanbrain.govern.masking import ADDRESS_DIVISIONS, HASH, MASK_TAIL, PARTIAL, REDACT, mask_key
from urbanbrain.govern.policy import RAW, DatasetPolicy, policy_for
from urbanbrain.govern.principals import Principal
from urbanbrain.govern.query import PolicyOf, QueryResult, _record, counted
from urbanbrain.lake.engine import check_read_only, check_references, nodes, parse_tree

# Functions a query on Daft may call: aggregates, window functions, arithmetic, text, time, null handling.
# Names as DuckDB's parser reports them (count(*) is count_star). Operators (+, ||, ~~ for LIKE) pass.
SAFE_FUNCTIONS = frozenset(" ".join("""
count count_star sum avg mean min max stddev stddev_samp stddev_pop variance var_samp var_pop median
any_value first last bool_and bool_or approx_count_distinct count_distinct list array_agg string_agg
row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value
abs ceil ceiling floor round sqrt cbrt exp ln log log2 log10 pow power sign mod greatest least
lower upper length char_length character_length substr substring concat trim ltrim rtrim left right
replace reverse starts_with ends_with contains strpos position lpad rpad split_part repeat
regexp_matches regexp_replace regexp_extract like ilike not_like not_ilike
date_trunc date_part extract year month day hour minute second dayofweek week quarter strftime
coalesce nullif ifnull
""".splitlines()).split())
_IDENT = re.compile(r'\s*("(?:[^"]|"")*"|[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*)')


@dataclass(frozen=True)
class Binding:
    alias: str
    dataset: str
    policy: DatasetPolicy


def check_functions(tree: dict[str, Any]) -> None:
    for node in nodes(tree):
        if node.get("class") not in ("FUNCTION", "WINDOW", "AGGREGATE"):
            continue
        name = str(node.get("function_name", "")).lower()
        if name and (name[0].isalpha() or name[0] == "_") and name not in SAFE_FUNCTIONS:
            raise ReadOnlyViolationError(
                f"function {name}() is not available on the daft engine",
                hint="run the query on DuckDB (the default engine), or use: " + ", ".join(sorted(SAFE_FUNCTIONS)))


def check_constructs(tree: dict[str, Any]) -> None:
    """Refuse what Daft's SQL would run wrongly without an error: an ORDER BY or LIMIT on a UNION (or
    EXCEPT, INTERSECT) itself is dropped by Daft (daft 0.7: all rows, unordered), so such a query is
    refused here (with `auto`, DuckDB answers it); ordering the set operation from an outer SELECT works."""
    for node in nodes(tree):
        if node.get("type") != "SET_OPERATION_NODE":
            continue
        kinds = {str(m.get("type")) for m in node.get("modifiers") or [] if isinstance(m, dict)}
        if kinds & {"ORDER_MODIFIER", "LIMIT_MODIFIER", "LIMIT_PERCENT_MODIFIER"}:
            raise QueryError("the daft engine cannot run this query: ORDER BY or LIMIT directly on a UNION "
                             "(Daft would ignore it)",
                             hint="wrap the UNION: SELECT * FROM (... UNION ...) AS u ORDER BY ... LIMIT ...; "
                                  "or run it on DuckDB (the default engine)")


def _span(sql: str, start: int) -> int:
    """End of the dotted (possibly quoted) name that starts at `start`."""
    pos = start
    for part in range(3):
        m = _IDENT.match(sql, pos)
        if m is None:
            raise QueryError("cannot find a table name in the query for the daft engine")
        pos = m.end()
        if part < 2:
            dot = re.compile(r"\s*\.").match(sql, pos)
            if dot is None:
                raise QueryError("cannot find a table name in the query for the daft engine")
            pos = dot.end()
    return pos


def rewrite(sql: str, tree: dict[str, Any]) -> tuple[str, list[tuple[str, tuple[str, ...]]]]:
    """The query with each dataset reference replaced by a private name; (name, dataset) pairs."""
    refs: list[tuple[int, tuple[str, ...], str]] = []
    for node in nodes(tree):
        if node.get("type") == "BASE_TABLE" and node.get("catalog_name") and node.get("schema_name"):
            ident = tuple(str(node[k]).lower() for k in ("catalog_name", "schema_name", "table_name"))
            refs.append((int(node["query_location"]), ident, str(node.get("alias") or "")))
    aliases: dict[tuple[str, ...], str] = {}
    out = sql
    for location, ident, alias in sorted(refs, reverse=True):  # from the end: earlier offsets stay valid
        private = aliases.setdefault(ident, f"ub_daft_{len(aliases)}")
        end = _span(out, location)
        # keep the name a query qualifies columns with (`visits.id`) when it gave no alias of its own
        out = out[:location] + (private if alias else f"{private} AS {ident[2]}") + out[end:]
    return out, [(a, i) for i, a in aliases.items()]


def _partial(value: str, pii_type: str | None) -> str:
    """`masking.partial_sql` in Python, character for character (the engines must agree)."""
    if pii_type == "address":
        m = re.match(ADDRESS_DIVISIONS, value)
        return (m.group(0) if m else "") + MASK_TAIL
    if pii_type == "email":
        at = value.find("@")
        return value[:1] + "***" + value[at:] if at >= 1 else "***"
    n = len(value)
    if n in (11, 15, 18):
        return value[:3] + "*" * (n - 7) + value[-4:]
    if n >= 5:
        return value[:1] + "***" + value[-1:]
    return value[:1] + "**"


def _partial_native(v: Any) -> Any:
    """`_partial` for fixed-length identifiers and everything else, as Daft expressions (no Python per
    row: 2 M masked mobiles took 6.4 s through a Python function, a fraction of that this way)."""
    import daft.functions as F
    from daft import lit

    n = v.length()

    def shaped(k: int) -> Any:
        return v.left(3).concat(lit("*" * (k - 7))).concat(v.right(4))

    return (F.when(n == 11, shaped(11)).when(n == 15, shaped(15)).when(n == 18, shaped(18))
            .when(n >= 5, v.left(1).concat(lit("***")).concat(v.right(1)))
            .otherwise(v.left(1).concat(lit("**"))))


def _mask_expr(column: Any, method: str, pii_type: str | None, dtype: Any, key: str) -> Any:
    import daft

    text = column.cast(daft.DataType.string())
    if method == REDACT:
        return daft.lit(None).cast(dtype)
    if method == PARTIAL and pii_type not in ("address", "email"):
        return _partial_native(text)
    if method == PARTIAL:  # regular expressions and '@' positions: in Python, exactly as `_partial` says
        @daft.func(return_dtype=daft.DataType.string())
        def partial(v: str | None) -> str | None:
            return None if v is None else _partial(v, pii_type)

        return partial(text)
    if method == HASH:
        @daft.func(return_dtype=daft.DataType.string())
        def keyed(v: str | None) -> str | None:
            return None if v is None else hashlib.md5((key + v).encode()).hexdigest()

        return keyed(text)
    return column


def governed_frame(dataset: str, policy: DatasetPolicy, key: str) -> Any:
    """The caller's view of one dataset as a Daft plan: scan, row filter, masked projection."""
    import daft
    import daft.functions as F

    from urbanbrain.lake.catalog import get_catalog

    table = get_catalog().load_table(tuple(dataset.split(".")))
    df = daft.read_iceberg(table)
    schema = df.schema()
    stored = set(schema.column_names())
    exprs = []
    fence = None
    if policy.row_filter:
        try:
            fence = daft.sql_expr(policy.row_filter)
        except Exception as exc:  # fail closed: no filter we cannot apply means no rows at all
            raise QueryError(f"the row filter on {dataset} cannot be applied by the daft engine: {exc}",
                             hint="run the query on DuckDB (the default engine)") from None
    for col in policy.columns:
        if col.name not in stored:
            continue
        ref = daft.col(col.name)
        expr = ref if col.method == RAW else _mask_expr(ref, col.method, col.pii_type, schema[col.name].dtype, key)
        if fence is not None:
            expr = F.when(fence, expr)
        exprs.append(expr.alias(col.name))
    if not exprs:
        raise QueryError(f"no column of {dataset} is visible to you",
                         hint="request fields from the owning department (`urbanbrain share request`)")
    if fence is not None:
        df = df.where(fence)
    return df.select(*exprs)


def _runner() -> None:
    """Daft runs natively here, or on the Ray cluster the engine setting names."""
    import daft

    from urbanbrain.core.execution import parse_engine
    from urbanbrain.core.settings import get_settings

    kind, address = parse_engine(get_settings().engine)
    if kind == "ray":
        import os

        target = (os.environ.get("RAY_ADDRESS") or "auto") if address == "auto" else f"ray://{address}"
        with contextlib.suppress(Exception):  # a runner was set already in this process: keep it
            daft.set_runner_ray(address=target)


def run_daft_query(sql: str, max_rows: int | None = None, params: dict[str, Any] | None = None, *,
                   principal: Principal, capability_grant: bool = False,
                   policy_of: PolicyOf | None = None) -> QueryResult:
    """Run one read-only query as `principal` on Daft; the rows and masks equal DuckDB's.

    `params` and `policy_of` mean what they mean for `govern.query.run_query`: `$name` values (bound
    as literals by `govern.binding`, since Daft has no prepared statements) and how each dataset's view
    is decided (data APIs read as their owner allows)."""
    with counted("daft"):
        decide = policy_of or (lambda name: policy_for(principal, name, capability_grant=capability_grant))
        return _run(sql, max_rows, params, principal, decide)


def _run(template: str, max_rows: int | None, params: dict[str, Any] | None, principal: Principal,
         decide: PolicyOf) -> QueryResult:
    import daft
    from pyiceberg.exceptions import NoSuchTableError

    con = duck.connect()
    try:
        check_read_only(con, template)
        sql = bind(template, params or {})  # every check below reads the bound text
        check_read_only(con, sql)
        tree = parse_tree(sql, con)
    finally:
        con.close()
    check_references(tree)
    check_functions(tree)
    check_constructs(tree)
    text, bound = rewrite(sql, tree)
    frames: dict[str, Any] = {}
    policies: list[DatasetPolicy] = []
    key = ""
    for alias, ident in bound:
        name = ".".join(ident)
        try:
            policy = decide(name)
        except Exception as exc:
            if isinstance(exc, NoSuchTableError) or type(exc).__name__ == "NotFoundError":
                from urbanbrain.lake.names import dataset_name_hint

                raise QueryError(f"no dataset named {name!r}", hint=dataset_name_hint(ident)) from None
            raise
        policies.append(policy)
        if policy.masked and not key:
            key = mask_key()
        frames[alias] = governed_frame(name, policy, key)
    _runner()
    try:
        df = daft.sql(text, register_globals=False, **frames)
        if max_rows is not None:
            df = df.limit(max_rows + 1)
        table: pa.Table = df.to_arrow()
    except Exception as exc:
        if isinstance(exc, QueryError):
            raise
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise QueryError(f"the daft engine cannot run this query: {message}",
                         hint="run it on DuckDB (the default engine: drop --engine daft)") from None
    truncated = max_rows is not None and table.num_rows > max_rows
    if truncated:
        table = table.slice(0, max_rows)
    _record(principal, policies, table.num_rows, template)
    return QueryResult(table, truncated, policies)
