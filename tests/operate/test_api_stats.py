"""The loop over /api, its error statuses, and the statistics recounted by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.operate.helpers import DISPATCHER, OPS_HEAD, OUTSIDER, T0, URBAN, make_departments, report
from urbanbrain.core.errors import PermissionDeniedError
from urbanbrain.operate import catalogue, sla, stats
from urbanbrain.operate.cases import create_case, transition
from urbanbrain.web.app import create_app


def test_api_loop_and_errors() -> None:
    make_departments()
    with TestClient(create_app()) as c:  # no users yet: the local operator acts
        assert c.put("/api/dispatch-rules", json={"category": "路灯", "department": "urban"}).status_code == 200
        bad_rule = c.put("/api/dispatch-rules", json={"category": "路灯", "department": "parks"})
        assert bad_rule.status_code == 404 and "unknown department 'parks'" in bad_rule.json()["message"]
        assert c.put("/api/sla-policies", json={"respond": "1h", "resolve": "2d"}).json()["resolve_minutes"] == 2880
        made = c.post("/api/cases", json={"description": "路灯不亮", "category": "路灯", "lon": 112.98, "lat": 28.2,
                                          "source_ref": "api-1"})
        assert made.status_code == 201, made.text
        case = made.json()
        assert case["status"] == "dispatched" and case["version"] == 2
        assert c.post("/api/cases", json={"description": "again", "source_ref": "api-1", "lon": 112.98,
                                          "lat": 28.2}).json()["id"] == case["id"]
        cid = case["id"]
        assert c.post(f"/api/cases/{cid}/accept", json={"version": 2}).json()["status"] == "accepted"
        stale = c.post(f"/api/cases/{cid}/return", json={"version": 2, "reason": "x"})
        assert stale.status_code == 409 and stale.json()["error"] == "StaleVersionError"
        wrong = c.post(f"/api/cases/{cid}/close", json={"version": 3})
        assert wrong.status_code == 409 and "cannot close" in wrong.json()["message"]
        nowhere = c.post("/api/cases", json={"description": "no place"})
        assert nowhere.status_code == 422 and "no location" in nowhere.json()["message"]
        photo = c.post(f"/api/cases/{cid}/feedback", content=b"x" * (20 * 1024 * 1024),
                       headers={"content-type": "application/json"})
        assert photo.status_code == 413
        assert c.get(f"/api/cases/{cid}").json()["version"] == 3  # nothing half-done
        assert c.get("/api/case-stats").json()["summary"]["cases"] == 1


def test_statistics_match_a_hand_count() -> None:
    make_departments()
    catalogue.set_rule(OPS_HEAD, "路灯", "urban")
    sla.set_policy(OPS_HEAD, "*", respond="1h", resolve="1d")
    ids = []
    for k in range(4):
        cid = create_case(report(f"s{k}", lon=112.98 + k * 0.0001, lat=28.2), DISPATCHER,
                          now=T0 + timedelta(days=k // 2))[0]["id"]
        transition(cid, "dispatch", DISPATCHER, department="urban", now=T0 + timedelta(days=k // 2))
        ids.append(cid)
    transition(ids[0], "accept", URBAN, now=T0 + timedelta(minutes=30))  # on time
    transition(ids[1], "accept", URBAN, now=T0 + timedelta(hours=5))  # late
    transition(ids[0], "feedback", URBAN, note="done", now=T0 + timedelta(hours=2))
    transition(ids[0], "rate", DISPATCHER, satisfaction=4)
    transition(ids[2], "return", URBAN, reason="not ours")
    [urban] = stats.departments(DISPATCHER)
    assert urban["department"] == "urban" and urban["cases"] == 3  # the returned one has no department now
    assert urban["on_time_response"] == 0.5 and urban["on_time_resolution"] == 1.0 and urban["satisfaction"] == 4
    summary = stats.summary(DISPATCHER)
    assert summary["cases"] == 4 and summary["return_rate"] == 0.25
    volume = stats.volume(DISPATCHER)
    assert sum(r["cases"] for r in volume) == 4 and len(volume) == 2  # two days
    assert stats.hot_spots(DISPATCHER)[0]["cases"] == 4
    assert stats.departments(URBAN)[0]["cases"] == 3  # a department sees its own
    with pytest.raises(PermissionDeniedError):
        stats.summary(OUTSIDER.__class__("user", "x", frozenset({"health"}), frozenset()))
    assert stats.summary(OUTSIDER)["cases"] == 0
