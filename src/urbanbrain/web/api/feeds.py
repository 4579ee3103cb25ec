"""`/api/feeds`, `/api/devices`, `/api/rules`, `/api/alerts`, `/api/stream/events`: the real-time layer.

Every route is one service call. Devices push readings with `POST /api/feeds/{name}` and the feed's
key in `X-Feed-Key` (no user session). The event stream is server-sent events of state changes and
alert lifecycle events of the departments the caller belongs to (all, for platform admins).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from urbanbrain.web.api import sse
from urbanbrain.web.api.results import QueryResponse, json_response
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter(tags=["stream"])


class FeedCreate(BaseModel):
    name: str
    department: str
    kind: str
    options: dict[str, Any] = Field(default_factory=dict)
    model: str | None = None
    format: str = "ngsi"
    mapping: dict[str, Any] | None = None


class RuleCreate(BaseModel):
    name: str
    feed: str
    when: str
    severity: str = "minor"


@router.get("/feeds")
def list_feeds(dept: str | None = None) -> list[dict[str, Any]]:
    from urbanbrain.stream import service

    return service.list_feeds(dept)


@router.post("/feeds", status_code=201)
def create_feed(body: FeedCreate, principal: CurrentPrincipal) -> dict[str, Any]:
    from urbanbrain.stream import service

    return service.create_feed(principal, body.name, body.department, body.kind, body.options, model=body.model,
                               fmt=body.format, mapping=body.mapping)


@router.delete("/feeds/{name}", status_code=204)
def delete_feed(name: str, principal: CurrentPrincipal, purge: bool = False) -> Response:
    from urbanbrain.stream import service

    service.delete_feed(principal, name, purge=purge)
    return Response(status_code=204)


@router.post("/feeds/{name}", status_code=202)
async def push_readings(name: str, request: Request,
                        x_feed_key: Annotated[str | None, Header()] = None) -> JSONResponse:
    """A device (or gateway) posts one reading or a batch; 202 once kept (journaled or dead-lettered)."""
    from urbanbrain.stream.http_host import accept

    body = await request.body()
    await asyncio.to_thread(accept, name, x_feed_key, body)
    return JSONResponse({"feed": name, "kept": True}, status_code=202)


@router.get("/feeds/{name}/status")
def feed_status(name: str, principal: CurrentPrincipal) -> dict[str, Any]:
    from urbanbrain.stream import service

    return service.feed_status(principal, name)


@router.get("/feeds/{name}/dead-letters")
def dead_letters(name: str, principal: CurrentPrincipal,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    from urbanbrain.stream import service

    return service.dead_letters(principal, name, limit)


@router.get("/feeds/{name}/history", response_model=QueryResponse)
def history(name: str, principal: CurrentPrincipal, device: str | None = None, attribute: str | None = None,
            since: str | None = None, until: str | None = None, grain: str = "raw",
            limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000) -> Response:
    from urbanbrain.stream import service

    return json_response(service.history(principal, name, device=device, attribute=attribute, since=since,
                                         until=until, grain=grain, limit=limit))


@router.get("/devices")
def devices(principal: CurrentPrincipal, type: str | None = None, feed: str | None = None,
            device: str | None = None, near: str | None = None, max_distance: str | None = None,
            where: Annotated[list[str] | None, Query(description="ATTR:VALUE, ATTR:>75, ...")] = None,
            limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[dict[str, Any]]:
    """Current state of devices, filtered by type, feed, id, attribute values, or near a point."""
    from urbanbrain.stream import service

    point = service.parse_point(near, "near=") if near else None
    filters = dict(w.split(":", 1) for w in where or [] if ":" in w)
    return service.live_state(principal, type=type, feed=feed, device=device, near=point,
                              max_distance_m=service.parse_distance(max_distance) if max_distance else None,
                              where=filters or None, limit=limit)


@router.get("/rules")
def list_rules(principal: CurrentPrincipal, feed: str | None = None) -> list[dict[str, Any]]:
    from urbanbrain.stream import alerts

    return alerts.list_rules(principal, feed)


@router.post("/rules", status_code=201)
def add_rule(body: RuleCreate, principal: CurrentPrincipal) -> dict[str, Any]:
    from urbanbrain.stream import alerts

    return alerts.add_rule(principal, body.name, body.feed, body.when, body.severity)


@router.delete("/rules/{name}", status_code=204)
def delete_rule(name: str, principal: CurrentPrincipal) -> Response:
    from urbanbrain.stream import alerts

    alerts.delete_rule(principal, name)
    return Response(status_code=204)


@router.get("/alerts")
def list_alerts(principal: CurrentPrincipal, status: str = "open", feed: str | None = None,
                limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> list[dict[str, Any]]:
    from urbanbrain.stream import alerts

    return alerts.list_alerts(principal, status=status, feed=feed, limit=limit)


@router.post("/alerts/{alert_id}/ack")
def acknowledge(alert_id: str, principal: CurrentPrincipal) -> dict[str, Any]:
    from urbanbrain.stream import alerts

    return alerts.acknowledge_alert(principal, alert_id)


@router.post("/alerts/{alert_id}/clear")
def clear(alert_id: str, principal: CurrentPrincipal) -> dict[str, Any]:
    """Clear an open alert by hand; the rule raises a new one if its condition still holds."""
    from urbanbrain.stream import alerts

    return alerts.clear_alert(principal, alert_id)


@router.get("/stream/events", response_class=StreamingResponse, responses=sse.RESPONSES)
async def events(request: Request, principal: CurrentPrincipal,
                 topics: str = "state.>,alerts.>") -> StreamingResponse:
    """Server-sent events: `event: state` / `event: alert` / `event: deadletter`, data = the bus payload
    as JSON (`topics`, e.g. `deadletters.>`, picks which; always only the caller's departments)."""
    stream = sse.EventStream(request, maxsize=1000)

    def handler(topic: str, payload: dict[str, Any]) -> None:
        if principal.in_department(str(payload.get("department", ""))):
            stream.push(topic, payload)

    stream.subscribe([t.strip() for t in topics.split(",") if t.strip()], handler)
    return stream.response(lambda topic: "alert" if topic.startswith("alerts.") else
                           "deadletter" if topic.startswith("deadletters.") else "state")
