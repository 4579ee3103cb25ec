"""The capability center's console pages over a small real lake: the catalog and its filters, a
capability's page and "try it" through the real gateway, consumers and their keys, grant requests and
decisions, and usage — in both languages, with the API key never rendered back or logged.

The lake is built as in `test_console.py` (SQLite source → sync); the built-ins are published with
`publish_builtins`, and a data API is generated from the synced agents table and approved by its owner.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.web.test_console import build_lake
from urbanbrain.capability import catalog, consumers, grants
from urbanbrain.capability.lookups import generate_lookup_api
from urbanbrain.web.app import create_app

LOOKUP = "agent_by_id"


@pytest.fixture
def city(tmp_path: Path) -> Path:
    source = build_lake(tmp_path)
    assert "echo" in catalog.publish_builtins()["published"]
    generate_lookup_api("citizen.hotline.agents", "agent_id", name=LOOKUP, title_zh="按工号查询坐席",
                        title_en="Hotline agent by id")
    catalog.approve_capability(LOOKUP, approver="citizen director", department="citizen")
    return source


@pytest.fixture
def client(city: Path) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


def zh(client: TestClient) -> None:
    client.cookies.set("lang", "zh-CN")


def granted_key(consumer: str, department: str, capability: str) -> str:
    """A consumer of `department` with a key and an approved grant for `capability`."""
    consumers.add_consumer(consumer, department)
    key = consumers.create_key(consumer).key
    grant = grants.request_grant(consumer, capability, purpose="tests")
    grants.approve_grant(grant.id, department=grant.owner)
    return key


def test_catalog_lists_capabilities_with_titles_in_the_ui_language(client: TestClient) -> None:
    html = client.get("/capabilities").text
    assert "Capability catalog" in html and "Hotline agent by id" in html
    assert 'href="/capabilities/echo?version=1"' in html
    assert "Data service" in html and "Published" in html and "data_api" in html and "builtin" in html
    assert 'href="/capabilities"' in html and 'class="active"' in html  # the nav entry
    zh(client)
    html = client.get("/capabilities").text
    assert "能力目录" in html and "按工号查询坐席" in html and "数据服务" in html and "已发布" in html


def test_catalog_filters_and_live_search(client: TestClient) -> None:
    html = client.get("/capabilities", params={"q": "agent"}).text
    assert LOOKUP in html and "/capabilities/echo?" not in html
    html = client.get("/capabilities", params={"dept": "citizen", "status": "published"}).text
    assert LOOKUP in html and "/capabilities/echo?" not in html
    html = client.get("/capabilities", params={"category": "verification"}).text
    assert LOOKUP not in html and "validate_mobile" in html and "/capabilities/echo?" not in html
    fragment = client.get("/capabilities", params={"q": "zzz-nothing"}, headers={"HX-Request": "true"}).text
    assert fragment.lstrip().startswith('<div id="capability-results">') and "<html" not in fragment
    assert "No capability matches" in fragment


def test_detail_shows_schemas_invoke_path_curl_and_an_example(client: TestClient) -> None:
    html = client.get(f"/capabilities/{LOOKUP}").text
    assert f"POST /capabilities/{LOOKUP}/v1/invoke" in html and "curl -X POST" in html
    assert "X-API-Key" in html and 'href="/capabilities/openapi.json"' in html
    assert "&#34;agent_id&#34;" in html or "&quot;agent_id&quot;" in html  # the schema, pretty-printed
    assert 'name="api_key"' in html and 'hx-post="/capabilities/agent_by_id/try"' in html
    echo = client.get("/capabilities/echo").text
    assert "你好" in echo  # the built-in's own example parameters fill the form
    zh(client)
    assert "在线试用" in client.get(f"/capabilities/{LOOKUP}").text


def test_unknown_capability_is_an_html_404_while_the_gateway_stays_json(client: TestClient) -> None:
    response = client.get("/capabilities/nope")
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
    gateway = client.post("/capabilities/nope/v1/invoke", json={}, headers={"X-API-Key": "x"})
    assert gateway.status_code == 401 and gateway.json()["error"]
    assert client.get("/capabilities/openapi.json").json()["openapi"].startswith("3.1")


def test_try_it_with_a_good_key_returns_data(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    key = granted_key("grid-app", "ecology", LOOKUP)
    caplog.set_level(logging.DEBUG)
    response = client.post(f"/capabilities/{LOOKUP}/try", data={"version": "1", "params": '{"agent_id": 2}',
                                                                 "api_key": key}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "HTTP 200" in response.text and "李强" in response.text and "<html" not in response.text
    assert key not in response.text and key not in caplog.text
    # without JavaScript the whole page comes back with the answer, and the key field stays empty
    page = client.post(f"/capabilities/{LOOKUP}/try", data={"params": '{"agent_id": 3}', "api_key": key})
    assert "张伟" in page.text and "Try it" in page.text and key not in page.text


@pytest.mark.parametrize(("params", "status", "text"), [
    ('{"agent_id": 1}', 401, "Missing, unknown, revoked or expired API key"),
    ('{"agent_id": "x', 422, "not valid JSON"),
])
def test_try_it_errors_show_their_status(client: TestClient, caplog: pytest.LogCaptureFixture, params: str,
                                         status: int, text: str) -> None:
    bad = "ubk_not-a-real-key-but-secret-looking-0123456789"
    caplog.set_level(logging.DEBUG)
    response = client.post(f"/capabilities/{LOOKUP}/try", data={"params": params, "api_key": bad},
                           headers={"HX-Request": "true"})
    assert f"HTTP {status}" in response.text and text in response.text
    assert bad not in response.text and bad not in caplog.text


def test_try_it_without_a_grant_is_403_and_with_bad_parameters_422(client: TestClient) -> None:
    granted = granted_key("grid-app", "ecology", "echo")
    html = client.post(f"/capabilities/{LOOKUP}/try", data={"params": '{"agent_id": 1}', "api_key": granted},
                       headers={"HX-Request": "true"}).text
    assert "HTTP 403" in html
    key = granted_key("patrol-app", "ecology", LOOKUP)
    html = client.post(f"/capabilities/{LOOKUP}/try", data={"params": '{"nope": 1}', "api_key": key},
                       headers={"HX-Request": "true"}).text
    assert "HTTP 422" in html and re.search(r"agent_id|nope", html)


def test_consumers_page_lists_applications_by_department_and_registers_one(client: TestClient) -> None:
    consumers.add_consumer("grid-app", "ecology", "网格巡查")
    html = client.get("/consumers").text
    assert "Applications and their keys" in html and "grid-app" in html and "ecology" in html
    response = client.post("/consumers", data={"name": "patrol-app", "department": "citizen"})
    assert response.status_code == 200 and "patrol-app" in response.text  # followed the redirect to its page
    assert consumers.get_consumer("patrol-app").department == "citizen"
    zh(client)
    assert "应用与密钥" in client.get("/consumers").text


def test_create_key_shows_it_once_and_never_again(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    consumers.add_consumer("grid-app", "ecology")
    caplog.set_level(logging.DEBUG)
    response = client.post("/consumers/grid-app/keys", data={"label": "prod", "expires_days": "30"})
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    shown = re.search(r'<div class="new-key"[^>]*>.*?<code>(ubk_[^<]+)</code>', response.text, re.S)
    assert shown and "This is the only time the key is shown" in response.text
    key = shown.group(1)
    [stored] = consumers.list_keys("grid-app")
    assert key.startswith(stored.prefix) and stored.label == "prod" and stored.expires_at is not None
    after = client.get("/consumers/grid-app").text
    assert key not in after and stored.prefix in after and 'class="new-key"' not in after
    assert key not in caplog.text
    # the shown key works, then revoking it from the page makes the gateway refuse it
    granted = grants.request_grant("grid-app", "echo")
    grants.approve_grant(granted.id)
    assert client.post("/capabilities/echo/v1/invoke", json={}, headers={"X-API-Key": key}).status_code == 200
    client.post(f"/consumers/grid-app/keys/{stored.id}/revoke")
    assert consumers.list_keys("grid-app")[0].revoked_at is not None
    assert client.post("/capabilities/echo/v1/invoke", json={}, headers={"X-API-Key": key}).status_code == 401
    zh(client)
    assert "密钥仅显示这一次" in client.post("/consumers/grid-app/keys", data={}).text


def test_request_then_approve_and_refuse_through_the_pages(client: TestClient) -> None:
    consumers.add_consumer("grid-app", "ecology")
    key = consumers.create_key("grid-app").key
    response = client.post("/consumers/grid-app/grants", data={"capability": LOOKUP, "purpose": "网格员核对坐席",
                                                               "per_minute": "5", "per_day": "100"})
    assert response.status_code == 200 and "Requested" in response.text and "网格员核对坐席" in response.text
    client.post("/consumers/grid-app/grants", data={"capability": "echo", "purpose": "smoke test"})
    [lookup_grant] = grants.list_grants(capability=LOOKUP)
    [echo_grant] = grants.list_grants(capability="echo")
    assert (lookup_grant.per_minute, lookup_grant.per_day) == (5, 100)

    html = client.get("/grants").text  # grouped by the owning department
    assert "2 waiting for a decision" in html and "citizen" in html and "bigdata" in html
    assert f'hx-post="/grants/{lookup_grant.id}/approve"' in html
    row = client.post(f"/grants/{lookup_grant.id}/approve", headers={"HX-Request": "true"}).text
    assert row.lstrip().startswith(f'<tr id="grant-{lookup_grant.id}"') and "Approved" in row and "/approve" not in row
    row = client.post(f"/grants/{echo_grant.id}/refuse", data={"reason": "use the mobile check instead"},
                      headers={"HX-Request": "true"}).text
    assert "Refused" in row and "use the mobile check instead" in row
    assert grants.get_grant(echo_grant.id).status == "refused"

    html = client.get("/grants").text
    assert "No request is waiting" in html and "use the mobile check instead" in html
    consumer_page = client.get("/consumers/grid-app").text
    assert "Approved" in consumer_page and "Refused" in consumer_page
    ok = client.post(f"/capabilities/{LOOKUP}/v1/invoke", json={"agent_id": 1}, headers={"X-API-Key": key})
    assert ok.status_code == 200 and ok.json()["data"][0]["agent_name"] == "王芳"
    zh(client)
    assert "审批记录" in client.get("/grants").text and "已批准" in client.get("/consumers/grid-app").text


def test_usage_page_counts_calls_and_reuse(client: TestClient) -> None:
    html = client.get("/usage").text
    assert "No call has been made yet." in html
    eco = granted_key("grid-app", "ecology", LOOKUP)
    own = granted_key("hotline-app", "citizen", LOOKUP)
    for key, times in ((eco, 3), (own, 2), ("ubk_wrong", 1)):
        for _ in range(times):
            client.post(f"/capabilities/{LOOKUP}/v1/invoke", json={"agent_id": 1}, headers={"X-API-Key": key})
    html = client.get("/usage").text
    row = re.search(rf'<tr>\s*<td><a href="/capabilities/{LOOKUP}\?version=1".*?</tr>', html, re.S)
    assert row, html
    cells = re.findall(r'<td class="num[^"]*">([^<]+)</td>', row.group(0))
    assert cells[:4] == ["1", "2", "5", "0"]  # reuse (ecology only), departments, calls, errors
    assert 'id="chart-capabilities"' in html and 'id="chart-usage-departments"' in html
    assert '"by_department"' in html and ('"calls": 3' in html or '"calls":3' in html)
    zh(client)
    assert "复用情况" in client.get("/usage").text


PAGES = ["/capabilities", f"/capabilities/{LOOKUP}", "/consumers", "/consumers/grid-app", "/grants", "/usage"]


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_every_page_renders_with_nav_and_local_assets_only(client: TestClient, lang: str) -> None:
    consumers.add_consumer("grid-app", "ecology")
    client.cookies.set("lang", lang)
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        html = response.text
        for href in ("/capabilities", "/consumers", "/grants", "/usage"):
            assert f'href="{href}"' in html, (path, href)
        assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
        assert assets and all(a.startswith("/static/") for a in assets), (path, assets)
        assert "//cdn" not in html and "https://" not in html, path
        assert client.get(assets[-1]).status_code == 200
