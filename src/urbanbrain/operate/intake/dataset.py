"""`urbanbrain case import <dataset>`: a synced ticket table becomes cases, incrementally.

Rows are read through the query engine as the acting principal, so governance decides what the
importer may see (masked columns arrive masked). The cursor is the largest ticket id imported; each
run reads rows after it in id order, and creation is idempotent on (channel, ticket id), so a re-run
after a crash neither doubles nor skips a ticket. Rows the pipeline refuses (no location, outside the
city) are reported with their reason, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from urbanbrain.core.clock import utcnow
from urbanbrain.core.errors import UrbanBrainError, ValidationError
from urbanbrain.govern.authz import authorize
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import IntakeCursor
from urbanbrain.operate.intake.base import channel, submit
from urbanbrain.operate.states import ops_department

KEY = "ticket_id"
COLUMNS = ("ticket_id", "created_at", "content", "category", "address", "district", "caller_name", "caller_phone")


@dataclass
class ImportResult:
    dataset: str
    read: int = 0
    created: int = 0
    already: int = 0
    dispatched: int = 0
    cursor: str | None = None
    refused: list[dict[str, str]] = field(default_factory=list)


def import_dataset(dataset: str, by: Principal, *, limit: int | None = None) -> ImportResult:
    from urbanbrain.capability.builtins._lake import find_dataset, sql_dataset, sql_literal
    from urbanbrain.govern.query import run_query
    from urbanbrain.lake.engine import quote_ident

    authorize("case.create", by, department=ops_department())
    ds = find_dataset(dataset, "tickets", (".tickets",), "ticket dataset")
    have = {str(c.get("name")) for c in ds.columns}
    if KEY not in have or "content" not in have:
        raise ValidationError(f"{ds.name} has no {KEY}/content columns", hint="import a hotline ticket table")
    name = f"dataset:{ds.name}"
    with session_scope() as s:
        row = s.get(IntakeCursor, name)
        cursor = row.cursor if row else None
    cols = ", ".join(quote_ident(c) for c in COLUMNS if c in have)
    where = f"WHERE CAST({quote_ident(KEY)} AS VARCHAR) > {sql_literal(cursor)}" if cursor else ""
    sql = f"SELECT {cols} FROM {sql_dataset(ds.name)} {where} ORDER BY CAST({quote_ident(KEY)} AS VARCHAR)"
    if limit:
        sql += f" LIMIT {int(limit)}"
    rows: list[dict[str, Any]] = run_query(sql, principal=by).table.to_pylist()
    result = ImportResult(ds.name, read=len(rows), cursor=cursor)
    tickets = channel("dataset")
    for r in rows:
        ref = str(r[KEY])
        try:
            case, created = submit(tickets.to_report(r), by, authorise=False)
        except UrbanBrainError as exc:
            result.refused.append({KEY: ref, "reason": exc.message})
        else:
            result.created += created
            result.already += not created
            result.dispatched += created and case["status"] == "dispatched"
        result.cursor = ref
    if rows:
        with session_scope() as s:
            row = s.scalar(select(IntakeCursor).where(IntakeCursor.name == name)) or IntakeCursor(name=name)
            row.cursor, row.updated_at = result.cursor, utcnow()
            s.add(row)
    return result
