"""The role matrix: every state-changing route of the API and the console, called as each role of a
foreign department (and as the target department's roles the rule leaves out) → 403, then as the
first role the rule names in the target's department (a platform admin for platform rules) → success.

Each case prepares a fresh target as SYSTEM just before, so a refused call could not have been refused
for lack of something to act on; `test_every_governed_route_has_a_case` keeps the cases complete.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.govern.authz_city import DEPARTMENTS, RESIDENTS, AuthzCity, built_city, city_home, user_name
from urbanbrain.capability import catalog, consumers, grants
from urbanbrain.connect.systems import add_system, discover_system
from urbanbrain.govern import sharing
from urbanbrain.govern.authz import DEPARTMENT_ROLES, RULES
from urbanbrain.govern.principals import ANALYST, Principal
from urbanbrain.web.actions import MATRIX_ELSEWHERE, ROUTE_ACTIONS
from urbanbrain.web.app import create_app

Prepared = tuple[str, dict[str, Any] | None, dict[str, str] | None]  # path, JSON body, form
_LETTERS = str.maketrans("0123456789abcdef", "KLMNOPQRSTUVWXYZ")  # a hex string as upper-case letters


@dataclass(frozen=True)
class Case:
    method: str
    route: str  # as in ROUTE_ACTIONS
    target: str  # the department owning what the call acts on
    prepare: Callable[[AuthzCity], Prepared]
    ok: tuple[int, ...] = (200, 201, 303)


def _u(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:6]}"


def _system(city: AuthzCity, discover: bool = False) -> str:
    name = _u("hukou")
    add_system(name, "police", "sqlite", {"url": f"sqlite:///{city.police_db}"})
    if discover:
        discover_system(name)
    return name


def _cap(owner: str = "police", publish: bool = False) -> str:
    name = _u("echo")
    catalog.register_capability(catalog.CapabilitySpec(name=name, owner=owner, kind="builtin",
                                                       implementation={"builtin": "echo"}))
    if publish:
        catalog.approve_capability(name)
    return name


def _consumer(dept: str = "police") -> str:
    name = _u("app")
    consumers.add_consumer(name, dept)
    return name


def _grant() -> str:
    """market's application asks for a capability of police: police decides."""
    return grants.request_grant(_consumer("market"), _cap("police", publish=True)).id


def _share() -> str:
    market = Principal("user", "ana", frozenset({"market"}), frozenset({ANALYST}))
    return sharing.request_fields(RESIDENTS, ["name"], "a probe", 3, by=market).id


def _indicator() -> str:
    from urbanbrain.govern.principals import SYSTEM
    from urbanbrain.operate.indicators import define_indicator

    name = _u("ind")
    define_indicator(SYSTEM, name, sql=f"select count(*) as value from {RESIDENTS}", department="police")
    return name


def _spec(name: str) -> dict[str, Any]:
    return {"name": name, "owner": "police", "kind": "builtin", "implementation": {"builtin": "echo"}}


