"""`/sharing`: field-sharing requests between departments; the owner approves (possibly fewer fields,
fewer days) or refuses with a reason; both sides see the history. And a steward's confirmation of a
proposed PII type on a dataset's page.

Decisions are made as `current_principal` (the local operator until login exists), so the same
permission checks as the CLI apply.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from urbanbrain.govern import classification, sharing
from urbanbrain.web.console.render import FormFields, page
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter()


@router.get("/sharing", response_class=HTMLResponse)
def requests_page(request: Request) -> HTMLResponse:
    grants = sharing.list_grants()
    return page(request, "sharing.html", {"pending": [g for g in grants if g.status == "requested"],
                                          "history": [g for g in grants if g.status != "requested"]})


@router.post("/sharing/{grant_id}/approve")
async def approve(request: Request, grant_id: str, principal: CurrentPrincipal) -> Response:
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    days = form.get("days", [""])[-1].strip()
    sharing.approve(grant_id, by=principal, fields=form.get("field") or None,
                    days=int(days) if days.isdigit() else None)
    return RedirectResponse("/sharing", status_code=303)


@router.post("/sharing/{grant_id}/refuse")
def refuse(grant_id: str, form: FormFields, principal: CurrentPrincipal) -> Response:
    sharing.refuse(grant_id, form.get("reason", ""), by=principal)
    return RedirectResponse("/sharing", status_code=303)


@router.post("/datasets/{name}/sharing-request")
async def request_fields(request: Request, name: str, principal: CurrentPrincipal) -> Response:
    """The form on a dataset's page (and under a refused query): ask its owner for conditional fields."""
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    days = form.get("days", ["30"])[-1].strip()
    sharing.request_fields(name, form.get("field") or [], form.get("purpose", [""])[-1], int(days) if days.isdigit()
                           else 0, by=principal, department=form.get("department", [""])[-1] or None,
                           unmasked=bool(form.get("unmasked")))
    return RedirectResponse("/sharing", status_code=303)


@router.post("/datasets/{name}/fields/{column}/level")
def set_level(name: str, column: str, form: FormFields, principal: CurrentPrincipal) -> Response:
    """A steward changes a field's sharing level on the dataset's page."""
    classification.set_field(name, column, level=form.get("level", ""), by=principal)
    return RedirectResponse(f"/datasets/{quote(name)}", status_code=303)


@router.post("/datasets/{name}/fields/{column}/confirm")
def confirm_pii(name: str, column: str, principal: CurrentPrincipal) -> Response:
    classification.set_field(name, column, pii_type="proposed", by=principal)
    return RedirectResponse(f"/datasets/{quote(name)}", status_code=303)
