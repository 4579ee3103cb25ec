"""The real-time API and governance as an attacker would try it: HTTP push with and without the feed
key, devices near a point, history raw and downsampled, and another department's view of live state
and history (nothing unless granted), over the real app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from urbanbrain.govern.principals import ANALYST, SYSTEM, Principal
from urbanbrain.govern.users import add_user, create_token
from urbanbrain.stream import service
from urbanbrain.stream.http_host import stop_all
from urbanbrain.web.app import create_app

from .helpers import air, ensure_dept, unique

PASSWORD = "correct-horse-battery-staple-9"


@pytest.fixture
def client() -> Iterator[TestClient]:
    ensure_dept("ecology")
    ensure_dept("transport")
    add_user("admin", PASSWORD, roles=[("platform_admin", None)])
    add_user("eco", PASSWORD, roles=[("analyst", "ecology")])
    add_user("bus", PASSWORD, roles=[("dept_admin", "transport")])
    with TestClient(create_app()) as c:
        yield c
    stop_all()


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(user).token}"}


def test_push_live_state_history_and_governance(client: TestClient) -> None:
    admin, eco, bus = bearer("admin"), bearer("eco"), bearer("bus")
    name = unique("push")
    r = client.post("/api/feeds", headers=bus, json={"name": name, "department": "ecology", "kind": "http",
                                                      "model": "AirQualityObserved"})
    assert r.status_code == 403  # transport's admin cannot create ecology's feed
    r = client.post("/api/feeds", headers=admin, json={"name": name, "department": "ecology", "kind": "http",
                                                        "model": "AirQualityObserved"})
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    readings = [air(f"s{i % 3}", i, pm25=10.0 * i, location={"type": "Point", "coordinates": [112.98 + i / 1000, 28.2]})
                for i in range(9)]
    assert client.post(f"/api/feeds/{name}", content=json.dumps(readings)).status_code == 401  # no key
    assert client.post(f"/api/feeds/{name}", headers={"X-Feed-Key": "guess"},
                       content=json.dumps(readings)).status_code == 403
    r = client.post(f"/api/feeds/{name}", headers={"X-Feed-Key": key}, content=json.dumps(readings))
    assert r.status_code == 202, r.text
    r = client.post(f"/api/feeds/{name}", headers={"X-Feed-Key": key}, content=b"{oops")
    assert r.status_code == 202
    stop_all()  # commits what is buffered

    near = client.get("/api/devices", headers=eco, params={"near": "112.98,28.20", "max_distance": "1km"}).json()
    assert [d["device_id"] for d in near] == ["s0", "s1", "s2"]
    assert near[2]["attributes"]["pm25"]["value"] == 80.0
    assert client.get("/api/devices", headers=bus, params={"feed": name}).json() == []  # not transport's
    hot = client.get("/api/devices", headers=eco, params={"feed": name, "where": "pm25:>65"}).json()
    assert sorted(d["device_id"] for d in hot) == ["s1", "s2"]

    raw = client.get(f"/api/feeds/{name}/history", headers=eco, params={"device": "s0", "attribute": "pm25"}).json()
    assert [row[-1] for row in raw["rows"]] == [0.0, 30.0, 60.0]
    hourly = client.get(f"/api/feeds/{name}/history", headers=eco,
                        params={"attribute": "pm25", "grain": "1h"}).json()
    assert {tuple(r[i] for i in (0, 4, 5)) for r in hourly["rows"]} >= {("s0", 30.0, 3)}
    denied = client.get(f"/api/feeds/{name}/history", headers=bus, params={"attribute": "pm25"})
    assert denied.status_code in (400, 403) and "rows" not in denied.json()  # pm25 does not exist for transport
    assert client.get(f"/api/feeds/{name}/dead-letters", headers=bus).status_code == 403
    letters = client.get(f"/api/feeds/{name}/dead-letters", headers=eco).json()
    assert len(letters) == 1 and "malformed JSON" in letters[0]["reason"]
    attack = client.get(f"/api/feeds/{name}/history", headers=eco, params={"device": "x' OR '1'='1"})
    assert attack.status_code == 422


def test_live_state_follows_classification(tmp_path: Path) -> None:
    from urbanbrain.govern.classification import set_default_level, set_field
    from urbanbrain.stream.feeds.http import HttpFeed, push
    from urbanbrain.stream.pipeline import FeedRunner

    ensure_dept("ecology")
    name = unique("cls")
    service.create_feed(SYSTEM, name, "ecology", "http", {}, model="AirQualityObserved")
    runner = FeedRunner(service.feed_config(name), tmp_path / "j", feed=HttpFeed(name, {}))
    runner.start()
    push(name, json.dumps(air("s1", 1, pm25=5.0)).encode())
    runner.stop()
    dataset = f"ecology.{name.replace('-', '_')}.observations"
    other = Principal("user", "t", frozenset({"transport"}), frozenset({ANALYST}))
    assert service.live_state(other, feed=name) == []  # conditional by default: hidden from others
    set_default_level(dataset, "open")
    shown = service.live_state(other, feed=name)
    assert shown[0]["attributes"]["pm25"]["value"] == 5.0 and shown[0]["lon"] == pytest.approx(-3.712, abs=1e-3)
    set_field(dataset, "pm25", level="closed")
    set_field(dataset, "lon", pii_type="coordinates")
    shown = service.live_state(other, feed=name)
    assert "pm25" not in shown[0]["attributes"]
    assert shown[0]["lon"] == -3.71  # a PII location is coarsened for other departments
    mine = service.live_state(SYSTEM, feed=name)[0]
    assert mine["attributes"]["pm25"]["value"] == 5.0 and mine["lon"] != -3.71
