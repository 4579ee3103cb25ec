"""`/audit`: search the audit log by principal, action and time, and export it as CSV.

For platform admins, department admins and data stewards; everyone else gets 403. Exporting is itself
audited, so the log shows who took a copy of it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from urbanbrain.core.clock import parse_utc
from urbanbrain.core.errors import ValidationError
from urbanbrain.govern import audit
from urbanbrain.govern.authz import authorize
from urbanbrain.govern.principals import Principal
from urbanbrain.web.console.render import page
from urbanbrain.web.principal import current_principal

router = APIRouter(prefix="/audit")
COLUMNS = ["seq", "at", "principal", "action", "target", "detail", "hash"]


def _auditor(request: Request, action: str = "audit.read") -> Principal:
    principal = current_principal(request)
    authorize(action, principal)  # admins and data stewards of any department (RULES)
    return principal


def _when(text: str, name: str) -> datetime | None:
    try:
        return parse_utc(text) if text.strip() else None
    except ValueError as exc:
        raise ValidationError(str(exc), parameter=name) from None


def _filters(principal: str, action: str, since: str, until: str) -> dict[str, Any]:
    return {"principal": principal.strip() or None, "action": action.strip() or None,
            "since": _when(since, "since"), "until": _when(until, "until")}


@router.get("", response_class=HTMLResponse)
def audit_page(request: Request, principal: str = "", action: str = "", since: str = "",
               until: str = "") -> HTMLResponse:
    _auditor(request)
    entries = audit.list_entries(**_filters(principal, action, since, until), limit=200)
    return page(request, "audit.html", {"entries": entries, "query": request.url.query,
                                        "form": {"principal": principal, "action": action, "since": since,
                                                 "until": until}})


@router.get("/export.csv")
def export(request: Request, principal: str = "", action: str = "", since: str = "",
           until: str = "") -> StreamingResponse:
    who = _auditor(request, "audit.export")
    filters = _filters(principal, action, since, until)
    audit.record(who, "audit.export", "audit_log", {k: v for k, v in filters.items() if v is not None})

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(COLUMNS)
        for e in audit.iter_entries(**filters):
            writer.writerow([e.seq, e.at.isoformat(), e.principal, e.action, e.target,
                             audit.canonical(e.detail), e.hash])
            if buffer.tell() > 64_000:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="urbanbrain-audit.csv"'})
