"""Who is asking, for every console page and API route: `current_principal(request) -> Principal`.

A request names its principal with a personal token (`Authorization: Bearer ubt_...`, for scripts) or
the console's session cookie. The rule for requests that name nobody is explicit:

- once at least one user exists, login is required everywhere (pages redirect to `/login`, the API
  answers 401);
- while no user exists, the install is open only to requests from this machine (loopback addresses),
  as it was before users existed; anything else is told to create the first admin.

`RequirePrincipal` applies that rule to every request except the login page itself, static assets, the
language switch, the health and readiness checks and the gateway (applications authenticate there with API keys), and
tells the audit log who is acting while the request runs.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from urbanbrain.core.errors import AuthenticationRequiredError
from urbanbrain.govern import audit, sessions, users
from urbanbrain.govern.principals import Principal

# the person at this machine while no user exists: they can read the store's files anyway
LOCAL_OPERATOR = Principal("system", "local")
OPEN_PATHS = {"/login", "/logout", "/api/health", "/api/ready", "/favicon.ico", "/metrics"}  # /metrics checks itself
OPEN_PREFIXES = ("/static/", "/lang/", "/open311/")  # Open311 checks its own api_key on POST
TEST_CLIENT = "testclient"  # Starlette's in-process client: no socket, so it cannot come from elsewhere


def is_loopback(host: str | None) -> bool:
    if host in ("localhost", TEST_CLIENT):
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _resolve(request: Request) -> Principal:
    authorization = request.headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return users.authenticate_token(authorization[7:])
    principal = sessions.session_principal(request.cookies.get(sessions.COOKIE))
    if principal is not None:
        return principal
    if users.auth_enabled():
        raise AuthenticationRequiredError("log in first",
                                          hint="sign in at /login, or send Authorization: Bearer <personal token>")
    if is_loopback(request.client.host if request.client else None):
        return LOCAL_OPERATOR
    raise AuthenticationRequiredError(
        "this install has no users yet, so it answers only on this machine",
        hint="create the first admin with `urbanbrain user add NAME --admin` or URBANBRAIN_ADMIN_PASSWORD")


def current_principal(request: Request) -> Principal:
    """The caller of this request (resolved once per request), or 401 saying how to sign in."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        principal = _resolve(request)
        request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def optional_principal(request: Request) -> Principal | None:
    """The caller if known, without raising (pages that render for everyone, like /login)."""
    principal = getattr(request.state, "principal", None)
    return principal if isinstance(principal, Principal) else None


def _is_feed_push(scope: Scope) -> bool:
    """A device posting readings with its feed key (checked by the route): no user session."""
    path = str(scope.get("path", ""))
    return (scope.get("method") == "POST" and path.startswith("/api/feeds/") and path.count("/") == 3
            and any(k == b"x-feed-key" for k, _ in scope.get("headers") or []))


def _is_open(path: str) -> bool:
    from urbanbrain.web.console.errors import is_gateway

    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES) or is_gateway(path)


def _refusal(request: Request, exc: AuthenticationRequiredError) -> Response:
    from urbanbrain.web.console.errors import is_api

    if is_api(request):
        return JSONResponse(exc.to_dict(), status_code=401, headers={"WWW-Authenticate": 'Bearer realm="urbanbrain"'})
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = f"/login?next={quote(here, safe='')}"
    if request.headers.get("hx-request") == "true":  # an HTMX swap: send the whole tab to the login page
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


class RequirePrincipal:
    """ASGI middleware: resolve the principal before any route runs; refuse or redirect when there is none."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_open(scope["path"]) or _is_feed_push(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            principal = await run_in_threadpool(current_principal, request)
        except AuthenticationRequiredError as exc:
            await _refusal(request, exc)(scope, receive, send)
            return
        token = audit.set_actor(principal)
        try:
            await self.app(scope, receive, send)
        finally:
            audit.reset_actor(token)
