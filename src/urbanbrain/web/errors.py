"""The one place that maps urbanbrain errors to HTTP statuses.

Domain code raises `urbanbrain.core.errors` classes and never knows about HTTP. The status is found by
walking the error's class hierarchy (most specific first), so a new subclass inherits its parent's
status until someone decides otherwise here. The body is always `UrbanBrainError.to_dict()`:
`{"error": class name, "message", "hint", "transient", ...context}` (already free of secrets).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from urbanbrain.core import errors as e

STATUS: dict[type[e.UrbanBrainError], int] = {
    # the caller's request
    e.NotFoundError: 404,
    e.AlreadyExistsError: 409,
    e.ValidationError: 422,
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
    e.TransientError: 503,
    # the capability gateway
    e.AuthenticationRequiredError: 401,
    e.PermissionDeniedError: 403,
    e.QuotaExceededError: 429,
    e.LoginThrottledError: 429,
    e.UpstreamTimeoutError: 504,
}


def status_for(exc: e.UrbanBrainError) -> int:
    """HTTP status of an error: the first class in its MRO that has one, else 500."""
    for klass in type(exc).__mro__:
        if klass in STATUS:
            return STATUS[klass]
    return 500


def error_response(exc: e.UrbanBrainError, path: str) -> JSONResponse:
    """The JSON answer for an error: status, body `exc.to_dict()`, and the headers that status implies
    (Retry-After for quotas and transient failures, the auth challenge for 401)."""
    status = status_for(exc)
    headers = None
    if "retry_after" in exc.context:  # quotas say exactly when the window reopens
        headers = {"Retry-After": str(max(1, int(exc.context["retry_after"])))}
    elif exc.transient and status == 503:
        headers = {"Retry-After": "30"}
    if status == 401:
        challenge = 'Bearer realm="urbanbrain"' if path.startswith("/api") else 'ApiKey header="X-API-Key"'
        headers = {**(headers or {}), "WWW-Authenticate": challenge}
    return JSONResponse(exc.to_dict(), status_code=status, headers=headers)


async def urbanbrain_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, e.UrbanBrainError)
    return error_response(exc, request.url.path)


async def request_validation_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Malformed request bodies answer in the same shape as every other error."""
    assert isinstance(exc, RequestValidationError)
    details = [{"loc": list(err.get("loc", ())), "msg": err.get("msg", "")} for err in exc.errors()]
    first = details[0] if details else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    return JSONResponse(
        {"error": "ValidationError", "message": f"invalid request: {where}: {first['msg']}",
         "hint": "see the request schema at /docs", "transient": False, "details": details},
        status_code=422,
    )


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(e.UrbanBrainError, urbanbrain_error_handler)
    app.add_exception_handler(RequestValidationError, request_validation_handler)
