"""`/ioc/screens`: the operations centre chooses, per wall screen, its tiles (themes, single indicators) and its
map layers. The page is the same service call as `PUT /api/ioc/screens/{name}` (`operate.ioc.set_screen`:
authorised as `ioc.configure` in the operations centre's department, audited); the form and its buttons are
drawn only for those `govern.authz.allowed` says may configure, and a post from anyone else is refused by
the service, not by the page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from urbanbrain.govern.principals import Principal
from urbanbrain.web.console.render import page
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter()


def _may_configure(principal: Principal) -> bool:
    from urbanbrain.govern.authz import allowed
    from urbanbrain.operate.states import ops_department

    return allowed("ioc.configure", principal, ops_department())


@router.get("/ioc/screens", response_class=HTMLResponse)
def screens_page(request: Request, principal: CurrentPrincipal, saved: str = "") -> HTMLResponse:
    from urbanbrain.operate import ioc
    from urbanbrain.operate.indicators import list_indicators

    screens = ioc.list_screens()
    for s in screens:  # tiles that are single indicators, shown in their own field
        s["extra"] = ", ".join(x for x in s["tiles"] if x not in ioc.THEMES)
    names = sorted(r["name"] for r in list_indicators())
    return page(request, "ioc_screens.html", {"screens": screens, "themes": ioc.THEMES, "layers": ioc.LAYERS,
                                              "indicators": names, "editable": _may_configure(principal),
                                              "saved": saved})


async def _fields(request: Request) -> dict[str, list[str]]:
    """The form's fields with every value (checkboxes repeat their name); urlencoded, as the console posts."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return parse_qs(body, keep_blank_values=True)


def _save(principal: Principal, name: str, form: dict[str, list[str]]) -> dict[str, Any]:
    from urbanbrain.operate import ioc

    extra = [x.strip() for v in form.get("extra", []) for x in v.replace("，", ",").split(",") if x.strip()]
    tiles = [t for t in form.get("tiles", []) if t] + [x for x in extra if x not in form.get("tiles", [])]
    return ioc.set_screen(principal, name.strip(), tiles=tiles, layers=[x for x in form.get("layers", []) if x],
                          title=(form.get("title") or [""])[-1].strip())


@router.post("/ioc/screens")
async def create_screen(request: Request, principal: CurrentPrincipal) -> Response:
    """A new screen: its name comes from the form."""
    form = await _fields(request)
    saved = _save(principal, (form.get("name") or [""])[-1], form)
    return RedirectResponse(f"/ioc/screens?saved={quote(saved['name'])}#screen-{quote(saved['name'])}", 303)


@router.post("/ioc/screens/{name}")
async def save_screen(request: Request, name: str, principal: CurrentPrincipal) -> Response:
    saved = _save(principal, name, await _fields(request))
    return RedirectResponse(f"/ioc/screens?saved={quote(saved['name'])}#screen-{quote(saved['name'])}", 303)
