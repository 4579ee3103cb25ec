"""`/api/ioc`: the operations-centre screen's data — a governed snapshot, screen configurations, and pushed updates.

`GET /api/ioc/events` is the wall's one server-sent-event stream. It forwards, as the signed-in user may
see them: indicator computations (`event: indicator`), alerts (`event: alert`), and device state changes
coalesced to at most one `event: points` per second (10,000 sensors changing every second are one
message a second, not 10,000), plus new cases (`event: case`, checked every few seconds on the server,
so the browser never polls).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter(tags=["ioc"])

POINTS_EVERY = 1.0
CASES_EVERY = 5.0
KEEP_ALIVE = 15.0


class ScreenBody(BaseModel):
    title: str = ""
    tiles: list[str] = Field(default_factory=list, max_length=200)
    layers: list[str] = Field(default_factory=list, max_length=10)


@router.get("/ioc/snapshot")
def snapshot(principal: CurrentPrincipal, screen: str = "main", district: str | None = None) -> dict[str, Any]:
    from urbanbrain.operate import ioc

    return ioc.snapshot(principal, screen, district or None)


@router.get("/ioc/screens")
def screens() -> list[dict[str, Any]]:
    from urbanbrain.operate import ioc

    return ioc.list_screens()


@router.put("/ioc/screens/{name}")
def set_screen(name: str, body: ScreenBody, principal: CurrentPrincipal) -> dict[str, Any]:
    from urbanbrain.operate import ioc

    return ioc.set_screen(principal, name, tiles=body.tiles, layers=body.layers, title=body.title)


def points(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """A feed's state changes as map points (the same ids as the snapshot's sensor points): a device
    that just reported is heard, so `ok` unless the change says otherwise."""
    feed = str(payload.get("feed", ""))
    out = []
    for change in payload.get("changes") or []:
        device = change.get("device_id")
        if device is None:
            continue
        point: dict[str, Any] = {"id": f"s:{feed}:{device}", "state": change.get("state") or "ok"}
        if change.get("lon") is not None and change.get("lat") is not None:
            point["lon"], point["lat"] = change["lon"], change["lat"]
        out.append(point)
    return out


@router.get("/ioc/events", response_class=StreamingResponse,
            responses={200: {"description": "server-sent events (never ends on its own)",
                             "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def events(request: Request, principal: CurrentPrincipal) -> StreamingResponse:
    """`event: indicator | alert | points | case`, data = JSON."""
    from urbanbrain.core.bus import get_bus

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(maxsize=2000)
    pending: dict[str, dict[str, Any]] = {}

    def handler(topic: str, payload: dict[str, Any]) -> None:
        if topic.startswith("state."):
            if not principal.in_department(str(payload.get("department") or topic.split(".")[1])):
                return
            changed = points(payload)
            if changed:
                loop.call_soon_threadsafe(pending.update, {p["id"]: p for p in changed})
            return
        if topic.startswith("alerts.") and not principal.in_department(str(payload.get("department", ""))):
            return  # indicators are published aggregates: every signed-in user sees their values

        def put() -> None:
            if queue.full():
                queue.get_nowait()  # a slow wall loses the oldest events, never the server's memory
            queue.put_nowait((topic, payload))

        loop.call_soon_threadsafe(put)

    bus = get_bus()
    subs = [bus.subscribe(t, handler) for t in ("indicators.computed", "alerts.>", "state.>")]

    def new_cases(after: str) -> list[dict[str, Any]]:
        from urbanbrain.core.errors import UrbanBrainError
        from urbanbrain.operate.cases import list_cases

        try:
            return [c for c in list_cases(principal, limit=20) if c["created_at"] > after]
        except UrbanBrainError:
            return []

    async def stream() -> AsyncIterator[bytes]:
        from urbanbrain.core.clock import utcnow

        last_case = utcnow().isoformat()
        next_points = next_cases = time.monotonic()
        quiet_since = time.monotonic()
        try:
            yield b": connected\n\n"
            while not await request.is_disconnected():
                now = time.monotonic()
                if pending and now >= next_points:
                    batch = list(pending.values())
                    pending.clear()
                    next_points = now + POINTS_EVERY
                    yield f"event: points\ndata: {json.dumps(batch, ensure_ascii=False)}\n\n".encode()
                if now >= next_cases:
                    next_cases = now + CASES_EVERY
                    fresh = await asyncio.to_thread(new_cases, last_case)
                    for c in reversed(fresh):
                        last_case = max(last_case, c["created_at"])
                        data = {k: c.get(k) for k in ("id", "title", "category", "district", "status", "created_at",
                                                      "lon", "lat", "department")}
                        yield f"event: case\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n".encode()
                try:
                    topic, payload = await asyncio.wait_for(queue.get(), timeout=POINTS_EVERY)
                except TimeoutError:
                    if time.monotonic() - quiet_since > KEEP_ALIVE:  # proxies close silent streams
                        quiet_since = time.monotonic()
                        yield b": keep-alive\n\n"
                    continue
                quiet_since = time.monotonic()
                kind = "indicator" if topic.startswith("indicators.") else "alert"
                text = json.dumps({"topic": topic, **payload}, default=str, ensure_ascii=False)
                yield f"event: {kind}\ndata: {text}\n\n".encode()
        finally:
            for sub in subs:
                sub.unsubscribe()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
