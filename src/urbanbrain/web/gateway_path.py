"""The capability gateway's HTTP front: `POST /capabilities/{name}/v{version}/invoke`, as plain ASGI.

It sits outside the rest of the app's middleware and routing: read the body (size-limited), hand it
with the `X-API-Key` header to `gateway.invoke_encoded` on a dedicated thread pool (kinds may block on
SQL or HTTP) -- or, for `inline` built-ins whose key, grant and capability are already cached, right
on the event loop, because the thread hop costs more than they do -- then send the bytes it encoded,
or the error in the API's one error shape. Every rule — key,
grant, quota, schema, metering, audit — lives in the service function, so the CLI and this cannot disagree.

Why not a route: measured with bench/gateway.py on a quiet machine, the route behind the console's
middleware (principal, body limit, exception and exit-stack layers) and router cost ~180 µs per call,
five times the gateway's own work (~40 µs for echo), which put the gateway at 0.39x a bare Starlette
route. Sessions and console login do not apply here: applications authenticate with API keys.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from urbanbrain.capability import gateway
from urbanbrain.core.errors import UrbanBrainError, ValidationError
from urbanbrain.web.errors import error_response, status_for
from urbanbrain.web.limits import MAX_BODY_BYTES, read_body

log = logging.getLogger(__name__)

INVOKE_PATH = re.compile(r"^/capabilities/(?P<name>[^/]+)/v(?P<version>[0-9]{1,9})/invoke$")
API_KEY_HEADER = b"x-api-key"
GATEWAY_THREADS = 32  # calls waiting on SQL or a department service at once, per process
_POOL = ThreadPoolExecutor(GATEWAY_THREADS, thread_name_prefix="ub-gateway")


def is_invoke_path(path: str) -> bool:
    return INVOKE_PATH.match(path) is not None


def _call(name: str, version: int, params: Any, key: str | None) -> bytes:
    return gateway.invoke_encoded(name, version, params, key, status_of=status_for)[1]


def _params(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise ValidationError("the request body is not JSON", parameter="(body)",
                              hint="send the parameters as a JSON object") from None


class GatewayFastPath:
    """Answers invoke calls itself; passes every other request to the app."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = INVOKE_PATH.match(scope["path"]) if scope["type"] == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        response: Response
        if scope["method"] != "POST":
            response = JSONResponse({"error": "MethodNotAllowed", "message": "capabilities are called with POST",
                                     "hint": "POST the parameters as a JSON object", "transient": False},
                                    status_code=405, headers={"Allow": "POST"})
            await response(scope, receive, send)
            return
        try:
            raw = await read_body(scope, receive, self.max_bytes)
            if raw is None:  # the client went away
                return
            key = next((v.decode("latin-1") for k, v in scope["headers"] if k == API_KEY_HEADER), None)
            name, version, params = match["name"], int(match["version"]), _params(raw)
            if gateway.runs_inline(name, version, key):
                body = _call(name, version, params, key)
            else:
                body = await asyncio.get_running_loop().run_in_executor(_POOL, _call, name, version, params, key)
            response = Response(body, media_type="application/json")
        except UrbanBrainError as exc:
            response = error_response(exc, scope["path"])
        except Exception:  # already logged and metered by the gateway; the caller gets our shape, no trace
            log.debug("capability call failed", exc_info=True)
            response = JSONResponse({"error": "InternalError", "message": "the capability failed",
                                     "hint": "try again later; the platform's log has the details",
                                     "transient": False}, status_code=500)
        await response(scope, receive, send)
