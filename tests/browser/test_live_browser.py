"""Issue 14, in Chromium: the live page of a feed changes when a device reports (no reload), and the
alerts page shows an alert the moment it is raised, with the operator's acknowledge button working."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.stream.helpers import air, ensure_dept, unique
from urbanbrain.govern import users
from urbanbrain.govern.principals import OPERATOR, SYSTEM
from urbanbrain.stream import alerts, service
from urbanbrain.stream.http_host import stop_all

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


@pytest.fixture
def city() -> Iterator[dict[str, str]]:
    """Overrides the browser suite's city: ecology's HTTP air feed with a pm25 rule, and its operator."""
    ensure_dept("ecology")
    users.add_user("op", PASSWORD, roles=[(OPERATOR, "ecology")])
    name = unique("air")
    key = service.create_feed(SYSTEM, name, "ecology", "http", {}, model="AirQualityObserved")["key"]
    alerts.add_rule(SYSTEM, unique("pm25-high"), name, "pm25 > 75", "major")
    yield {"feed": name, "key": key}
    stop_all()


def _push(server: str, city: dict[str, str], *readings: dict[str, Any]) -> None:
    r = httpx.post(f"{server}/api/feeds/{city['feed']}", headers={"X-Feed-Key": city["key"]},
                   content=json.dumps(readings), timeout=30)
    assert r.status_code == 202, r.text


def _registered(feed: str, device: str) -> None:
    """Wait (hang guard 60 s) until the device's state is stored: the first commit of a new feed creates
    its lake table, which takes seconds on a busy machine."""
    import time

    from urbanbrain.stream import service

    deadline = time.monotonic() + 60
    while not service.live_state(SYSTEM, feed=feed, device=device):
        assert time.monotonic() < deadline, f"{device} was never stored"
        time.sleep(0.2)


def _at(device: str, i: int, pm25: float, lon: float, lat: float) -> dict[str, Any]:
    return air(device, i, pm25=pm25, location={"type": "Point", "coordinates": [lon, lat]})


def test_live_page_and_alerts_update_without_reload(page: Any, server: str, city: dict[str, str],
                                                    shots: Path) -> None:
    feed = city["feed"]
    _push(server, city, _at("st-1", 1, 20.0, 112.98, 28.20))
    _registered(feed, "st-1")  # the page renders stored state; later changes arrive as events
    page.goto(f"/live/{feed}")
    page.fill("#login-name", "op")
    page.fill("#login-password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/live/{feed}")
    page.wait_for_selector("#live-conn.on")  # the event stream is open
    value = page.locator('tr[data-device="st-1"] [data-attr="pm25"] .v')
    page.wait_for_function("() => window.ubLiveMap && window.ubLiveMap.districtCount() > 0")
    assert value.inner_text() == "20"  # as the server rendered it
    page.evaluate("() => { window.notReloaded = true; }")

    _push(server, city, _at("st-1", 2, 42.5, 112.98, 28.20), _at("st-2", 2, 90.0, 113.0, 28.22))
    page.wait_for_function("""() => document.querySelector('tr[data-device="st-1"] [data-attr="pm25"] .v')
                                      .textContent === '42.5'""")
    page.wait_for_selector('tr[data-device="st-2"].live-alarm')  # a new device, over the rule's limit
    assert page.evaluate("() => window.notReloaded") is True
    assert page.evaluate("() => window.ubLiveMap.pointCount()") == 2
    assert page.locator("#fig-alerts").inner_text() == "1"
    page.screenshot(path=str(shots / "live-feed.png"), full_page=True)

    page.goto("/alerts")
    page.wait_for_selector("#live-conn.on")
    first = alerts.list_alerts(SYSTEM, feed=feed)[0]["id"]
    assert page.locator(f"#alert-{first}").count() == 1
    page.evaluate("() => { window.notReloaded = true; }")
    _push(server, city, _at("st-3", 3, 120.0, 112.95, 28.18))
    row = page.locator("#alerts-table tbody tr").first
    page.wait_for_function("() => document.querySelector('#alerts-table tbody tr').textContent.includes('st-3')")
    assert "raised" in row.inner_text() and page.evaluate("() => window.notReloaded") is True
    row.get_by_role("button", name="Acknowledge").click()  # HTMX swaps the row in place
    page.wait_for_function("""() => document.querySelector('#alerts-table tbody tr [data-cell="status"]')
                                      .textContent.includes('acknowledged')""")
    assert page.evaluate("() => window.notReloaded") is True
    new = next(a for a in alerts.list_alerts(SYSTEM, feed=feed) if a["device_id"] == "st-3")
    assert new["status"] == "acknowledged" and new["acknowledged_by"] == "user:op"
    page.screenshot(path=str(shots / "live-alerts.png"), full_page=True)
