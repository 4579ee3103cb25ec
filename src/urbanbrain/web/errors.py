"""The one place that maps urbanbrain errors to HTTP statuses, and the one error shape the API answers in.

Domain code raises `urbanbrain.core.errors` classes and never knows about HTTP. The status is found by
walking the error's class hierarchy (most specific first), so a new subclass inherits its parent's
status until someone decides otherwise here. The body is always `UrbanBrainError.to_dict()`:
`{"error": class name, "message", "hint", "transient", ...context}` (already free of secrets).

Everything else that can go wrong under the API answers in that same shape too: a route that does not
exist (404), a method it does not take (405), a body that is not JSON or nests too deeply (400), a
failed request validation (422), the metadata database going away (503) and any bug (500). A sub-app
whose standard prescribes another error format (Open311) opts out with `use_own_error_format`.

`urbanbrain.web.error_docs` writes the same knowledge into the OpenAPI documents.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from urbanbrain.core import errors as e

log = logging.getLogger(__name__)

STATUS: dict[type[e.UrbanBrainError], int] = {
    # the caller's request
    e.NotFoundError: 404,
    e.AlreadyExistsError: 409,
    e.ValidationError: 422,
    e.MalformedRequestError: 400,
    e.PayloadTooLargeError: 413,
    e.ConfigurationError: 422,
    e.QueryError: 400,
    e.ReadOnlyViolationError: 403,
    # a department system behind us; listed explicitly where classes have two parents
    e.SourceError: 502,
    e.AuthenticationError: 424,  # the system refused its stored credentials: a failed dependency
    e.SourceUnreachableError: 503,
    e.SourceServerError: 502,
    e.ObjectNotFoundError: 502,  # the system lacks a table/file it should have, not a missing API resource
    # the lake and syncs
    e.SchemaChangeError: 409,
    e.CommitConflictError: 409,
    e.SyncInProgressError: 409,
    e.TransientError: 503,  # includes DependencyUnavailableError: Redis, the metadata database, NATS down
    # the capability gateway
    e.AuthenticationRequiredError: 401,
    e.PermissionDeniedError: 403,
    e.QuotaExceededError: 429,
    e.LoginThrottledError: 429,
    e.UpstreamTimeoutError: 504,
}
RETRY_AFTER_SECONDS = 30  # what a 503 tells clients when nothing says better


def status_for(exc: e.UrbanBrainError) -> int:
    """HTTP status of an error: the first class in its MRO that has one, else 500."""
    for klass in type(exc).__mro__:
        if klass in STATUS:
            return STATUS[klass]
    return 500


def error_body(error: str, message: str, hint: str | None, *, transient: bool = False,
               **extra: Any) -> dict[str, Any]:
    """The one error shape, for answers that do not come from an `UrbanBrainError`."""
    return {"error": error, "message": message, "hint": hint, "transient": transient, **extra}


def error_response(exc: e.UrbanBrainError, path: str) -> JSONResponse:
    """The JSON answer for an error: status, body `exc.to_dict()`, and the headers that status implies
    (Retry-After for quotas and transient failures, the auth challenge for 401)."""
    status = status_for(exc)
    headers = None
    if "retry_after" in exc.context:  # quotas say exactly when the window reopens
        headers = {"Retry-After": str(max(1, int(exc.context["retry_after"])))}
    elif exc.transient and status == 503:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if status == 401:
        challenge = 'Bearer realm="urbanbrain"' if path.startswith("/api") else 'ApiKey header="X-API-Key"'
        headers = {**(headers or {}), "WWW-Authenticate": challenge}
    return JSONResponse(exc.to_dict(), status_code=status, headers=headers)


# --- sub-apps with an error format of their own --------------------------------------------------


@dataclass(frozen=True)
class ErrorFormat:
    """How errors under `prefix` are rendered (`render(status, body, headers, path)`: the request's path
    too, whose extension may choose the format) and documented (`schema`: the JSON schema of that
    format's error body, or None to leave those operations' errors alone)."""

    prefix: str
    render: Callable[[int, dict[str, Any], dict[str, str] | None, str], Response]
    schema: dict[str, Any] | None = None


def use_own_error_format(app: FastAPI, error_format: ErrorFormat) -> None:
    """Let the routes under `error_format.prefix` answer errors in their own format (e.g. Open311's
    `[{"code", "description"}]`); they still get the status mapping, Retry-After and the 500 guard."""
    formats: list[ErrorFormat] = getattr(app.state, "error_formats", [])
    app.state.error_formats = [*formats, error_format]


def own_format(request: Request) -> ErrorFormat | None:
    """The error format that the sub-app serving this request chose for itself, if any."""
    formats: list[ErrorFormat] = getattr(request.app.state, "error_formats", [])
    path = request.url.path
    return next((f for f in formats if path == f.prefix or path.startswith(f.prefix.rstrip("/") + "/")), None)


def _answer(request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    own = own_format(request)
    if own is not None:
        return own.render(status, body, headers, request.url.path)
    return JSONResponse(body, status_code=status, headers=headers)


# --- exception handlers ----------------------------------------------------------------------------


async def urbanbrain_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.UrbanBrainError)
    response = error_response(exc, request.url.path)
    if own_format(request) is None:
        return response
    return _answer(request, response.status_code, exc.to_dict(), dict(response.headers))


def _is_unreadable(err: dict[str, Any]) -> bool:
    """A body error that is about the bytes, not the fields: not JSON, or not the declared content."""
    kind = str(err.get("type", ""))
    return kind in ("json_invalid", "json_type") or (
        list(err.get("loc", ())) == ["body"] and kind in ("model_attributes_type", "dict_type", "model_type"))


async def request_validation_handler(request: Request, exc: Exception) -> Response:
    """Invalid requests answer in the same shape as every other error, naming the first bad field; a body
    that is not JSON at all is 400 (nothing in it could be checked), a JSON body with bad fields 422."""
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    details = [{"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", ""))} for err in raw]
    first = details[0] if details else {"loc": [], "msg": "invalid request"}
    where = ".".join(first["loc"])
    if raw and _is_unreadable(raw[0]):
        body = error_body("MalformedRequestError", f"the request body is not a JSON object: {first['msg']}",
                          "send Content-Type: application/json and a JSON object; see the request schema at /docs",
                          details=details)
        return _answer(request, 400, body)
    parameter = ".".join(first["loc"][1:]) if len(first["loc"]) > 1 else where
    body = error_body("ValidationError", f"invalid request: {where}: {first['msg']}",
                      "see the request schema at /docs", parameter=parameter, details=details)
    return _answer(request, 422, body)


HTTP_ERRORS = {
    400: ("MalformedRequestError", "send Content-Type: application/json and a JSON object"),
    404: ("NotFoundError", "see /docs for the API's routes"),
    405: ("MethodNotAllowed", "the Allow header lists the methods this path takes"),
    413: ("PayloadTooLargeError", "send smaller requests"),
    415: ("UnsupportedMediaType", "send Content-Type: application/json"),
}


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _documented_methods(app: FastAPI, path: str) -> list[str] | None:
    """The methods the OpenAPI document gives the most specific path template matching `path`
    (`/api/capabilities/builtins` over `/api/capabilities/{name}`), or None if none matches."""
    table: list[tuple[re.Pattern[str], int, list[str]]] | None = getattr(app.state, "allow_table", None)
    if table is None:
        table = []
        for template, item in app.openapi().get("paths", {}).items():
            regex = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")
            literal = len(re.sub(r"\{[^/]+?\}", "", template))
            table.append((regex, literal, [m.upper() for m in item if m.upper() in _METHODS]))
        app.state.allow_table = table
    found = [(literal, methods) for regex, literal, methods in table if regex.match(path)]
    return max(found)[1] if found else None


def _allowed_methods(request: Request) -> str | None:
    """What `Allow` says on a 405: the documented methods of the path's resource. Starlette's own names
    only the first route it tried (a path with a GET and a POST route would answer `Allow: GET`)."""
    from starlette.routing import Match

    documented = _documented_methods(request.app, request.url.path)
    if documented is not None:
        return ", ".join(documented)
    allowed = [m for m in _METHODS if any(route.matches({**request.scope, "method": m})[0] == Match.FULL
                                          for route in request.app.router.routes)]
    return ", ".join(allowed) or None


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no route, wrong method, unreadable body) in the platform's shape."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code < 400:
        return Response(status_code=exc.status_code, headers=exc.headers)
    name, hint = HTTP_ERRORS.get(exc.status_code, ("HTTPError", None))
    headers = dict(exc.headers or {})
    if exc.status_code == 404 and exc.detail == "Not Found":
        message = f"no route {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.url.path} does not take {request.method}"
        headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
    elif exc.status_code == 400 and exc.detail == "There was an error parsing the body":  # FastAPI's words
        message = "the request body could not be parsed: not JSON, or nested too deeply"
    else:
        message = str(exc.detail)
    return _answer(request, exc.status_code, error_body(name, message, hint), headers or None)


async def _as_urbanbrain_error(request: Request, exc: e.UrbanBrainError) -> Response:
    """Answer through whatever handler the app has for urbanbrain errors (the console's renders pages)."""
    handler = request.app.exception_handlers.get(e.UrbanBrainError, urbanbrain_error_handler)
    response: Response = await handler(request, exc)
    return response


async def too_deep_handler(request: Request, exc: Exception) -> Response:
    """The JSON parser recursing past Python's limit means the body nests absurdly deep: the caller's fault."""
    return await _as_urbanbrain_error(request, e.MalformedRequestError("the request body nests too deeply",
                                                                       hint="send a flatter JSON object"))


def _database_down(exc: Exception) -> e.DependencyUnavailableError:
    return e.DependencyUnavailableError(f"the metadata database is unavailable: {type(exc).__name__}",
                                        dependency="metadata",
                                        hint="retry shortly; operators: check the database behind "
                                             "URBANBRAIN_DATABASE_URL (GET /api/health shows each dependency)")


async def database_error_handler(request: Request, exc: Exception) -> Response:
    """A lost or refused connection to the metadata database is an outage (503), not a bug (500)."""
    log.warning("metadata database error on %s: %s", request.url.path, exc)
    return await _as_urbanbrain_error(request, _database_down(exc))


async def internal_error_handler(request: Request, exc: Exception) -> Response:
    from sqlalchemy.exc import InterfaceError, OperationalError

    if isinstance(exc, OperationalError | InterfaceError):  # raised in a middleware, past the handlers above
        return await database_error_handler(request, exc)
    log.error("unhandled error on %s", request.url.path, exc_info=exc)
    return _answer(request, 500, error_body("InternalError", "internal server error",
                                            "this is a bug; see the server log"))


def register_error_handlers(app: FastAPI) -> None:
    """The API's handlers; the console (`web.console.errors`) wraps them to render pages outside the API."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    app.add_exception_handler(e.UrbanBrainError, urbanbrain_error_handler)
    app.add_exception_handler(RequestValidationError, request_validation_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(RecursionError, too_deep_handler)
    app.add_exception_handler(OperationalError, database_error_handler)
    app.add_exception_handler(InterfaceError, database_error_handler)
    app.add_exception_handler(Exception, internal_error_handler)