CASES: list[Case] = [
    Case("POST", "/api/capabilities", "police", lambda c: ("/api/capabilities", _spec(_u("cap")), None)),
    Case("POST", "/api/capabilities/builtins", "police", lambda c: ("/api/capabilities/builtins", None, None)),
    Case("POST", "/api/capabilities/lookups", "police", lambda c: (
        "/api/capabilities/lookups", {"dataset": RESIDENTS, "key_column": "id", "name": _u("lookup")}, None)),
    Case("POST", "/api/capabilities/{name}/approve", "police",
         lambda c: (f"/api/capabilities/{_cap()}/approve", {}, None)),
    Case("POST", "/api/capabilities/{name}/deprecate", "police",
         lambda c: (f"/api/capabilities/{_cap()}/deprecate", {}, None)),
    Case("POST", "/api/consumers", "police", lambda c: ("/api/consumers", {"name": _u("app"), "department": "police"},
                                                        None)),
    Case("POST", "/api/consumers/{name}/keys", "police", lambda c: (f"/api/consumers/{_consumer()}/keys", {}, None)),
    Case("PUT", "/api/datasets/{name}/labels", "police",
         lambda c: (f"/api/datasets/{RESIDENTS}/labels", {"mobile": {"label_zh": "手机", "label_en": "mobile"}}, None)),
    Case("POST", "/api/datasets/{name}/suggestions/{suggestion}/publish", "police", lambda c: (
        f"/api/datasets/{RESIDENTS}/suggestions/police_residents_lookup_id/publish", {}, None)),
    Case("POST", "/api/departments", "police",
         lambda c: ("/api/departments", {"name": "Probe", "code": _u("d")}, None)),
    Case("POST", "/api/grants", "police", lambda c: (
        "/api/grants", {"consumer": _consumer("police"), "capability": _cap("market", publish=True)}, None)),
    Case("POST", "/api/grants/{grant_id}/approve", "police", lambda c: (f"/api/grants/{_grant()}/approve", {}, None)),
    Case("POST", "/api/grants/{grant_id}/refuse", "police", lambda c: (f"/api/grants/{_grant()}/refuse", {}, None)),
    Case("POST", "/api/keys/{key_id}/revoke", "police",
         lambda c: (f"/api/keys/{consumers.create_key(_consumer()).id}/revoke", None, None)),
    Case("POST", "/api/indicators", "police", lambda c: ("/api/indicators", {
        "name": _u("ind"), "department": "police", "sql": f"select count(*) as value from {RESIDENTS}"}, None)),
    Case("DELETE", "/api/indicators/{name}", "police", lambda c: (f"/api/indicators/{_indicator()}", None, None),
         ok=(204,)),
    Case("POST", "/api/indicators/{name}/compute", "police",
         lambda c: (f"/api/indicators/{_indicator()}/compute", None, None)),
    Case("POST", "/api/systems", "police", lambda c: ("/api/systems", {
        "name": _u("sys"), "department": "police", "kind": "sqlite", "options": {"url": f"sqlite:///{c.police_db}"}},
        None)),
    Case("PATCH", "/api/systems/{name}", "police", lambda c: (f"/api/systems/{_system(c)}", {"owner": "probe"}, None)),
    Case("POST", "/api/systems/{name}/discover", "police",
         lambda c: (f"/api/systems/{_system(c)}/discover", None, None)),
    Case("PATCH", "/api/systems/{name}/objects/{object_name}", "police",
         lambda c: (f"/api/systems/{_system(c, discover=True)}/objects/residents", {"enabled": True}, None)),
    Case("POST", "/api/systems/{name}/sync", "police", lambda c: (f"/api/systems/{_system(c, True)}/sync", None, None)),
    Case("POST", "/api/systems/{name}/test", "police", lambda c: (f"/api/systems/{_system(c)}/test", None, None)),
    Case("POST", "/consumers", "police", lambda c: ("/consumers", None, {"name": _u("app"), "department": "police"})),
    Case("POST", "/consumers/{name}/grants", "police", lambda c: (
        f"/consumers/{_consumer()}/grants", None, {"capability": _cap("market", publish=True)})),
    Case("POST", "/consumers/{name}/keys", "police", lambda c: (f"/consumers/{_consumer()}/keys", None, {})),
    Case("POST", "/consumers/{name}/keys/{key_id}/revoke", "police", lambda c: _console_revoke()),
    Case("POST", "/datasets/{name}/fields/{column}/confirm", "police",
         lambda c: (f"/datasets/{RESIDENTS}/fields/mobile/confirm", None, {})),
    Case("POST", "/datasets/{name}/labels", "police",
         lambda c: (f"/datasets/{RESIDENTS}/labels", None, {"label_en:mobile": "mobile phone"})),
    Case("POST", "/datasets/{name}/suggestions/{suggestion}/publish", "police",
         lambda c: (f"/datasets/{RESIDENTS}/suggestions/police_residents_list/publish", None, {})),
    Case("POST", "/grants/{grant_id}/approve", "police", lambda c: (f"/grants/{_grant()}/approve", None, {})),
    Case("POST", "/grants/{grant_id}/refuse", "police", lambda c: (f"/grants/{_grant()}/refuse", None, {})),
    # the decision passes authorisation; there is no registry data to decide on here, hence 404
    Case("POST", "/link/kinds", "registry", lambda c: ("/link/kinds", None, {
        "name": _u("kind"), "fields": "title=text, authors=name", "prefix": uuid.uuid4().hex[:3].translate(_LETTERS)})),
    Case("POST", "/link/{kind}/mappings", "registry", lambda c: (
        "/link/person/mappings", None, {"dataset": RESIDENTS, "key": "id", "columns": "name=name\nphone=mobile"})),
    Case("POST", "/link/{kind}/decide", "registry",
         lambda c: ("/link/person/decide", None, {"pair_id": "a~b", "decision": "approved"}), ok=(404,)),
    Case("POST", "/sharing/{grant_id}/approve", "police", lambda c: (f"/sharing/{_share()}/approve", None, {})),
    Case("POST", "/sharing/{grant_id}/refuse", "police",
         lambda c: (f"/sharing/{_share()}/refuse", None, {"reason": "not for this purpose"})),
    Case("POST", "/systems/{name}/sync", "police", lambda c: (f"/systems/{_system(c, True)}/sync", None, {})),
]


def _console_revoke() -> Prepared:
    app = _consumer()
    return f"/consumers/{app}/keys/{consumers.create_key(app).id}/revoke", None, {}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthzCity]:
    with built_city(tmp_path_factory.mktemp("authz_matrix")) as made:
        yield made


@pytest.fixture
def client(built: AuthzCity) -> Iterator[TestClient]:
    with city_home(built.root), TestClient(create_app()) as c:
        yield c


def test_every_governed_route_has_a_case() -> None:
    governed = {route for route, action in ROUTE_ACTIONS.items() if action is not None} - set(MATRIX_ELSEWHERE)
    assert governed == {(c.method, c.route) for c in CASES}


def _right_user(action: str, target: str) -> str:
    rule = RULES[action]
    return user_name(rule.roles[0], target) if rule.scope == "department" else "admin"


def _wrong_users(action: str, target: str) -> list[str]:
    rule = RULES[action]
    foreign = [user_name(role, dept) for dept in DEPARTMENTS if dept != target for role in DEPARTMENT_ROLES]
    own = [user_name(role, target) for role in DEPARTMENT_ROLES
           if rule.scope != "department" or role not in rule.roles]
    return foreign + own


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.route}")
def test_foreign_roles_are_refused_and_the_owner_role_succeeds(case: Case, built: AuthzCity,
                                                               client: TestClient) -> None:
    action = ROUTE_ACTIONS[(case.method, case.route)]
    assert action is not None
    path, body, form = case.prepare(built)
    for user in _wrong_users(action, case.target):
        answer = built.call(client, user, case.method, path, body, form)
        assert answer.status_code == 403, (user, answer.status_code, answer.text[:300])
    user = _right_user(action, case.target)
    answer = built.call(client, user, case.method, path, body, form)
    assert answer.status_code in case.ok, (user, answer.status_code, answer.text[:300])
