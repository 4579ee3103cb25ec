"""Server-sent events from the bus: the one generator behind `/api/stream/events` and `/api/ioc/events`.

Both streams do the same four things — subscribe to bus topics, hand each message from the bus's thread
to the request's event loop through a bounded queue (a slow browser loses the oldest events, never the
server's memory), write `event: <kind>` frames with the payload as JSON, keep a silent stream alive for
proxies — and unsubscribe when the browser goes away. What differs (which messages a user may see, what
an event is called, extra work per turn such as coalesced map points) is passed in.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

Handler = Callable[[str, dict[str, Any]], None]
Tick = Callable[[], AsyncIterator[bytes]]
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "server-sent events (never ends on its own)",
          "content": {"text/event-stream": {"schema": {"type": "string"}}}}}


def frame(event: str, data: Any) -> bytes:
    """One SSE message: `event:` line, the data as one line of JSON (non-ASCII kept), blank line."""
    text = json.dumps(data, default=str, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {text}\n\n".encode()


class EventStream:
    """A bus-to-browser bridge for one request; create it inside the (async) route."""

    def __init__(self, request: Request, *, maxsize: int = 1000, wait: float = 15.0, keep_alive: float = 15.0):
        self.request = request
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(maxsize=maxsize)
        self.wait, self.keep_alive = min(wait, keep_alive), keep_alive
        self._subs: list[Any] = []

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` on the request's loop (from the bus's thread)."""
        self.loop.call_soon_threadsafe(fn, *args)

    def push(self, topic: str, payload: dict[str, Any]) -> None:
        """Queue a bus message for the browser (thread-safe); the oldest goes when the queue is full."""

        def put() -> None:
            if self.queue.full():
                self.queue.get_nowait()
            self.queue.put_nowait((topic, payload))

        self.loop.call_soon_threadsafe(put)

    def subscribe(self, topics: list[str], handler: Handler) -> None:
        """`handler(topic, payload)` runs on the bus's thread: filter there, then `push` or `call`."""
        from urbanbrain.core.bus import get_bus

        bus = get_bus()
        self._subs += [bus.subscribe(t, handler) for t in topics]

    def close(self) -> None:
        for sub in self._subs:
            sub.unsubscribe()
        self._subs = []

    async def frames(self, kind: Callable[[str], str], tick: Tick | None = None) -> AsyncIterator[bytes]:
        """The stream: `tick()`'s frames each turn, then one queued message (or a keep-alive comment after
        `keep_alive` seconds of silence), until the browser disconnects."""
        quiet_since = time.monotonic()
        try:
            yield b": connected\n\n"
            while not await self.request.is_disconnected():
                if tick is not None:
                    async for chunk in tick():
                        quiet_since = time.monotonic()
                        yield chunk
                try:
                    topic, payload = await asyncio.wait_for(self.queue.get(), timeout=self.wait)
                except TimeoutError:
                    if time.monotonic() - quiet_since >= self.keep_alive:  # proxies close silent streams
                        quiet_since = time.monotonic()
                        yield b": keep-alive\n\n"
                    continue
                quiet_since = time.monotonic()
                yield frame(kind(topic), {"topic": topic, **payload})
        finally:
            self.close()

    def response(self, kind: Callable[[str], str], tick: Tick | None = None) -> StreamingResponse:
        return StreamingResponse(self.frames(kind, tick), media_type="text/event-stream", headers=HEADERS)
