"""The operations-centre wall in Chromium at 1920×1080: districts drawn, tiles filled, a pushed update
arrives (server-sent events, no reload), a district drill-in, and a screenshot for the closing note."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from urbanbrain.core.bus import get_bus
from urbanbrain.govern import users
from urbanbrain.govern.principals import OPERATOR, SYSTEM
from urbanbrain.meta.departments import add_department
from urbanbrain.operate.indicator_compute import compute_all
from urbanbrain.operate.indicators import define_indicator

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"
BY_DISTRICT = ("select district, value from (values ('芙蓉区', 31.0), ('岳麓区', 44.0), (null, 37.5)) "
               "as t(district, value)")


def _define(name: str, sql: str, **kw: Any) -> None:
    define_indicator(SYSTEM, name, sql=sql, department="hotline", replace=True, **kw)


@pytest.fixture
def city() -> list[str]:
    """Overrides the browser suite's city: the operations centre, its dispatcher, three computed indicators."""
    add_department("12345热线", "hotline")
    users.add_user("disp", PASSWORD, roles=[(OPERATOR, "hotline")])
    _define("pm25", BY_DISTRICT, theme="environment", unit="μg/m³", direction="down", breakdown="district",
            warn="> 50", alarm="> 75", title_zh="PM2.5 日均浓度", iso_code="37120:8.1")
    _define("satisfaction", "select 91.0 as value", theme="hotline", unit="%", warn="< 85", title_zh="12345 满意率")
    _define("closure", "select 81.0 as value", theme="hotline", unit="%", alarm="< 85", title_zh="12345 办结率")
    assert not [r for r in compute_all() if r.get("error")]
    return ["pm25", "satisfaction", "closure"]


def _signed_in_wall(browser: Any, server: str) -> tuple[Any, Any, list[str]]:
    """The wall at 1920×1080 in zh-CN, signed in as the dispatcher; page errors are collected."""
    context = browser.new_context(base_url=server, viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    context.set_default_timeout(60_000)  # hang guard on a loaded machine
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/ioc")
    page.fill("#login-name", "disp")
    page.fill("#login-password", PASSWORD)
    page.locator("button[type=submit]").first.click()
    page.wait_for_url("**/ioc")
    return context, page, errors


def test_the_wall_draws_fills_and_updates(browser: Any, server: str, city: list[str], shots: Path) -> None:
    context, page, errors = _signed_in_wall(browser, server)
    page.wait_for_function("window.UBIoc && window.UBIoc.loaded >= 1 && window.UBIoc.open === true")
    assert page.evaluate("window.UBIoc.map.districtCount()") == 9
    values = page.locator(".tile .value").all_inner_texts()
    assert len(values) == 3 and all(v.strip() not in ("", "—") for v in values), values
    assert page.locator('.tile[data-name="closure"]').get_attribute("class").split()[:2] == ["tile", "alarm"]
    assert page.locator("#ioc-score").inner_text() == "66.7"  # 2 of 3 lights green
    page.wait_for_function("window.UBIoc.facilities !== undefined")  # fetched after first paint
    assert page.locator("#ioc-located").inner_text() == "已定位 0/0"  # this city has no facility datasets
    assert page.locator("#ioc-ranking").inner_text() == "暂无已办结的事件：首批事件办结后显示排名"  # no case yet

    _define("closure", "select 88.0 as value", theme="hotline", unit="%", alarm="< 85", title_zh="12345 办结率")
    compute_all()  # the server pushes the new value: the tile turns green without a reload
    page.wait_for_function("document.querySelector('.tile[data-name=\"closure\"]').classList.contains('ok')")
    assert "88" in page.locator('.tile[data-name="closure"] .value').inner_text()
    assert page.locator("#ioc-score").inner_text() == "100"
    get_bus().publish("state.hotline.lamps", {"feed": "lamps", "department": "hotline", "changes": [
        {"device_id": f"lamp{n}", "lon": 112.9 + n / 100, "lat": 28.2, "state": "ok"} for n in range(3)]})
    page.wait_for_function("window.UBIoc.map.pointCount() >= 3")
    assert page.evaluate("window.UBIoc.map.worker") is True  # parsed and drawn off the main thread
    page.wait_for_function("window.UBIoc.map.drawnCount() >= 3")
    page.uncheck('#ioc-layers input[data-layer="sensors"]')  # the legend switches a layer off and on
    page.wait_for_function("window.UBIoc.map.drawnCount() === 0")
    page.check('#ioc-layers input[data-layer="sensors"]')
    page.wait_for_function("window.UBIoc.map.drawnCount() >= 3")
    shot = shots / "ioc-1920x1080.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000

    page.evaluate("window.UBIoc.drill('岳麓区')")  # what clicking the district does
    page.wait_for_function("document.getElementById('ioc-scope').textContent === '岳麓区'")
    assert "44" in page.locator('.tile[data-name="pm25"] .value').inner_text()
    assert page.locator(".tile").count() == 1  # only indicators with a value for the district
    assert page.evaluate("window.UBIoc.loaded") == 2  # one snapshot per view, updates pushed, never polled
    context.close()
    assert not errors, errors


BY_STREET = ("select street, value from (values ('岳麓区', 3.0), ('岳麓区/橘子洲街道', 2.0), "
             "('岳麓区/望月湖街道', 1.0), ('芙蓉区', 4.0), ('芙蓉区/定王台街道', 4.0), (null, 7.0)) "
             "as t(street, value)")


def test_a_drilled_district_lists_its_streets(browser: Any, server: str, city: list[str]) -> None:
    """A breakdown by street (keys `<district>/<street>`): drilled into 岳麓区, the tile shows the district's
    value and lists its two streets, not 芙蓉区's."""
    _define("addresses", BY_STREET, theme="urban_management", unit="个", breakdown="street", title_zh="标准地址数")
    assert not [r for r in compute_all() if r.get("error")]
    context, page, errors = _signed_in_wall(browser, server)
    page.wait_for_function("window.UBIoc && window.UBIoc.loaded >= 1")
    page.evaluate("window.UBIoc.drill('岳麓区')")
    page.wait_for_function("document.getElementById('ioc-scope').textContent === '岳麓区'")
    tile = page.locator('.tile[data-name="addresses"]')
    assert "3" in tile.locator(".value").inner_text() and tile.get_attribute("data-streets") == "2"
    listed = tile.locator(".name").get_attribute("title") or ""
    assert "橘子洲街道 2" in listed and "望月湖街道 1" in listed and "定王台街道" not in listed
    context.close()
    assert not errors, errors
