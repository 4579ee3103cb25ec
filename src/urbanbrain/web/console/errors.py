"""Error pages for the console; the API keeps its JSON error bodies.

The status of every urbanbrain error still comes from `urbanbrain.web.errors.status_for` (the one
mapping); this module only chooses the representation: JSON under `/api`, a styled page elsewhere, and
a small fragment when the request was an HTMX swap.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from urbanbrain.core.errors import UrbanBrainError
from urbanbrain.web.console.render import is_htmx, page
from urbanbrain.web.errors import (
    http_error_handler,
    internal_error_handler,
    own_format,
    request_validation_handler,
    status_for,
    urbanbrain_error_handler,
)

log = logging.getLogger(__name__)


def is_api(request: Request) -> bool:
    path = request.url.path
    return (path == "/api" or path.startswith("/api/") or path == "/openapi.json" or is_gateway(path)
            or own_format(request) is not None)


def is_gateway(path: str) -> bool:
    """The gateway's URLs answer machines, in JSON; the catalog pages beside them under /capabilities are HTML."""
    return path == "/capabilities/openapi.json" or (path.startswith("/capabilities/") and path.endswith("/invoke"))


def error_page(request: Request, status: int, message: str | None = None, hint: str | None = None) -> Response:
    template = "_error_inline.html" if is_htmx(request) else "error.html"
    return page(request, template, {"status": status, "message": message, "hint": hint}, status_code=status)


async def _urbanbrain(request: Request, exc: Exception) -> Response:
    if is_api(request):
        return await urbanbrain_error_handler(request, exc)
    assert isinstance(exc, UrbanBrainError)
    return error_page(request, status_for(exc), exc.message, exc.hint)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if is_api(request) or exc.status_code < 400:
        return await http_error_handler(request, exc)
    return error_page(request, exc.status_code)


async def _validation(request: Request, exc: Exception) -> Response:
    if is_api(request):
        return await request_validation_handler(request, exc)
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return error_page(request, 422, f"{where}: {first.get('msg', 'invalid request')}")


async def _crash(request: Request, exc: Exception) -> Response:
    if is_api(request):
        return await internal_error_handler(request, exc)
    log.error("unhandled error on %s", request.url.path, exc_info=exc)
    return error_page(request, 500)


def register_console_error_handlers(app: FastAPI) -> None:
    """Call after `register_error_handlers`: these wrap the API's handlers and add the HTML pages."""
    app.add_exception_handler(UrbanBrainError, _urbanbrain)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Exception, _crash)
