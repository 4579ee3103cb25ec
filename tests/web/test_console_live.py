"""Console: the live pages and the alerts page, as their users and as an attacker from another department
(no feed on the list, 403 on the feed's page, no alert, no button, no event on the stream)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.stream.helpers import air, ensure_dept, unique, wait_for
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.users import add_user, create_token
from urbanbrain.stream import alerts, service
from urbanbrain.stream.http_host import stop_all
from urbanbrain.web.app import create_app

PASSWORD = "correct-horse-battery-staple-9"


@pytest.fixture
def city() -> Iterator[dict[str, Any]]:
    """Ecology's HTTP feed with a pm25 rule; users of ecology (operator, analyst) and of transport."""
    ensure_dept("ecology")
    ensure_dept("transport")
    add_user("op", PASSWORD, roles=[("operator", "ecology")])
    add_user("ana", PASSWORD, roles=[("analyst", "ecology")])
    add_user("bus", PASSWORD, roles=[("dept_admin", "transport")])
    name = unique("air")
    key = service.create_feed(SYSTEM, name, "ecology", "http", {}, model="AirQualityObserved")["key"]
    alerts.add_rule(SYSTEM, unique("pm25-high"), name, "pm25 > 50", "major")
    yield {"feed": name, "key": key}
    stop_all()


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(user).token}"}


def _push(client: TestClient, city: dict[str, Any], *readings: dict[str, Any]) -> None:
    r = client.post(f"/api/feeds/{city['feed']}", headers={"X-Feed-Key": city["key"]}, content=json.dumps(readings))
    assert r.status_code == 202, r.text


def test_live_and_alerts_pages_by_department(city: dict[str, Any]) -> None:
    feed = city["feed"]
    op, ana, bus = bearer("op"), bearer("ana"), bearer("bus")
    with TestClient(create_app(), follow_redirects=False) as c:
        _push(c, city, air("st-1", 1, pm25=80.0, location={"type": "Point", "coordinates": [112.98, 28.2]}),
              air("st-2", 1, pm25=12.0))
        wait_for(lambda: len(alerts.list_alerts(SYSTEM, feed=feed)) == 1, 30, "the pm25 alert")
        alert = alerts.list_alerts(SYSTEM, feed=feed)[0]
        wait_for(lambda: len(service.live_state(SYSTEM, feed=feed)) == 2, 30, "two devices in live state")

        listing = c.get("/live", headers={**op, "accept-language": "en"}).text
        assert f'href="/live/{feed}"' in listing
        assert feed not in c.get("/live", headers=bus).text  # another department's feed is not listed
        page = c.get(f"/live/{feed}", headers={**ana, "accept-language": "en"})
        assert page.status_code == 200
        assert 'data-device="st-1"' in page.text and 'data-device="st-2"' in page.text and ">80<" in page.text
        data = json.loads(page.text.split('id="live-data">')[1].split("</script>")[0])
        assert {d["id"]: d["state"] for d in data["devices"]} == {"st-1": "alarm", "st-2": "ok"}
        assert data["topics"] == f"state.ecology.{feed},alerts.>,deadletters.ecology.{feed}"
        assert "alert open" in page.text and "/static/citymap.js" in page.text
        foreign = c.get(f"/live/{feed}", headers=bus)
        assert foreign.status_code == 403 and "st-1" not in foreign.text
        assert c.get("/live/no-such-feed", headers=op).status_code == 404
        zh = c.get(f"/live/{feed}", headers={**op, "accept-language": "zh-CN"}).text
        assert "最新值" in zh and "有告警" in zh

        mine = c.get("/alerts", headers={**op, "accept-language": "en"}).text
        assert f'id="alert-{alert["id"]}"' in mine and f'/alerts/{alert["id"]}/ack' in mine
        assert f'/alerts/{alert["id"]}/clear' in mine
        looking = c.get("/alerts", headers=ana).text  # an analyst sees the alert, not the buttons
        assert f'id="alert-{alert["id"]}"' in looking and f'/alerts/{alert["id"]}/ack' not in looking
        assert alert["id"] not in c.get("/alerts?view=all", headers=bus).text
        assert c.get(f"/alerts/{alert['id']}/row", headers=bus).status_code == 404

        for who in (ana, bus):
            assert c.post(f"/alerts/{alert['id']}/ack", headers=who).status_code == 403
            assert c.post(f"/alerts/{alert['id']}/clear", headers=who).status_code == 403
            assert c.post(f"/api/alerts/{alert['id']}/clear", headers=who).status_code == 403
        assert alerts.get_alert(SYSTEM, alert["id"])["status"] == "raised"
        done = c.post(f"/alerts/{alert['id']}/ack", headers=op)
        assert done.status_code == 303 and done.headers["location"] == "/alerts"
        row = c.get(f"/alerts/{alert['id']}/row", headers={**op, "accept-language": "en"}).text
        assert "acknowledged" in row and "/ack" not in row and "/clear" in row
        cleared = c.post(f"/alerts/{alert['id']}/clear", headers={**op, "HX-Request": "true", "accept-language": "en"})
        assert cleared.status_code == 200 and "cleared" in cleared.text and "<form" not in cleared.text
        assert alerts.get_alert(SYSTEM, alert["id"])["status"] == "cleared"
        assert c.post(f"/api/alerts/{alert['id']}/clear", headers=op).status_code == 422  # already cleared
        assert alert["id"] in c.get("/alerts?view=cleared", headers=op).text


