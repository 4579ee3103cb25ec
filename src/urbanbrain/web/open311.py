"""Open311 GeoReport v2 under `/open311/v2`: discovery, services, requests (GET and POST), tokens.

A router of its own, mounted by the app factory, answering in JSON or XML by the path's extension and
reporting errors in Open311's own shape (`[{"code": 404, "description": "..."}]`, or
`<errors><error><code/><description/></error></errors>`) rather than urbanbrain's. POST needs an
`api_key` (a consumer's API key from `urbanbrain key create`); reads are public and show no personal
data. Case creation is synchronous, so a token is the request id itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from urbanbrain.core.clock import parse_utc
from urbanbrain.core.errors import (
    AuthenticationRequiredError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    UrbanBrainError,
    ValidationError,
)
from urbanbrain.web.limits import read_body

router = APIRouter(prefix="/open311/v2", tags=["open311"])
FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
MAX_POST_BYTES = 64 * 1024


def _xml(root: str, item: str, rows: list[dict[str, Any]]) -> bytes:
    top = ET.Element(root)
    for row in rows:
        el = ET.SubElement(top, item)
        _fill(el, row)
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8")


def _fill(el: ET.Element, row: Mapping[str, Any]) -> None:
    for key, value in row.items():
        child = ET.SubElement(el, key)
        if isinstance(value, Mapping):
            _fill(child, value)
        elif isinstance(value, list):
            singular = {"endpoints": "endpoint", "formats": "format", "attributes": "attribute",
                        "values": "value"}.get(key, "item")
            for v in value:
                sub = ET.SubElement(child, singular)
                if isinstance(v, Mapping):
                    _fill(sub, v)
                else:
                    sub.text = str(v)
        elif isinstance(value, bool):
            child.text = "true" if value else "false"
        else:
            child.text = "" if value is None else str(value)


def _render(fmt: str, root: str, item: str, rows: list[dict[str, Any]] | dict[str, Any], status: int = 200) -> Response:
    if fmt == "json":  # orjson: UTF-8 as the spec's examples, several times cheaper than json.dumps + encode
        import orjson

        return Response(orjson.dumps(rows, default=str), status_code=status, media_type=FORMATS["json"])
    if isinstance(rows, dict):
        top = ET.Element(root)
        _fill(top, rows)
        body = b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8")
    else:
        body = _xml(root, item, rows)
    return Response(body, status_code=status, media_type=FORMATS["xml"])


def _error(fmt: str, status: int, description: str) -> Response:
    return _render(fmt if fmt in FORMATS else "json", "errors", "error",
                   [{"code": status, "description": description}], status)


def render_platform_error(status: int, body: dict[str, Any], headers: dict[str, str] | None,
                          path: str = "") -> Response:
    """Errors raised before a route answers (unknown path, body too large, 5xx) in Open311's shape, in
    XML when the path asks for `.xml` (JSON otherwise)."""
    text = str(body.get("message") or body.get("error") or "error")
    if body.get("hint"):
        text += f" ({body['hint']})"
    response = _error("xml" if path.endswith(".xml") else "json", status, text)
    response.headers.update(headers or {})
    return response


ERROR_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": "object", "required": ["code", "description"],
              "properties": {"code": {"type": "integer"}, "description": {"type": "string"}}},
}


def _status(exc: UrbanBrainError) -> int:
    for klass, code in ((AuthenticationRequiredError, 403), (PermissionDeniedError, 403), (NotFoundError, 404),
                        (PayloadTooLargeError, 413), (ValidationError, 400)):
        if isinstance(exc, klass):
            return code
    return 500


async def _answer(fmt: str, work: Callable[[], tuple[str, str, Any]], status: int = 200) -> Response:
    if fmt not in FORMATS:
        return _error("json", 404, f"format {fmt!r} is not supported; use json or xml")
    try:
        root, item, rows = await run_in_threadpool(work)
    except UrbanBrainError as exc:
        return _error(fmt, _status(exc), exc.message)
    return _render(fmt, root, item, rows, status)


@router.get("/discovery.{fmt}")
async def discovery(request: Request, fmt: str) -> Response:
    base = str(request.base_url).rstrip("/") + "/open311/v2/"

    def work() -> tuple[str, str, Any]:
        return "discovery", "", {
            "changeset": "2026-12-03T00:00:00Z", "contact": "the city's operations centre",
            "key_service": "ask the operations centre for an API key (urbanbrain key create)",
            "endpoints": [{"specification": "http://wiki.open311.org/GeoReport_v2", "url": base,
                           "changeset": "2026-12-03T00:00:00Z", "type": "production",
                           "formats": ["application/json", "text/xml"]}]}

    return await _answer(fmt, work)


@router.get("/services.{fmt}")
async def list_services(fmt: str) -> Response:
    from urbanbrain.operate.intake.open311 import services

    return await _answer(fmt, lambda: ("services", "service", services()))


@router.get("/services/{code}.{fmt}")
async def service_definition(code: str, fmt: str) -> Response:
    from urbanbrain.operate.intake.open311 import service_definition as definition

    return await _answer(fmt, lambda: ("service_definition", "", definition(code)))


@router.get("/requests.{fmt}")
async def get_requests(request: Request, fmt: str) -> Response:
    from urbanbrain.operate.intake.open311 import requests

    q = request.query_params

    def work() -> tuple[str, str, Any]:
        def when(key: str) -> Any:
            text = q.get(key)
            if not text:
                return None
            try:
                return parse_utc(text)
            except ValueError as exc:
                raise ValidationError(f"{key}: {exc}") from None

        ids = [i.strip() for i in (q.get("service_request_id") or "").split(",") if i.strip()] or None
        return "service_requests", "request", requests(
            ids=ids, service_code=q.get("service_code") or None, status=q.get("status") or None,
            start=when("start_date"), end=when("end_date"), extensions=q.get("extensions") == "true")

    return await _answer(fmt, work)


@router.get("/requests/{request_id}.{fmt}")
async def get_request(request: Request, request_id: str, fmt: str) -> Response:
    from urbanbrain.operate.intake.open311 import requests

    def work() -> tuple[str, str, Any]:
        rows = requests(ids=[request_id], extensions=request.query_params.get("extensions") == "true")
        if not rows:
            raise NotFoundError(f"service_request_id {request_id!r} not found")
        return "service_requests", "request", rows

    return await _answer(fmt, work)


@router.get("/tokens/{token}.{fmt}")
async def get_token(token: str, fmt: str) -> Response:
    from urbanbrain.operate.intake.open311 import requests

    def work() -> tuple[str, str, Any]:
        if not requests(ids=[token]):
            raise NotFoundError(f"token {token!r} not found")
        return "service_requests", "request", [{"service_request_id": token, "token": token}]

    return await _answer(fmt, work)


@router.post("/requests.{fmt}")
async def post_request(request: Request, fmt: str) -> Response:
    """Documented here; served by `Open311Front` before the app's routing (this route is its fallback)."""
    body = await request.body()
    return await _post(fmt, body, request.scope.get("query_string", b""))


