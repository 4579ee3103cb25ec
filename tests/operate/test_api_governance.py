"""The case routes as another department's people would try them over HTTP: every write is refused
(403) to a foreign role, and the same call succeeds for the operations centre's or the owning
department's role. Complements the service-level checks in test_cases.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.operate.helpers import OPS_HEAD, make_departments
from urbanbrain.govern.users import add_user, create_token
from urbanbrain.operate import catalogue
from urbanbrain.web.app import create_app

PASSWORD = "correct-horse-battery-staple-9"
PLACE = {"lon": 112.98, "lat": 28.2}


@pytest.fixture
def client() -> Iterator[TestClient]:
    make_departments()
    catalogue.set_rule(OPS_HEAD, "路灯", "urban")
    add_user("admin", PASSWORD, roles=[("platform_admin", None)])
    add_user("ops.head", PASSWORD, roles=[("dept_admin", "hotline")])
    add_user("dispatcher", PASSWORD, roles=[("operator", "hotline")])
    add_user("urban.handler", PASSWORD, roles=[("operator", "urban")])
    add_user("health.head", PASSWORD, roles=[("dept_admin", "health")])
    add_user("health.analyst", PASSWORD, roles=[("analyst", "health")])
    with TestClient(create_app(), follow_redirects=False) as c:
        yield c


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(user).token}"}


def test_case_writes_are_refused_to_foreign_roles_and_allowed_to_the_right_ones(client: TestClient) -> None:
    foreign = [bearer("health.head"), bearer("health.analyst")]
    ops_head, dispatcher, handler = bearer("ops.head"), bearer("dispatcher"), bearer("urban.handler")
    rule = {"category": "路灯", "department": "housing"}
    policy = {"respond": "1h", "resolve": "2d"}
    body = {"description": "路灯不亮", "category": "路灯", "source_ref": "gov-1", **PLACE}
    for who in foreign:
        assert client.put("/api/dispatch-rules", json=rule, headers=who).status_code == 403
        assert client.put("/api/sla-policies", json=policy, headers=who).status_code == 403
        assert client.post("/api/cases", json=body, headers=who).status_code == 403
    assert client.put("/api/dispatch-rules", json={"category": "路灯", "department": "urban"},
                      headers=ops_head).status_code == 200
    assert client.put("/api/sla-policies", json=policy, headers=ops_head).status_code == 200
    made = client.post("/api/cases", json=body, headers=dispatcher)
    assert made.status_code == 201, made.text
    case = made.json()
    assert case["department"] == "urban" and case["status"] == "dispatched"
    cid, version = case["id"], case["version"]
    for who in [*foreign, dispatcher]:  # the ops centre dispatches; only urban's people accept urban's case
        assert client.post(f"/api/cases/{cid}/accept", json={"version": version}, headers=who).status_code == 403
        assert client.post(f"/cases/{cid}/accept", data={"version": str(version)}, headers=who).status_code == 403
    accepted = client.post(f"/api/cases/{cid}/accept", json={"version": version}, headers=handler)
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