def _read_events(url: str, headers: dict[str, str], into: list[dict[str, Any]], stop: threading.Event) -> None:
    import httpx

    try:
        with httpx.Client(timeout=httpx.Timeout(30, read=20)) as client, \
                client.stream("GET", url, headers=headers) as response:
            into.append({"status": response.status_code})  # the route subscribed before answering
            kind = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    into.append({**json.loads(line[6:]), "sse": kind})
                if stop.is_set():
                    return
    except httpx.HTTPError:
        if not stop.is_set():  # the server going away at the end is expected
            raise


def test_the_event_stream_keeps_to_the_users_departments(city: dict[str, Any]) -> None:
    """Over a real server: ecology's operator gets ecology's state and alert events; transport's admin
    gets none of them, only the events of transport (a marker published after ecology's)."""
    import uvicorn

    from urbanbrain.core.bus import get_bus

    config = uvicorn.Config(create_app, factory=True, host="127.0.0.1", port=0, log_level="warning",
                            timeout_graceful_shutdown=1)  # open event streams end with the server
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 60, "uvicorn")
    base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    stop = threading.Event()
    seen: dict[str, list[dict[str, Any]]] = {"op": [], "bus": []}
    url = f"{base}/api/stream/events?topics=state.>,alerts.>,deadletters.>"
    readers = [threading.Thread(target=_read_events, args=(url, bearer(u), seen[u], stop), daemon=True)
               for u in seen]
    try:
        for r in readers:
            r.start()
        wait_for(lambda: all(seen[u] for u in seen), 30, "both streams connected")
        assert [s[0]["status"] for s in seen.values()] == [200, 200]
        import httpx

        r = httpx.post(f"{base}/api/feeds/{city['feed']}", headers={"X-Feed-Key": city["key"]},
                       content=json.dumps([air("st-9", 2, pm25=99.0)]), timeout=30)
        assert r.status_code == 202
        bad = air("st-9", 3)
        bad["pm25"] = "lots"
        r = httpx.post(f"{base}/api/feeds/{city['feed']}", headers={"X-Feed-Key": city["key"]},
                       content=json.dumps([bad]), timeout=30)
        assert r.status_code == 202
        wait_for(lambda: {e.get("sse") for e in seen["op"]} >= {"state", "alert", "deadletter"}, 30,
                 "ecology's events")
        get_bus().publish("state.transport.marker", {"feed": "marker", "department": "transport", "changes": []})
        wait_for(lambda: len(seen["bus"]) > 1, 30, "transport's marker")
        assert [e.get("feed") for e in seen["bus"][1:]] == ["marker"]  # nothing of ecology's before or after
        state = next(e for e in seen["op"] if e.get("sse") == "state")
        assert state["feed"] == city["feed"] and state["changes"][0]["attributes"]["pm25"] == 99.0
        assert state["messages"] == 1 and state["readings"] == 1
        letter = next(e for e in seen["op"] if e.get("sse") == "deadletter")  # pushed, for the live page
        assert letter["count"] == 1 and letter["letters"][0]["device_id"] == "st-9"
        assert "pm25" in letter["letters"][0]["reason"] and "raw" not in letter["letters"][0]
    finally:
        stop.set()
        server.should_exit = True
        thread.join(timeout=10)
