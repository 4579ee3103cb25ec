"""`/indicators`, `/indicators/<name>`: the vital-sign catalogue and one indicator's page (definition, history
chart, breakdown table); `/ioc`: the operations-centre wall (full screen, dark, zh-CN unless the viewer chose
otherwise). Pages render the service functions' answers; the wall then fills itself from `/api/ioc/snapshot`
and keeps current through `/api/ioc/events` (server-sent events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from urbanbrain.web.console.render import page
from urbanbrain.web.i18n import COOKIE, LANGUAGES, translator
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter()


@router.get("/indicators", response_class=HTMLResponse)
def indicators_page(request: Request, principal: CurrentPrincipal, theme: str = "") -> HTMLResponse:
    from urbanbrain.operate.indicators import list_indicators

    rows = [_dated(r) for r in list_indicators()]
    themes = sorted({r["theme"] for r in rows})
    shown = [r for r in rows if not theme or r["theme"] == theme]
    return page(request, "indicators.html", {"indicators": shown, "themes": themes, "theme": theme})


@router.get("/indicators/{name}", response_class=HTMLResponse)
def indicator_page(request: Request, principal: CurrentPrincipal, name: str, since: str = "") -> HTMLResponse:
    from urbanbrain.operate.indicators import get_indicator, parse_since

    found = _dated(get_indicator(name, since=parse_since(since or None)))
    return page(request, "indicator.html", {"ind": found, "since": since})


@router.get("/ioc", response_class=HTMLResponse)
def ioc_page(request: Request, principal: CurrentPrincipal, screen: str = "main") -> HTMLResponse:
    from urbanbrain.operate.ioc import get_screen

    cookie = request.cookies.get(COOKIE)
    lang = cookie if cookie in LANGUAGES else "zh-CN"  # the wall speaks Chinese unless its viewer chose otherwise
    t = translator(lang)
    keys = [k for k in _catalog_keys(lang) if k.startswith(("ioc.", "theme."))]
    return page(request, "ioc.html", {"t": t, "lang": lang, "screen": get_screen(screen),
                                      "messages": {k: t(k) for k in keys}})


def _dated(row: dict[str, Any]) -> dict[str, Any]:
    """`computed_at` as a datetime, for the console's "3 minutes ago"."""
    when = row.get("computed_at")
    return {**row, "computed_at": datetime.fromisoformat(when) if isinstance(when, str) else when}


def _catalog_keys(lang: str) -> list[str]:
    from urbanbrain.web.i18n import catalog

    return sorted(catalog(lang))
