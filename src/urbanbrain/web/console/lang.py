"""`/lang/{code}`: the language switch on every page — a plain link, so it works without JavaScript."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from urbanbrain.core.errors import NotFoundError
from urbanbrain.web.i18n import COOKIE, LANGUAGES

router = APIRouter()
ONE_YEAR = 365 * 24 * 3600


@router.get("/lang/{code}")
def switch_language(code: str, next: str = "/") -> RedirectResponse:
    if code not in LANGUAGES:
        raise NotFoundError(f"no language {code!r}", hint=f"choose one of {', '.join(LANGUAGES)}")
    target = next if next.startswith("/") and not next.startswith("//") else "/"  # never an open redirect
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, code, max_age=ONE_YEAR, samesite="lax")
    return response
