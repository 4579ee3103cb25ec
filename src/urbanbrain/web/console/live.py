"""`/live`: the live feeds of the departments the user may read, and a page per feed (devices on the
city map, last values, readings/s, silent devices, dead letters), kept current by the server-sent
events of `/api/stream/events` (no reloads, no polling).

Everything is read through the stream service functions: `feed_status` checks `feed.status` in the
feed's department (another department's feed is 403), `live_state` reads devices through the policy
of the feed's history dataset, `list_alerts` keeps to the user's departments. The event stream
itself sends a user only the events of their departments.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from urbanbrain.govern.authz import allowed
from urbanbrain.web.console.render import page
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter()


def _when(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso) if iso else None


def _text(value: Any) -> str:
    """A value as the page's script writes it when an update arrives (JSON numbers: 20.0 is `20`)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


@router.get("/live", response_class=HTMLResponse)
def feeds_page(request: Request, principal: CurrentPrincipal) -> HTMLResponse:
    from urbanbrain.stream import service

    feeds = [f for f in service.list_feeds() if allowed("feed.status", principal, f["department"])]
    return page(request, "live.html", {"feeds": feeds, "when": _when})


@router.get("/live/{feed}", response_class=HTMLResponse)
def feed_page(request: Request, feed: str, principal: CurrentPrincipal) -> HTMLResponse:
    from urbanbrain.stream import alerts, service

    status = service.feed_status(principal, feed)  # 404 unknown, 403 another department's
    devices = sorted(service.live_state(principal, feed=feed, limit=10_000), key=lambda d: d["device_id"])
    silent = set(status["silent_devices"])
    open_alerts = alerts.list_alerts(principal, status="open", feed=feed, limit=1000)
    alarmed = {a["device_id"] for a in open_alerts}
    for d in devices:
        d["state"] = "alarm" if d["device_id"] in alarmed else "silent" if d["device_id"] in silent else "ok"
    data: dict[str, Any] = {
        "feed": status["name"], "department": status["department"],
        "devices": [{"id": d["device_id"], "lon": d["lon"], "lat": d["lat"], "state": d["state"],
                     "type": d["type"], "observed_at": d["observed_at"]} for d in devices],
        "alarmed": sorted(alarmed), "open_alerts": [a["id"] for a in open_alerts],
        "topics": f"state.{status['department']}.{status['name']},alerts.>,"
                  f"deadletters.{status['department']}.{status['name']}",
    }
    return page(request, "live_feed.html", {"status": status, "devices": devices, "alerts": open_alerts,
                                            "rules": alerts.list_rules(principal, feed), "data": data,
                                            "shown": _text})
