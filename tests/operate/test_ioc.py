"""The operations-centre screen's service and API: the configuration is the operations centre's (attack:
other roles and departments get 403, every change audited), and the snapshot shows what the user may see."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.operate.helpers import DISPATCHER, T0, URBAN, make_departments, report
from urbanbrain.core.errors import PermissionDeniedError, ValidationError
from urbanbrain.govern import audit
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.users import add_user, create_token
from urbanbrain.operate import ioc
from urbanbrain.operate.cases import create_case, transition
from urbanbrain.operate.indicators import define_indicator
from urbanbrain.web.app import create_app

PASSWORD = "correct horse battery"


@pytest.fixture
def client() -> Iterator[TestClient]:
    make_departments()  # password hashing is slow: each test adds only the users it needs
    add_user("dispatcher", PASSWORD, roles=[("operator", "hotline")])
    add_user("urban.handler", PASSWORD, roles=[("operator", "urban")])
    with TestClient(create_app(), follow_redirects=False) as c:
        yield c


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(user).token}"}


def test_only_the_operations_centre_configures_screens(client: TestClient) -> None:
    add_user("ops.head", PASSWORD, roles=[("dept_admin", "hotline")])
    add_user("ops.analyst", PASSWORD, roles=[("analyst", "hotline")])
    add_user("urban.head", PASSWORD, roles=[("dept_admin", "urban")])
    body = {"title": "环境专屏", "tiles": ["environment", "hotline"], "layers": ["sensors", "alerts"]}
    for user in ("urban.head", "urban.handler", "ops.analyst"):  # another department's head; a reader
        assert client.put("/api/ioc/screens/env", json=body, headers=bearer(user)).status_code == 403, user
    assert client.get("/api/ioc/screens", headers=bearer("urban.handler")).json()[0]["name"] == "main"
    r = client.put("/api/ioc/screens/env", json=body, headers=bearer("dispatcher"))
    assert r.status_code == 200, r.text
    assert r.json()["tiles"] == ["environment", "hotline"] and r.json()["updated_by"]
    bad = client.put("/api/ioc/screens/env", json={**body, "layers": ["tiles-from-elsewhere"]},
                     headers=bearer("ops.head"))
    assert bad.status_code == 422
    assert [e.target for e in audit.list_entries(action="ioc.configure")] == ["ioc_screen:env"]
    assert ioc.get_screen("env")["layers"] == ["sensors", "alerts"]
    with pytest.raises(ValidationError, match="unknown tiles"):
        ioc.set_screen(DISPATCHER, "env", tiles=["no_such_theme"], layers=[])
    with pytest.raises(PermissionDeniedError):
        ioc.set_screen(URBAN, "env", tiles=[], layers=[])
    page = client.get("/ioc?screen=env", headers=bearer("urban.handler"))
    assert page.status_code == 200 and "环境专屏" in page.text and 'lang="zh-CN"' in page.text


def test_the_snapshot_shows_what_the_user_may_see(client: TestClient) -> None:
    define_indicator(SYSTEM, "cases_open", sql="select 3.0 as value", department="hotline", theme="hotline",
                     warn="> 2", title_zh="在办事件")
    from urbanbrain.operate.indicator_compute import compute

    compute("cases_open")
    urban_case = create_case(report("u1", lon=112.98, lat=28.2), DISPATCHER, now=T0)[0]["id"]
    transition(urban_case, "dispatch", DISPATCHER, department="urban", now=T0)
    create_case(report("h1", lon=112.95, lat=28.21), DISPATCHER, now=T0)  # still at the operations centre
    ops = client.get("/api/ioc/snapshot", headers=bearer("dispatcher")).json()
    urban = client.get("/api/ioc/snapshot", headers=bearer("urban.handler")).json()
    assert len([p for p in ops["points"] if p["layer"] == "cases"]) == 2
    assert [p["id"] for p in urban["points"] if p["layer"] == "cases"] == [f"c:{urban_case}"]
    assert {p["state"] for p in ops["points"]} == {"ok"}  # no SLA policy here: no deadline to miss
    now = T0.replace(hour=12)
    assert ioc.case_state({"resolve_due_at": T0.isoformat()}, now) == "overdue"
    assert ioc.case_state({"resolve_due_at": "2027-01-01T00:00:00+00:00", "resolve_warn_at": T0.isoformat()},
                          now) == "warning"
    tile = next(i for g in ops["tiles"] if g["theme"] == "hotline" for i in g["indicators"])
    assert tile["name"] == "cases_open" and tile["value"] == 3.0 and tile["state"] == "warn" and tile["spark"] == [3.0]
    assert ops["health"]["counts"]["warn"] == 1 and ops["health"]["score"] == 0.0
    assert [(r["department"], r["name"]) for r in ops["ranking"]] == [("urban", "城管")]  # by name on the wall
    assert client.get("/api/ioc/snapshot").status_code == 401


def test_console_indicator_pages_in_both_languages(client: TestClient) -> None:
    define_indicator(SYSTEM, "pm25", sql="select district, value from (values ('芙蓉区', 31.0), (null, 35.5)) "
                     "as t(district, value)", department="ecology", breakdown="district", theme="environment",
                     title_zh="PM2.5 日均浓度", title_en="PM2.5 daily mean", unit="μg/m³", iso_code="37120:8.1")
    from urbanbrain.operate.indicator_compute import compute

    compute("pm25")
    listing = client.get("/indicators", headers={**bearer("urban.handler"), "Accept-Language": "en"})
    assert listing.status_code == 200 and "PM2.5 daily mean" in listing.text and "37120:8.1" in listing.text
    client.cookies.set("lang", "zh-CN")
    one = client.get("/indicators/pm25", headers=bearer("urban.handler"))
    assert one.status_code == 200 and "PM2.5 日均浓度" in one.text and "历史趋势" in one.text
    assert "芙蓉区" in one.text and "35.5" in one.text and 'id="indicator-history"' in one.text
    assert client.get("/indicators?theme=hotline", headers=bearer("urban.handler")).text.count("/indicators/pm25") == 0
    assert client.get("/indicators/nope", headers=bearer("urban.handler")).status_code == 404
