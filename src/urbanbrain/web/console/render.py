"""Rendering console pages: one Jinja2 environment, the per-request language, and HTMX awareness.

Routes call `page(request, "x.html", {...})` and nothing else about presentation: this module adds what
every template needs (the translator `t`, the language, humanised times and numbers, the current path
for the language switch), so templates never reach into services and routes never format text.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from urbanbrain.govern.principals import Principal
from urbanbrain.web.i18n import COOKIE, LANGUAGES, ago, compact, duration, negotiate, translator
from urbanbrain.web.principal import optional_principal

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters["num"] = lambda value: "—" if value is None else f"{int(value):,}"
templates.env.filters["urlquote"] = lambda value: quote(str(value), safe="")
templates.env.filters["dump"] = lambda model: model.model_dump(mode="json")
templates.env.filters["rows"] = lambda table: list(zip(*(c.to_pylist() for c in table.columns), strict=True))
templates.env.filters["duration"] = lambda run: duration(
    (run.finished_at - run.started_at).total_seconds() if run.finished_at else None)


def readable(value: Any) -> str:
    """An audit detail value as a person reads it: lists as `a, b`, objects as `key: value; ...`, no Python
    reprs (`['a', 'b']`, `True`)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | set):
        return ", ".join(readable(v) for v in value) or "—"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {readable(v)}" for k, v in value.items() if v is not None) or "—"
    return "—" if value is None or value == "" else str(value)


templates.env.filters["readable"] = readable
templates.env.filters["label"] = lambda key: str(key).replace("_", " ")


def dept_name(code: Any) -> str:
    """A department as people know it (its name); the code stays in the page as a tooltip or beside it."""
    from urbanbrain.meta.departments import department_names

    return department_names().get(str(code), str(code)) if code else "—"


templates.env.filters["dept"] = dept_name


_EVERY = re.compile(r"^every\s+(\d+)\s*(s|sec|m|min|h|hour|hours|d|day|days)$", re.IGNORECASE)


def schedule_text(t: Any, value: str | None) -> str:
    """A system's schedule in the reader's language (`every 1d` -> 每 1 天); cron expressions stay as written."""
    text = (value or "manual").strip()
    if text.lower() == "manual":
        return str(t("schedule.manual"))
    match = _EVERY.match(text)
    if not match:
        return text
    unit = {"s": t("unit.seconds"), "m": t("unit.minutes"), "h": t("unit.hours"), "d": t("unit.days")}[
        match.group(2)[0].lower()]
    return str(t("schedule.every", n=int(match.group(1)), unit=unit))


def request_language(request: Request) -> str:
    return negotiate(request.cookies.get(COOKIE), request.headers.get("accept-language"))


def can_audit(principal: Principal | None) -> bool:
    """Admins and data stewards read the audit log (the nav shows the link only to them)."""
    from urbanbrain.govern.authz import allowed

    return principal is not None and allowed("audit.read", principal)


def can(principal: Principal | None, action: str, department: str | None = None) -> bool:
    """Templates show an action's button only when the server would allow it (`govern.authz.allowed`)."""
    from urbanbrain.govern.authz import allowed

    return principal is not None and allowed(action, principal, department)


def is_htmx(request: Request) -> bool:
    """An HTMX swap wants a fragment; a history restore or a plain visit wants the whole page."""
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-history-restore-request") != "true"


def page(request: Request, template: str, context: dict[str, Any] | None = None, *,
         status_code: int = 200) -> HTMLResponse:
    """Render a template with the console's common context (language, translator, formatting helpers)."""
    lang = request_language(request)
    t = translator(lang)
    principal = optional_principal(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    common: dict[str, Any] = {
        "t": t, "lang": lang, "languages": LANGUAGES, "here": here, "section": request.url.path.split("/")[1],
        "ago": partial(ago, t), "compact": partial(compact, lang), "hx": is_htmx(request),
        "principal": principal, "can_audit": can_audit(principal), "can": partial(can, principal),
        "schedule": partial(schedule_text, t),
    }
    return templates.TemplateResponse(request, template, {**common, **(context or {})}, status_code=status_code)


async def form_fields(request: Request) -> dict[str, str]:
    """Fields of an urlencoded form post (the console's forms); no python-multipart needed for that."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}


FormFields = Annotated[dict[str, str], Depends(form_fields)]
