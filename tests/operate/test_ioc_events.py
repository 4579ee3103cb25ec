"""The wall's event stream (`/api/ioc/events`, built on `web/api/sse.py` like `/api/stream/events`): device
changes reach a user only for their departments, coalesced into compact rows; alerts likewise (attack: a
department never sees another's points or alerts); indicator values reach everyone."""

from __future__ import annotations

import json
import threading
from typing import Any

from tests.operate.helpers import make_departments
from tests.stream.helpers import wait_for
from urbanbrain.govern.users import add_user, create_token
from urbanbrain.web.api import sse
from urbanbrain.web.api.ioc import points
from urbanbrain.web.app import create_app

PASSWORD = "correct horse battery"


def test_frames_and_rows_are_compact() -> None:
    assert sse.frame("points", [["s:f:d1", 112.9, 28.2, "ok"]]) == \
        b'event: points\ndata: [["s:f:d1",112.9,28.2,"ok"]]\n\n'
    assert sse.frame("alert", {"message": "告警"}).decode() == 'event: alert\ndata: {"message":"告警"}\n\n'
    rows = points({"feed": "lamps", "changes": [{"device_id": "d1", "lon": 112.912345678, "lat": 28.2, "state": None},
                                                {"device_id": "d2"}, {"lon": 1.0}]})
    assert rows == [["s:lamps:d1", 112.91235, 28.2, "ok"], ["s:lamps:d2", None, None, "ok"]]


def _read(url: str, token: str, into: list[dict[str, Any]], stop: threading.Event) -> None:
    import httpx

    try:
        with httpx.Client(timeout=httpx.Timeout(30, read=20)) as client, \
                client.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as response:
            into.append({"sse": "status", "data": response.status_code})
            kind = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    into.append({"sse": kind, "data": json.loads(line[6:])})
                if stop.is_set():
                    return
    except httpx.HTTPError:
        if not stop.is_set():
            raise


def test_the_wall_stream_keeps_to_the_users_departments() -> None:
    import uvicorn

    from urbanbrain.core.bus import get_bus

    make_departments()
    add_user("disp", PASSWORD, roles=[("operator", "hotline")])
    add_user("urban.handler", PASSWORD, roles=[("operator", "urban")])
    server = uvicorn.Server(uvicorn.Config(create_app, factory=True, host="127.0.0.1", port=0, log_level="warning",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 60, "uvicorn")
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/api/ioc/events"
    stop = threading.Event()
    seen: dict[str, list[dict[str, Any]]] = {"disp": [], "urban.handler": []}
    readers = [threading.Thread(target=_read, args=(url, create_token(u).token, seen[u], stop), daemon=True)
               for u in seen]
    bus = get_bus()
    try:
        for r in readers:
            r.start()
        wait_for(lambda: all(seen[u] for u in seen), 30, "both streams connected")
        assert [s[0]["data"] for s in seen.values()] == [200, 200]
        bus.publish("state.urban.lamps", {"feed": "lamps", "department": "urban", "changes": [
            {"device_id": f"lamp{n}", "lon": 112.9 + n / 100, "lat": 28.2, "state": "ok"} for n in range(3)]})
        bus.publish("alerts.urban.lamps", {"department": "urban", "event": "raised", "message": "路灯离线"})
        bus.publish("indicators.computed", {"name": "closure", "value": 88.0, "state": "ok"})
        bus.publish("state.hotline.marker", {"feed": "marker", "department": "hotline", "changes": [
            {"device_id": "m1", "lon": 113.0, "lat": 28.1}]})

        def kinds(user: str) -> set[str]:
            return {e["sse"] for e in seen[user]}

        wait_for(lambda: {"points", "alert", "indicator"} <= kinds("urban.handler"), 30, "urban's events")
        wait_for(lambda: {"points", "indicator"} <= kinds("disp"), 30, "the hotline's events")
        urban_rows = [row for e in seen["urban.handler"] if e["sse"] == "points" for row in e["data"]]
        assert sorted(r[0] for r in urban_rows) == ["s:lamps:lamp0", "s:lamps:lamp1", "s:lamps:lamp2"]
        disp_rows = [row for e in seen["disp"] if e["sse"] == "points" for row in e["data"]]
        assert [r[0] for r in disp_rows] == ["s:marker:m1"]  # none of urban's devices
        assert "alert" not in kinds("disp")  # nor its alert
        assert [e["data"]["value"] for e in seen["disp"] if e["sse"] == "indicator"] == [88.0]
    finally:
        stop.set()
        server.should_exit = True
        thread.join(timeout=10)