async def _post(fmt: str, body: bytes, query: bytes) -> Response:
    if fmt not in FORMATS:
        return _error("json", 404, f"format {fmt!r} is not supported; use json or xml")
    if len(body) > MAX_POST_BYTES:
        return _error(fmt, 413, f"the request body is {len(body)} bytes; at most {MAX_POST_BYTES} (send media_url)")
    form = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        form.setdefault(k, v)
    from urbanbrain.operate.intake.base import submit_async

    try:
        case, _ = await submit_async(lambda: _post_report(form), authorise=False)
    except UrbanBrainError as exc:
        return _error(fmt, _status(exc), exc.message)
    return _render(fmt, "service_requests", "request",
                   [{"service_request_id": case["id"], "service_notice": "", "account_id": ""}], 201)


def _post_report(form: dict[str, str]) -> tuple[Any, Any]:
    """The key's consumer and the form as a report: what `POST requests` submits."""
    from urbanbrain.capability.consumers import authenticate
    from urbanbrain.govern.principals import consumer_principal
    from urbanbrain.operate.intake.base import channel

    if not form.get("api_key"):
        raise AuthenticationRequiredError("api_key is required to submit a request")
    key = authenticate(form["api_key"])
    report = channel("open311").to_report(form)
    if form.get("request_ref"):  # an app's own request id is unique within that app, not across apps
        report.source_ref = f"{key.consumer_name}/{report.source_ref}"
    return report, consumer_principal(key.consumer_name, key.department_code)


POST_PATH = re.compile(r"^/open311/v2/requests\.(?P<fmt>[^./]+)$")
PREFIX = "/open311/v2/"


class Open311Front:
    """Open311 answered before the app's middleware and ~90 routes: `POST requests` directly, the other
    routes of this router matched among themselves; anything else (an unknown Open311 path included,
    which the app answers with a 404 in Open311's shape) goes on to the app.

    Why: an Open311 POST spent ~1.85 ms on the event loop walking the app's routes and middlewares
    (body replay, principal check, exception and exit-stack layers) that do not apply to it: Open311
    authenticates with its own `api_key`, caps its own body (64 KiB) and answers errors in its own shape.
    An exception none of its handlers expected still reaches the app's 500 guard, in Open311's shape."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        post = POST_PATH.match(path) if scope["method"] == "POST" else None
        if post is not None:
            try:
                body = await read_body(scope, receive, MAX_POST_BYTES)
            except PayloadTooLargeError:
                response = _error(post["fmt"], 413, f"the request body exceeds {MAX_POST_BYTES} bytes "
                                                    "(send media_url)")
            else:
                if body is None:  # the client went away
                    return
                response = await _post(post["fmt"], body, scope.get("query_string", b""))
            await response(scope, receive, send)
            return
        for route in router.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                async with AsyncExitStack() as stack:  # what FastAPI's own middleware gives its routes
                    await route.handle({**scope, **child, "fastapi_middleware_astack": stack}, receive, send)
                return
        await self.app(scope, receive, send)
