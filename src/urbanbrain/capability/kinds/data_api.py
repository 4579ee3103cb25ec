"""Data APIs: a parameterised, read-only SQL template over lake datasets.

`implementation = {"sql": "SELECT ... FROM market.registry.firms WHERE credit_code = $code",
"max_rows": 1000, "default_rows": 100}`. Parameters are `$name` placeholders that DuckDB binds as
prepared-statement values, so no value can change the statement: `x' OR 1=1 --` is compared as a
string and matches nothing. The template runs through the lake engine as the calling consumer (its
department's view of the data: an approved capability grant counts as a grant of the conditional
fields, closed ones stay hidden), which exposes only the datasets it names, switches external access
off and runs SELECT only; this module adds paging on top: every
data API takes `limit` (clamped to `max_rows`) and `offset`, bound the same way.

`"engine": "auto" | "duckdb" | "daft"` picks where the template runs (`govern.engine_choice.run_sql`,
the path of `POST /api/sql` too). Daft has no prepared statements: there each value becomes a checked
literal (`govern.binding`: the bound query must parse to the template's tree with each placeholder one
constant), so an injection attempt is refused or compared as a value on either engine.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar

import duckdb

from urbanbrain.capability.base import CapabilityDefinition, InvokeResult
from urbanbrain.core import duck
from urbanbrain.core.errors import PermissionDeniedError, QueryError, ValidationError
from urbanbrain.govern.context import current_caller
from urbanbrain.govern.engine_choice import check_engine, run_sql
from urbanbrain.govern.policy import DatasetPolicy, holds_unmasking_grant, policy_for
from urbanbrain.govern.principals import Principal, consumer_principal
from urbanbrain.lake.engine import check_read_only

MAX_ROWS = 1_000  # hard ceiling per call, whatever the implementation says; page with offset for more
DEFAULT_ROWS = 100
PAGING = ("limit", "offset")
PAGING_SCHEMA: dict[str, Any] = {
    "limit": {"type": "integer", "minimum": 1, "description": "Rows per page (clamped to the API's maximum)."},
    "offset": {"type": "integer", "minimum": 0, "description": "Rows to skip, for paging."},
}


_PARSERS = threading.local()


def _parser() -> duckdb.DuckDBPyConnection:
    """This thread's DuckDB for parsing templates only (it never holds data or attaches anything).

    Opening a DuckDB costs ~0.1 s, so one per parse made publishing 200 data APIs take a minute and
    every call pay it again; one per thread is safe because DuckDB connections are not shared across
    threads."""
    con: duckdb.DuckDBPyConnection | None = getattr(_PARSERS, "con", None)
    if con is None:
        con = duck.connect(threads=1)
        _PARSERS.con = con
    return con


def template_parameters(sql: str) -> list[str]:
    """The `$name` placeholders of a template, from DuckDB's parse tree (never by scanning text)."""
    try:
        raw = _parser().execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
    except duckdb.Error as exc:
        raise ValidationError(f"the data API's SQL does not parse: {exc}") from None
    tree = json.loads(raw[0]) if raw else {}
    if tree.get("error"):
        raise ValidationError(f"the data API's SQL does not parse: {tree.get('error_message', 'syntax error')}",
                              hint="write one SELECT with $name placeholders for parameters")
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "VALUE_PARAMETER" and node.get("identifier") not in found:
                found.append(str(node.get("identifier")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree)
    return found


def jsonable(value: Any) -> Any:
    """Lake values as JSON: ISO dates, exact decimals as text, bytes as hex."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def _template(definition: CapabilityDefinition) -> str:
    sql = definition.implementation.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        raise ValidationError("a data API needs implementation.sql: one SELECT statement",
                              capability=definition.name)
    return sql.strip().rstrip(";").strip()


def _wrapped(template: str) -> str:
    return f"SELECT * FROM ({template}) AS ub_result LIMIT $ub_limit OFFSET $ub_offset"


def owner_views(definition: CapabilityDefinition, caller: Principal, granted: bool
                ) -> Callable[[str], DatasetPolicy]:
    """How a data API sees each dataset its template reads: at most what its owner may see and share.

    A dataset the owning department owns is read under the capability grant (its conditional fields
    in clear, closed ones hidden, the caller's row filters applied); any other dataset only if the
    owner holds an unmasking grant for it, and then as the owner itself sees it. A grant to call the
    API never unmasks a third department's data the owner could not share."""
    owner = definition.owner.lower()
    as_owner = consumer_principal(definition.name, owner) if owner else caller

    def decide(name: str) -> DatasetPolicy:
        own = policy_for(caller, name, capability_grant=granted)
        if owner and own.owner == owner:
            return own
        if owner and holds_unmasking_grant(owner, name):
            return policy_for(as_owner, name)
        raise PermissionDeniedError(f"data API {definition.name} reads {name}, which its department "
                                    f"{owner or '(unknown)'} neither owns nor holds an unmasking grant for",
                                    hint="the owning department must request and be granted those fields in clear")

    return decide


def _engine(definition: CapabilityDefinition) -> str:
    """`implementation.engine`: auto (default), duckdb or daft, as for `POST /api/sql`."""
    try:
        return check_engine(definition.implementation.get("engine") or "auto")
    except QueryError as exc:
        raise ValidationError(exc.message, capability=definition.name, hint="choose auto, duckdb or daft") from None


def _max_rows(definition: CapabilityDefinition) -> int:
    return max(1, min(int(definition.implementation.get("max_rows", MAX_ROWS)), MAX_ROWS))


class DataApiKind:
    """Runs the template with bound parameters; one page of rows comes back as a list of objects."""

    kind: ClassVar[str] = "data_api"

    def validate(self, definition: CapabilityDefinition) -> None:
        """At publish time: parses, is one SELECT, names existing datasets and columns, declares every
        placeholder. A dry run with `LIMIT 0` catches unknown columns before the first caller does."""
        template = _template(definition)
        check_read_only(_parser(), template)
        names = template_parameters(template)
        positional = [n for n in names if n.isdigit()]
        if positional:
            raise ValidationError("data API templates use named placeholders ($code), not ? or $1",
                                  capability=definition.name)
        reserved = [n for n in names if n in PAGING or n.startswith("ub_")]
        if reserved:
            raise ValidationError(f"placeholder ${reserved[0]} is reserved for paging", capability=definition.name,
                                  hint="rename it; every data API already takes limit and offset")
        declared = set((definition.input_schema or {}).get("properties", {}))
        undeclared = [n for n in names if n not in declared]
        if undeclared:
            raise ValidationError(f"placeholder ${undeclared[0]} is not declared in the input schema",
                                  capability=definition.name, parameter=undeclared[0],
                                  hint="add it under input_schema.properties with its JSON type")
        bound: dict[str, Any] = {n: None for n in names}
        if not definition.owner:
            raise ValidationError("a data API needs its owning department", capability=definition.name)
        owner = consumer_principal(definition.name, definition.owner)
        run_sql(_wrapped(template), params={**bound, "ub_limit": 0, "ub_offset": 0}, principal=owner,
                engine=_engine(definition), policy_of=owner_views(definition, owner, True))

    def inline(self, definition: CapabilityDefinition) -> bool:
        return False  # waits on SQL over the lake

    def invoke(self, definition: CapabilityDefinition, params: dict[str, Any]) -> InvokeResult:
        template = _template(definition)
        ceiling = _max_rows(definition)
        default = min(int(definition.implementation.get("default_rows", DEFAULT_ROWS)), ceiling)
        limit = max(1, min(int(params.get("limit") or default), ceiling))
        offset = max(0, int(params.get("offset") or 0))
        bound = {n: params.get(n) for n in template_parameters(template)}
        principal, granted = current_caller()
        try:
            result = run_sql(_wrapped(template), params={**bound, "ub_limit": limit + 1, "ub_offset": offset},
                             principal=principal, engine=_engine(definition),
                             policy_of=owner_views(definition, principal, granted))
        except QueryError as exc:  # a value DuckDB cannot cast to the column's type is the caller's mistake
            if "Conversion Error" in exc.message or "Could not convert" in exc.message:
                raise ValidationError(f"a parameter does not fit its column: {exc.message}",
                                      capability=definition.name) from None
            raise
        rows = [{k: jsonable(v) for k, v in row.items()} for row in result.table.to_pylist()]
        more = len(rows) > limit
        rows = rows[:limit]
        return InvokeResult(data=rows, rows=len(rows), truncated=more)
