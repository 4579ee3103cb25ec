"""Request body size limit, as plain ASGI middleware so it also covers chunked uploads.

A declared `Content-Length` over the limit is refused before reading; a body without one is counted
as it streams in and refused once it passes the limit. Either way the answer is 413 in our error shape.
The API takes small JSON requests only; data enters the lake through syncs. Case feedback with photos
(multipart) is the one exception: `web/uploads.py` reads it as a stream with a cap per photo.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from urbanbrain.core.errors import PayloadTooLargeError
from urbanbrain.web.errors import error_response
from urbanbrain.web.uploads import is_upload

MAX_BODY_BYTES = 1_000_000


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"request body exceeds {limit} bytes",
                                hint="send smaller requests; bulk data enters the lake through syncs, not the API")


async def read_body(scope: Scope, receive: Receive, max_bytes: int) -> bytes | None:
    """The whole request body, or None if the client went away; PayloadTooLargeError past `max_bytes`.

    Read up front: FastAPI would turn a mid-read error into a 400, and the gateway wants the bytes anyway.
    """
    declared = dict(scope.get("headers") or []).get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_upload(scope):  # photo uploads stream through their own caps
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body(scope, receive, self.max_bytes)
        except PayloadTooLargeError as exc:
            await error_response(exc, scope["path"])(scope, receive, send)
            return
        if body is None:
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later calls wait for the disconnect, as streaming responses expect

        await self.app(scope, replay, send)
