"""`/grants`: access requests waiting for the owning department, with approve / refuse, and the history.

Each decision is one HTMX post that swaps the request's row for its decided state, so an approver can
work down the list without reloading; a plain form post (no JavaScript) comes back to the page.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from urbanbrain.capability.grants import GrantPublic, approve_grant, list_grants, refuse_grant
from urbanbrain.web.console.render import FormFields, is_htmx, page
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter(prefix="/grants")
APPROVER = "console"


def _answer(request: Request, grant: GrantPublic) -> Response:
    if is_htmx(request):
        return page(request, "_grant_row.html", {"g": grant})
    return RedirectResponse("/grants", status_code=303)


@router.get("", response_class=HTMLResponse)
def grants(request: Request) -> HTMLResponse:
    decided = [g for g in list_grants() if g.status != "requested"]
    decided.sort(key=lambda g: g.decided_at or g.requested_at, reverse=True)
    return page(request, "grants.html", {"pending": list_grants(status="requested"), "history": decided})


@router.post("/{grant_id}/approve")
def approve(request: Request, grant_id: str, principal: CurrentPrincipal) -> Response:
    return _answer(request, approve_grant(grant_id, approver=APPROVER, by=principal))


@router.post("/{grant_id}/refuse")
def refuse(request: Request, grant_id: str, form: FormFields, principal: CurrentPrincipal) -> Response:
    return _answer(request, refuse_grant(grant_id, reason=form.get("reason", "").strip() or None, approver=APPROVER,
                                         by=principal))
