"""`/login` and `/logout`: the console's sign-in, over `govern.sessions` (throttled, audited).

The session cookie is HttpOnly (no script reads it), SameSite=Lax (other sites' forms do not carry it)
and Secure whenever the request came over HTTPS or from anywhere but this machine: a console reached
over plain HTTP from the network then cannot log in at all, which is the point — put it behind TLS.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from urbanbrain.core.errors import AuthenticationRequiredError, LoginThrottledError
from urbanbrain.govern import sessions
from urbanbrain.web.console.render import FormFields, page
from urbanbrain.web.principal import is_loopback

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only paths on this site: never an open redirect to someone else's page."""
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or not is_loopback(request.url.hostname)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return page(request, "login.html", {"next": _safe_next(next), "error": None, "name": "", "bare": True})


@router.post("/login", response_model=None)
def login(request: Request, form: FormFields) -> Response:
    name, target = form.get("name", "").strip(), _safe_next(form.get("next"))
    try:
        result = sessions.login(name, form.get("password", ""), request.client.host if request.client else None)
    except (AuthenticationRequiredError, LoginThrottledError) as exc:
        status = 429 if isinstance(exc, LoginThrottledError) else 401
        refused = page(request, "login.html", {"next": target, "error": exc, "name": name, "bare": True},
                       status_code=status)
        if "retry_after" in exc.context:
            refused.headers["Retry-After"] = str(exc.context["retry_after"])
        return refused
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(sessions.COOKIE, result.token, max_age=int(sessions.SESSION_LIFETIME.total_seconds()),
                        httponly=True, samesite="lax", secure=_secure(request), path="/")
    return response


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    sessions.logout(request.cookies.get(sessions.COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request))
    return response
