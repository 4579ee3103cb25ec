"""Case statistics through the capability gateway: published as a built-in, called with a granted key."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.capability.gateway_helpers import caller
from tests.operate.helpers import DISPATCHER, T0, make_departments, report
from urbanbrain.capability import catalog
from urbanbrain.operate.cases import create_case, transition
from urbanbrain.web.app import create_app


def test_case_statistics_through_the_gateway() -> None:
    make_departments()
    for k in range(3):
        cid = create_case(report(f"g{k}"), DISPATCHER, now=T0)[0]["id"]
        transition(cid, "dispatch", DISPATCHER, department="urban" if k else "housing")
    assert "case_statistics" in catalog.publish_builtins(["case_statistics"])["published"]
    app = caller("dashboard", "urban", "case_statistics")
    with TestClient(create_app()) as c:
        r = c.post("/capabilities/case_statistics/v1/invoke", json={"kind": "departments"},
                   headers={"X-API-Key": app.key})
        assert r.status_code == 200, r.text
        rows = r.json()["data"]["rows"]
        assert {row["department"]: row["cases"] for row in rows} == {"urban": 2, "housing": 1}
        bad = c.post("/capabilities/case_statistics/v1/invoke", json={"kind": "cases"},
                     headers={"X-API-Key": app.key})
        assert bad.status_code == 422
        nokey = c.post("/capabilities/case_statistics/v1/invoke", json={"kind": "summary"})
        assert nokey.status_code == 401
