"""Console login, the principal behind every request, and the audit page — over the real app and store.

The rule under test: with no user, only requests from this machine get in (as before users existed);
once a user exists, every page and API route needs a session cookie or a personal token.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from urbanbrain.govern import audit, sessions, users
from urbanbrain.govern.principals import ANALYST, DEVELOPER, STEWARD
from urbanbrain.meta.departments import add_department
from urbanbrain.web.app import create_app

PASSWORD = "correct horse battery"
HTTPS = "https://testserver"  # Secure cookies travel over HTTPS only, as in production


@pytest.fixture
def city() -> None:
    add_department("市场监督管理局", "market")
    add_department("公安局", "police")


@pytest.fixture
def staff(city: None) -> None:
    users.add_user("li.na", PASSWORD, roles=[(STEWARD, "market"), (DEVELOPER, "market")])  # developers add consumers
    users.add_user("wang.wei", PASSWORD, roles=[(ANALYST, "police")])


def _client(**kwargs: object) -> TestClient:
    return TestClient(create_app(), follow_redirects=False, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def client(staff: None) -> Iterator[TestClient]:
    with _client(base_url=HTTPS) as c:
        yield c


def _login(client: TestClient, name: str, password: str = PASSWORD, next: str = "/") -> httpx.Response:
    return client.post("/login", data={"name": name, "password": password, "next": next})


def test_without_users_only_this_machine_gets_in(city: None) -> None:
    with _client() as local:  # Starlette's in-process client counts as this machine
        assert local.get("/").status_code == 200
        assert local.get("/api/departments").status_code == 200
    with _client(client=("127.0.0.1", 5000)) as loopback:
        assert loopback.get("/api/departments").status_code == 200
    with _client(client=("203.0.113.5", 5000)) as remote:
        refused = remote.get("/api/departments")
        assert refused.status_code == 401 and "no users yet" in refused.json()["message"]
        assert "user add" in refused.json()["hint"]
        assert remote.get("/").headers["location"] == "/login?next=%2F"
        assert remote.get("/api/health").status_code == 200  # health checks stay open


def test_with_a_user_every_page_and_route_needs_a_login(client: TestClient) -> None:
    page = client.get("/datasets?q=x")
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fdatasets%3Fq%3Dx"
    api = client.get("/api/departments")
    assert api.status_code == 401 and api.json()["error"] == "AuthenticationRequiredError"
    assert api.headers["www-authenticate"].startswith("Bearer")
    swap = client.get("/systems", headers={"HX-Request": "true"})
    assert swap.status_code == 401 and swap.headers["hx-redirect"].startswith("/login")
    assert client.get("/login").status_code == 200 and client.get("/static/console.css").status_code == 200


def test_login_sets_a_secure_httponly_samesite_session_and_logout_ends_it(client: TestClient) -> None:
    wrong = _login(client, "li.na", "wrong horse battery")
    assert wrong.status_code == 401 and "wrong user name or password" in wrong.text
    ok = _login(client, "li.na", next="/datasets")
    assert ok.status_code == 303 and ok.headers["location"] == "/datasets"
    cookie = ok.headers["set-cookie"].lower()
    assert cookie.startswith(f"{sessions.COOKIE}=") and "httponly" in cookie and "secure" in cookie
    assert "samesite=lax" in cookie
    home = client.get("/")
    assert home.status_code == 200 and "Signed in as li.na" in home.text
    assert client.get("/api/departments").status_code == 200
    token = client.cookies.get(sessions.COOKIE)
    assert client.post("/logout").headers["location"] == "/login"
    client.cookies.set(sessions.COOKIE, token or "")  # a copy of the old cookie is dead on the server too
    assert client.get("/").status_code == 303


def test_login_never_redirects_off_site_and_plain_http_on_loopback_is_not_secure(staff: None) -> None:
    with _client(base_url="http://127.0.0.1") as local:
        ok = _login(local, "li.na", next="//evil.example/phish")
        assert ok.headers["location"] == "/"
        assert "secure" not in ok.headers["set-cookie"].lower()
        assert local.get("/").status_code == 200


def test_repeated_failures_lock_the_login_form(client: TestClient) -> None:
    for _ in range(sessions.USER_LIMIT):
        assert _login(client, "wang.wei", "not the password").status_code == 401
    locked = _login(client, "wang.wei")
    assert locked.status_code == 429 and "try again after" in locked.text
    assert int(locked.headers["retry-after"]) > 0


def test_personal_token_works_as_bearer_for_the_api(client: TestClient) -> None:
    token = users.create_token("wang.wei").token
    assert client.get("/api/departments", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    bad = client.get("/api/departments", headers={"Authorization": "Bearer ubt_nope"})
    assert bad.status_code == 401 and "not valid" in bad.json()["message"]


def test_audit_page_is_for_stewards_and_admins_and_exports_csv(client: TestClient) -> None:
    _login(client, "wang.wei")
    assert client.get("/audit").status_code == 403
    assert "/audit" not in client.get("/").text
    client.post("/logout")
    _login(client, "li.na")
    page = client.get("/audit?action=login")
    assert page.status_code == 200 and "user:wang.wei" in page.text and "user:li.na" in page.text
    assert "user.add" not in page.text
    only = client.get("/audit?principal=wang.wei&action=logout")
    assert only.text.count("<td class=\"mono\">logout</td>") == 1
    assert client.get("/audit?since=not-a-date").status_code == 422
    export = client.get("/audit/export.csv?action=user")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [(r["action"], r["target"]) for r in rows] == [("user.add", "user:li.na"), ("user.add", "user:wang.wei")]
    exported = audit.list_entries(action="audit.export")
    assert exported and exported[0].principal == "user:li.na" and exported[0].detail == {"action": "user"}
    assert audit.verify().ok


def test_console_changes_are_audited_as_the_signed_in_user(client: TestClient) -> None:
    _login(client, "li.na")
    assert client.post("/consumers", data={"name": "grid-app", "department": "market"}).status_code == 303
    entry = audit.list_entries(action="consumer.add")[0]
    assert entry.principal == "user:li.na" and entry.target == "consumer:grid-app"


def test_first_admin_comes_from_the_environment_when_the_app_starts(city: None,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(users.ADMIN_PASSWORD_ENV, "a long first-admin phrase")
    with _client(base_url=HTTPS) as c:
        assert c.get("/").status_code == 303  # auth is on at once
        assert _login(c, "admin", "a long first-admin phrase").status_code == 303
        assert c.get("/audit").status_code == 200
