"""`/sql`: the SQL workbench — run a read-only query, see up to 1,000 rows, download all of them as CSV.

Queries run through `govern.engine_choice.run_sql` with `auto` (DuckDB, or Daft above
`query_daft_above_bytes`), as the CLI and `POST /api/sql` do. The engine decides what may run (only
SELECT, only the lake); its errors are shown inline with their
hint and the status `status_for` gives them (403 for writes, 400 for bad SQL).
"""

from __future__ import annotations

from itertools import chain

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from urbanbrain.core.errors import QueryError, ValidationError
from urbanbrain.govern.engine_choice import run_sql, stream_sql
from urbanbrain.govern.principals import Principal
from urbanbrain.govern.query import QueryResult
from urbanbrain.lake.datasets import list_datasets
from urbanbrain.web.api.results import csv_chunks
from urbanbrain.web.console.render import FormFields, is_htmx, page
from urbanbrain.web.errors import status_for
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter(prefix="/sql")
SHOWN_ROWS = 1000
EXAMPLE = "SELECT 1 AS answer"


@router.get("", response_class=HTMLResponse)
def workbench(request: Request, q: str | None = None) -> HTMLResponse:
    return page(request, "sql.html", {"q": q or "", "result": None, "error": None})


@router.post("", response_class=HTMLResponse)
def run(request: Request, form: FormFields, principal: CurrentPrincipal) -> HTMLResponse:
    sql = form.get("q", "").strip()
    result: QueryResult | None = None
    error: QueryError | ValidationError | None = None
    status = 200
    try:
        if not sql:
            raise ValidationError("write a query first", hint=f"for example: {EXAMPLE}")
        result = run_sql(sql, max_rows=SHOWN_ROWS, principal=principal)
    except (QueryError, ValidationError) as exc:
        error, status = exc, status_for(exc)
    context = {"q": sql, "result": result, "error": error,
               "requestable": requestable_datasets(sql, principal) if error is not None else []}
    return page(request, "_sql_result.html" if is_htmx(request) else "sql.html", context, status_code=status)


def requestable_datasets(sql: str, principal: Principal) -> list[str]:
    """Other departments' datasets a refused query names: the page links each one's sharing-request form,
    instead of leaving the user with a CLI hint."""
    if principal.is_platform_admin or not principal.departments:
        return []
    text = sql.lower()
    return [d.name for d in list_datasets(include_quarantine=False)
            if d.name.lower() in text and d.department not in principal.departments]


@router.get("/download")
def download(q: str, principal: CurrentPrincipal) -> Response:
    """Every row as CSV, streamed batch by batch; the first batch is fetched first so errors get a status."""
    batches = stream_sql(q, principal=principal)
    first = next(batches, None)
    schema = first.schema if first is not None else run_sql(q, max_rows=0, principal=principal).table.schema
    rest = chain([first], batches) if first is not None else iter(())
    return StreamingResponse(csv_chunks(schema, rest), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="query.csv"'})
