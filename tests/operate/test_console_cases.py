"""Console: dispatcher's inbox → dispatch → department queue → accept, with a stale page refused; zh-CN."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.operate.helpers import DISPATCHER, OPS_HEAD, T0, make_departments, report
from urbanbrain.operate import catalogue
from urbanbrain.operate.intake.base import submit
from urbanbrain.web.app import create_app


def test_inbox_dispatch_accept_and_stats() -> None:
    make_departments()
    catalogue.set_rule(OPS_HEAD, "路灯", "urban")
    case, _ = submit(report("c1", category="井盖", lon=112.98, lat=28.2), DISPATCHER, now=T0)  # nobody owns it
    cid = case["id"]
    with TestClient(create_app(), follow_redirects=False) as c:
        inbox = c.get("/cases", headers={"accept-language": "en"})
        assert inbox.status_code == 200 and cid in inbox.text and "Dispatcher&#39;s inbox" in inbox.text
        page = c.get(f"/cases/{cid}", headers={"accept-language": "en"}).text
        assert 'id="act-dispatch"' in page and "nobody owns" in page and "SLA clocks" in page
        version = re.search(r'name="version" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
        moved = c.post(f"/cases/{cid}/dispatch", data={"version": version, "department": "urban"})
        assert moved.status_code == 303 and moved.headers["location"] == f"/cases/{cid}"
        stale = c.post(f"/cases/{cid}/dispatch", data={"version": version, "department": "housing"})
        assert stale.status_code == 409
        queue = c.get("/cases?view=queue").text
        assert cid in queue
        assert c.post(f"/cases/{cid}/accept", data={"version": str(int(version) + 1)}).status_code == 303
        zh = c.get(f"/cases/{cid}", headers={"accept-language": "zh-CN"}).text
        assert "已签收" in zh and "流转记录" in zh
        stats = c.get("/cases/stats", headers={"accept-language": "zh-CN"}).text
        assert "部门排名" in stats and "urban" in stats


def test_case_page_map_shows_the_case_its_duplicate_and_open_cases_nearby() -> None:
    import json

    make_departments()
    catalogue.set_rule(OPS_HEAD, "路灯", "urban")
    catalogue.set_rule(OPS_HEAD, "井盖", "housing")
    first = submit(report("m1", lon=112.98, lat=28.2), DISPATCHER, now=T0)[0]
    dup = submit(report("m2", lon=112.9802, lat=28.2001), DISPATCHER, now=T0)[0]  # ~20 m: proposed duplicate
    other = submit(report("m3", category="井盖", lon=112.983, lat=28.2), DISPATCHER, now=T0)[0]  # ~290 m
    far = submit(report("m4", lon=113.0, lat=28.2), DISPATCHER, now=T0)[0]  # ~2 km
    no_point = submit(report("m5"), DISPATCHER, now=T0)[0]  # an address only
    with TestClient(create_app(), follow_redirects=False) as c:
        page = c.get(f"/cases/{dup['id']}", headers={"accept-language": "en"}).text
        data = re.search(r'<script type="application/json" id="case-map-data">(.*?)</script>', page, re.S)
        points = {p["id"]: p for p in json.loads(data.group(1))}  # type: ignore[union-attr]
        assert points[dup["id"]]["state"] == "self" and points[first["id"]]["state"] == "duplicate"
        assert points[other["id"]]["state"] == "nearby" and far["id"] not in points
        assert "/static/citymap.js" in page and "open cases within 500 m (2)" in page
        zh = c.get(f"/cases/{no_point['id']}", headers={"accept-language": "zh-CN"}).text
        assert 'id="case-map-none"' in zh and "没有坐标" in zh and "citymap.js" not in zh
