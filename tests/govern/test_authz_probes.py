"""Issue 10's probes, as the attacker ran them: a market analyst (and other market roles) with a
personal token against police's consumers, capabilities, grants and data, and sources pointed at the
platform itself. Each assertion failed on the code before `govern.authz`. Run on SQLite and PostgreSQL
metadata."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.govern.authz_city import RESIDENTS, AuthzCity, built_city, city_home
from urbanbrain.capability import catalog, consumers, grants
from urbanbrain.govern import audit
from urbanbrain.web.app import create_app

LEAK_SQL = f"SELECT id, name, id_number, mobile FROM {RESIDENTS} WHERE id = $id"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AuthzCity, str]]:
    root = tmp_path_factory.mktemp(f"authz_{request.param}")
    with built_city(root, request.param) as made:
        yield made, request.param


@pytest.fixture
def city(built: tuple[AuthzCity, str]) -> Iterator[AuthzCity]:
    made, backend = built
    with city_home(made.root, backend):
        yield made


@pytest.fixture
def client(city: AuthzCity) -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:6]}"


def _police_cap(name: str) -> None:
    catalog.register_capability(catalog.CapabilitySpec(
        name=name, owner="police", kind="data_api", title_en="residents by id",
        input_schema={"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
        implementation={"sql": LEAK_SQL}))


def test_a_market_analyst_gets_no_consumer_or_key_of_police(city: AuthzCity, client: TestClient) -> None:
    spy, police_app = _unique("spy-app"), _unique("police-app")
    made = city.call(client, "analyst.market", "POST", "/api/consumers", {"name": spy, "department": "police"})
    assert made.status_code == 403, made.text
    consumers.add_consumer(police_app, "police")
    key = city.call(client, "analyst.market", "POST", f"/api/consumers/{police_app}/keys", {})
    assert key.status_code == 403 and "key" not in key.json()
    assert city.call(client, "developer.market", "POST", f"/api/consumers/{police_app}/keys", {}).status_code == 403
    # ...while the market's own developer registers the market's application
    own = city.call(client, "developer.market", "POST", "/api/consumers",
                    {"name": _unique("market-app"), "department": "market"})
    assert own.status_code == 201 and own.json()["department"] == "market"
    assert [k.id for k in consumers.list_keys(police_app)] == []


def test_police_capabilities_cannot_be_registered_or_approved_from_market(city: AuthzCity,
                                                                          client: TestClient) -> None:
    cap = _unique("residents_by_id")
    spec = {"name": _unique("leak"), "owner": "police", "kind": "data_api", "implementation": {"sql": LEAK_SQL},
            "input_schema": {"type": "object", "properties": {"id": {"type": "integer"}}}}
    for user in ("analyst.market", "dept_admin.market", "developer.market"):
        assert city.call(client, user, "POST", "/api/capabilities", spec).status_code == 403
    _police_cap(cap)
    for user in ("analyst.market", "steward.market", "dept_admin.market", "analyst.police", "developer.police"):
        answer = city.call(client, user, "POST", f"/api/capabilities/{cap}/approve",
                           {"department": "police", "approver": "police"})
        assert answer.status_code == 403, (user, answer.text)
    assert catalog.get_capability(cap).status == "draft"
    done = city.call(client, "steward.police", "POST", f"/api/capabilities/{cap}/approve",
                     {"approver": "somebody else"})
    assert done.status_code == 200
    assert done.json()["status"] == "published" and done.json()["approved_by"] == "user:steward.police"
    # a department named in the body is checked, never trusted
    wrong = city.call(client, "steward.police", "POST", f"/api/capabilities/{cap}/deprecate",
                      {"department": "market"})
    assert wrong.status_code == 403


def test_grants_are_requested_by_the_consumer_department_and_decided_by_the_owner(
        city: AuthzCity, client: TestClient) -> None:
    cap, app = _unique("residents_by_id"), _unique("market-app")
    _police_cap(cap)
    catalog.approve_capability(cap)
    consumers.add_consumer(app, "market")
    body = {"consumer": app, "capability": cap}
    assert city.call(client, "analyst.market", "POST", "/api/grants", body).status_code == 403
    assert city.call(client, "developer.police", "POST", "/api/grants", body).status_code == 403
    asked = city.call(client, "developer.market", "POST", "/api/grants", body)
    assert asked.status_code == 201
    grant_id = asked.json()["id"]
    for user in ("developer.market", "dept_admin.market", "steward.market"):
        answer = city.call(client, user, "POST", f"/api/grants/{grant_id}/approve",
                           {"department": "police", "approver": "police"})
        assert answer.status_code == 403, user
    assert grants.get_grant(grant_id).status == "requested"
    ok = city.call(client, "steward.police", "POST", f"/api/grants/{grant_id}/approve", {"approver": "x"})
    assert ok.status_code == 200 and ok.json()["decided_by"] == "user:steward.police"


def test_registration_approval_system_and_sync_are_audited_with_the_acting_user(
        city: AuthzCity, client: TestClient) -> None:
    system, cap = _unique("hukou-copy"), _unique("residents_by_id")
    made = city.call(client, "dept_admin.police", "POST", "/api/systems",
                     {"name": system, "department": "police", "kind": "sqlite",
                      "options": {"url": f"sqlite:///{city.police_db}"}})
    assert made.status_code == 201, made.text
    assert city.call(client, "operator.police", "POST", f"/api/systems/{system}/sync").json()["status"] == "succeeded"
    spec = {"name": cap, "owner": "police", "kind": "data_api", "implementation": {"sql": LEAK_SQL},
            "input_schema": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}}
    assert city.call(client, "developer.police", "POST", "/api/capabilities", spec).status_code == 201
    assert city.call(client, "steward.police", "POST", f"/api/capabilities/{cap}/approve", {}).status_code == 200
    audit.flush()
    seen = {(e.action, e.principal, e.target) for e in audit.list_entries(limit=5000)}
    assert ("system.add", "user:dept_admin.police", f"system:{system}") in seen
    assert ("sync.run", "user:operator.police", f"system:{system}") in seen
    assert ("system.discover", "user:operator.police", f"system:{system}") in seen  # by the sync, as its caller
    assert ("capability.register", "user:developer.police", f"capability:{cap} v1") in seen
    assert ("capability.approve", "user:steward.police", f"capability:{cap} v1") in seen
    assert audit.verify().ok
