"""`/api/ioc`: the operations-centre screen's data — a governed snapshot, screen configurations, and pushed updates.

`GET /api/ioc/events` is the wall's one server-sent-event stream. It forwards, as the signed-in user may
see them: indicator computations (`event: indicator`), alerts (`event: alert`), and device state changes
coalesced to at most one `event: points` per second (10,000 sensors changing every second are one
message a second, not 10,000), plus new cases (`event: case`, checked every few seconds on the server,
so the browser never polls).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from urbanbrain.web.api import sse
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
def snapshot(principal: CurrentPrincipal, screen: str = "main", district: str | None = None,
             lang: str = "zh-CN", facilities: bool = True) -> dict[str, Any]:
    """The wall's first paint; `facilities=false` leaves the facilities layer to `GET /api/ioc/facilities`."""
    from urbanbrain.operate import ioc

    return ioc.snapshot(principal, screen, district or None, lang="en" if lang == "en" else "zh-CN",
                        with_facilities=facilities)


@router.get("/ioc/facilities")
def facilities(principal: CurrentPrincipal, screen: str = "main", lang: str = "zh-CN") -> dict[str, Any]:
    """The screen's facilities as the signed-in user may see them (each source read as that user): map
    points, and per source how many rows were read (`total`) and placed (`located`)."""
    from urbanbrain.operate import ioc

    return ioc.screen_facilities(principal, screen, lang="en" if lang == "en" else "zh-CN")


@router.get("/ioc/screens")
def screens() -> list[dict[str, Any]]:
    from urbanbrain.operate import ioc

    return ioc.list_screens()


@router.put("/ioc/screens/{name}")
def set_screen(name: str, body: ScreenBody, principal: CurrentPrincipal) -> dict[str, Any]:
    from urbanbrain.operate import ioc

    return ioc.set_screen(principal, name, tiles=body.tiles, layers=body.layers, title=body.title)


def points(payload: dict[str, Any]) -> list[list[Any]]:
    """A feed's state changes as compact map points `[id, lon, lat, state]` (the snapshot's sensor ids;
    lon/lat null when the change has none; a device that just reported is heard, so `ok` unless the change
    says otherwise). Rows, not objects, and coordinates to 1 m: 10,000 changes a second are ~350 kB the
    wall's main thread parses, not ~750 kB."""
    feed = str(payload.get("feed", ""))
    out: list[list[Any]] = []
    for change in payload.get("changes") or []:
        device = change.get("device_id")
        if device is None:
            continue
        lon, lat = change.get("lon"), change.get("lat")
        where = [round(lon, 5), round(lat, 5)] if lon is not None and lat is not None else [None, None]
        out.append([f"s:{feed}:{device}", *where, change.get("state") or "ok"])
    return out


@router.get("/ioc/events", response_class=StreamingResponse, responses=sse.RESPONSES)
async def events(request: Request, principal: CurrentPrincipal) -> StreamingResponse:
    """`event: indicator | alert | points | case`, data = JSON (`points`: rows `[id, lon, lat, state]`)."""
    stream = sse.EventStream(request, maxsize=2000, wait=POINTS_EVERY, keep_alive=KEEP_ALIVE)
    pending: dict[str, dict[str, Any]] = {}

    def handler(topic: str, payload: dict[str, Any]) -> None:
        if topic.startswith("state."):
            if not principal.in_department(str(payload.get("department") or topic.split(".")[1])):
                return
            changed = points(payload)
            if changed:
                stream.call(pending.update, {p[0]: p for p in changed})
            return
        if topic.startswith("alerts.") and not principal.in_department(str(payload.get("department", ""))):
            return  # indicators are published aggregates: every signed-in user sees their values
        stream.push(topic, payload)

    stream.subscribe(["indicators.computed", "alerts.>", "state.>"], handler)

    def new_cases(after: str) -> list[dict[str, Any]]:
        from urbanbrain.core.errors import UrbanBrainError
        from urbanbrain.operate.cases import list_cases

        try:
            return [c for c in list_cases(principal, limit=20) if c["created_at"] > after]
        except UrbanBrainError:
            return []

    from urbanbrain.core.clock import utcnow

    due = {"points": time.monotonic(), "cases": time.monotonic()}
    last_case = [utcnow().isoformat()]

    async def tick() -> AsyncIterator[bytes]:
        """Each turn: the coalesced device changes (at most once a second) and new cases (every few seconds)."""
        now = time.monotonic()
        if pending and now >= due["points"]:
            batch = list(pending.values())
            pending.clear()
            due["points"] = now + POINTS_EVERY
            yield sse.frame("points", batch)
        if now >= due["cases"]:
            due["cases"] = now + CASES_EVERY
            fresh = await asyncio.to_thread(new_cases, last_case[0])
            for c in reversed(fresh):
                last_case[0] = max(last_case[0], c["created_at"])
                yield sse.frame("case", {k: c.get(k) for k in ("id", "title", "category", "district", "status",
                                                               "created_at", "lon", "lat", "department")})

    return stream.response(lambda topic: "indicator" if topic.startswith("indicators.") else "alert", tick)
