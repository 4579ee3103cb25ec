"""`/alerts`: alerts raised by the live feeds' rules (open, acknowledged, cleared), with acknowledge and
clear buttons shown only where `govern.authz` would allow them. The page redraws a row when the event
stream (`/api/stream/events`) says an alert was raised, acknowledged or cleared: the row comes from
`/alerts/{id}/row`, rendered here, so buttons are decided by the server, never by the script.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from urbanbrain.govern.authz import allowed
from urbanbrain.govern.principals import Principal
from urbanbrain.web.console.render import is_htmx, page
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter()
VIEWS = ("open", "acknowledged", "cleared", "all")


def _with_actions(principal: Principal, alert: dict[str, Any]) -> dict[str, Any]:
    dept = alert["department"]
    actions = []
    if alert["status"] == "raised" and allowed("alert.acknowledge", principal, dept):
        actions.append("ack")
    if alert["status"] in ("raised", "acknowledged") and allowed("alert.clear", principal, dept):
        actions.append("clear")
    return {**alert, "actions": actions}


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, principal: CurrentPrincipal, view: str = "open") -> HTMLResponse:
    from urbanbrain.stream import alerts

    view = view if view in VIEWS else "open"
    rows = alerts.list_alerts(principal, status=None if view == "all" else view, limit=500)
    return page(request, "alerts.html", {"alerts": [_with_actions(principal, a) for a in rows],
                                         "view": view, "views": VIEWS})


@router.get("/alerts/{alert_id}/row", response_class=HTMLResponse)
def alert_row(request: Request, alert_id: str, principal: CurrentPrincipal) -> HTMLResponse:
    from urbanbrain.stream import alerts

    return page(request, "_alert_row.html", {"a": _with_actions(principal, alerts.get_alert(principal, alert_id))})


def _answer(request: Request, principal: Principal, done: dict[str, Any]) -> Response:
    """An HTMX post gets the redrawn row, a plain form post goes back to the list."""
    if is_htmx(request):
        return page(request, "_alert_row.html", {"a": _with_actions(principal, done)})
    return RedirectResponse("/alerts", status_code=303)


@router.post("/alerts/{alert_id}/ack")
def acknowledge(request: Request, alert_id: str, principal: CurrentPrincipal) -> Response:
    from urbanbrain.stream import alerts

    return _answer(request, principal, alerts.acknowledge_alert(principal, alert_id))


@router.post("/alerts/{alert_id}/clear")
def clear(request: Request, alert_id: str, principal: CurrentPrincipal) -> Response:
    from urbanbrain.stream import alerts

    return _answer(request, principal, alerts.clear_alert(principal, alert_id))
