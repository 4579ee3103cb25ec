"""The console over a small real lake: every page renders the real figures, both languages, sync-now
through the app's pool, the SQL workbench and its CSV download, error pages, and no asset from a CDN.

The lake is built the way a user builds it: an SQLite source file → department → system → discover →
sync, through the service functions. The catalog-consistency checks live in `test_console_i18n.py`.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from urbanbrain.connect.systems import add_system, discover_system
from urbanbrain.meta.departments import add_department
from urbanbrain.sync.runner import run_sync
from urbanbrain.web.app import create_app

TICKETS = 1500  # more than the workbench shows (1,000), so truncation and the full CSV are both visible
PAGES = ["/", "/systems", "/systems?dept=citizen", "/systems/hotline", "/datasets", "/datasets?q=topic",
         "/datasets/citizen.hotline.tickets", "/runs", "/runs?status=succeeded", "/sql"]


def make_source(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE tickets (id INTEGER PRIMARY KEY, topic TEXT, district TEXT, opened TIMESTAMP)")
    conn.executemany("INSERT INTO tickets VALUES (?, ?, ?, ?)",
                     [(i, f"噪音投诉{i}", ["芙蓉区", "岳麓区", "天心区"][i % 3], f"2024-05-{i % 28 + 1:02d} 08:30:00")
                      for i in range(1, TICKETS + 1)])
    conn.execute("CREATE TABLE agents (agent_id INTEGER PRIMARY KEY, agent_name TEXT)")
    conn.executemany("INSERT INTO agents VALUES (?, ?)", [(1, "王芳"), (2, "李强"), (3, "张伟")])
    conn.commit()
    conn.close()
    return path


def build_lake(tmp_path: Path) -> Path:
    """Two departments, one synced system with two tables, one registered but never synced."""
    source = make_source(tmp_path / "hotline.db")
    add_department("12345 Citizen Hotline Centre", "citizen")
    add_department("Ecology and Environment", "ecology")
    add_system("hotline", "citizen", "sqlite", {"url": f"sqlite:///{source}"}, schedule="every 10m",
               description="12345 tickets")
    add_system("air", "ecology", "sqlite", {"url": f"sqlite:///{source}"})
    discover_system("hotline")
    assert run_sync("hotline").status == "succeeded"
    return source


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return build_lake(tmp_path)


@pytest.fixture
def client(lake: Path) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


def test_every_page_renders_with_nav_and_language_switch(client: TestClient) -> None:
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert response.headers["content-type"].startswith("text/html")
        html = response.text
        assert 'class="nav"' in html and 'href="/datasets"' in html, path
        assert '/lang/zh-CN?next=' in html, path  # the switch on every page, returning to the same page


def test_overview_shows_the_figures_of_the_service(client: TestClient) -> None:
    figures = client.get("/api/overview").json()
    assert figures["departments"] == 2
    assert figures["systems"] == {"total": 2, "healthy": 1, "degraded": 0, "unhealthy": 0, "unknown": 1}
    assert figures["datasets"] == 2 and figures["records"] == TICKETS + 3
    assert figures["syncs_24h"]["total"] == 1 and figures["syncs_24h"]["failed"] == 0
    assert [d["code"] for d in figures["by_department"]] == ["citizen", "ecology"]
    assert sum(b["rows_written"] for b in figures["ingest_hourly"]) == TICKETS + 3
    assert len(figures["ingest_hourly"]) == 24 and len(figures["ingest_daily"]) == 14

    html = client.get("/").text
    assert "City overview" in html and "1,503" in html and "12345 Citizen Hotline Centre" in html
    assert 'id="chart-departments"' in html and 'id="chart-ingest"' in html
    assert '<script src="/static/vendor/echarts.min.js"' in html
    assert 'id="overview-data"' in html  # the charts' data is in the page, not fetched from elsewhere


def test_systems_datasets_and_runs_pages_show_real_rows(client: TestClient) -> None:
    systems = client.get("/systems?dept=citizen").text
    assert "hotline" in systems and "every 10m" in systems and "health-healthy" in systems
    assert 'id="system-air"' not in systems  # filtered by department
    assert 'id="system-air"' in client.get("/systems").text

    detail = client.get("/systems/hotline").text
    assert "tickets" in detail and "agents" in detail and "citizen.hotline.tickets" in detail

    found = client.get("/datasets", params={"q": "agent_name"}).text  # search by column
    assert "citizen.hotline.agents" in found and "citizen.hotline.tickets" not in found
    by_dept = client.get("/datasets", params={"q": "hotline centre"}).text  # by department name
    assert "citizen.hotline.agents" in by_dept
    assert "citizen.hotline" not in client.get("/datasets", params={"dept": "ecology"}).text
    live = client.get("/datasets", params={"q": "agents"}, headers={"HX-Request": "true"}).text
    assert live.lstrip().startswith('<div id="dataset-results">') and "<html" not in live

    dataset = client.get("/datasets/citizen.hotline.tickets").text
    assert "1,500" in dataset and "噪音投诉1" in dataset and "芙蓉区" in dataset  # row count and preview
    assert "seconds ago" in dataset or "just now" in dataset  # freshness, humanised
    assert 'href="/systems/hotline"' in dataset and 'href="/systems?dept=citizen"' in dataset  # lineage links
    assert dataset.count("<tr>") >= 20 + 4  # 20 preview rows plus the schema

    runs = client.get("/runs").text
    run_id = re.search(r'href="/runs/(run[^"]+)"', runs)
    assert run_id and "1,503" in runs
    run = client.get(f"/runs/{run_id.group(1)}").text
    assert "citizen.hotline.tickets" in run and "1,500" in run
    assert "No sync runs." in client.get("/runs", params={"status": "failed"}).text


def test_language_from_accept_language_and_from_the_switch(client: TestClient) -> None:
    assert "城市数据总览" in client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}).text
    assert "City overview" in client.get("/", headers={"Accept-Language": "fr-FR, en;q=0.5"}).text
    assert "城市数据总览" in client.get("/", headers={"Accept-Language": "en;q=0.3, zh-TW;q=0.7"}).text
    assert '<html lang="en">' in client.get("/").text  # no header: English

    switched = client.get("/lang/zh-CN", params={"next": "/systems?dept=citizen"}, follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/systems?dept=citizen"
    assert "lang=zh-CN" in switched.headers["set-cookie"]
    page = client.get("/systems", headers={"Accept-Language": "en"}).text  # the cookie beats the header
    assert "部门与信息系统" in page and "立即同步" in page

    client.get("/lang/en")
    assert "Departments and systems" in client.get("/systems").text
    assert client.get("/lang/en", params={"next": "//evil.example"}, follow_redirects=False).headers["location"] == "/"
    assert client.get("/lang/fr").status_code == 404


def test_sync_now_starts_a_background_run_that_completes(client: TestClient) -> None:
    row = client.post("/systems/hotline/sync", headers={"HX-Request": "true"})
    assert row.status_code == 200
    assert 'id="system-hotline"' in row.text
    deadline = time.monotonic() + 600  # a hang guard; the sync takes a second on a quiet machine
    html = row.text
    while 'hx-trigger="every 2s"' in html:  # the row polls while the job is queued or running
        assert time.monotonic() < deadline, "sync-now did not finish in 600 s"
        time.sleep(0.2)
        html = client.get("/systems/hotline/row", headers={"HX-Request": "true"}).text
    assert "status-succeeded" in html and "Sync now" in html
    runs = client.get("/api/runs", params={"system": "hotline"}).json()
    assert len(runs) == 2 and runs[0]["trigger"] == "console" and runs[0]["status"] == "succeeded"

    plain = client.post("/systems/hotline/sync", follow_redirects=False)  # without JavaScript: back to the page
    assert plain.status_code == 303 and plain.headers["location"] == "/systems"
    assert client.post("/systems/nope/sync", headers={"HX-Request": "true"}).status_code == 404


def test_sync_now_returns_at_once_and_never_queues_twice(client: TestClient) -> None:
    jobs = client.app.state.sync_jobs  # type: ignore[attr-defined]
    started = time.monotonic()
    client.post("/systems/hotline/sync", headers={"HX-Request": "true"})
    client.post("/systems/hotline/sync", headers={"HX-Request": "true"})
    assert time.monotonic() - started < 60  # returned without waiting for the sync (a hang guard, not a speed test)
    job = jobs.get("hotline")
    job.future.result(timeout=600)
    assert len(client.get("/api/runs", params={"system": "hotline"}).json()) <= 3  # at most one more per click


def test_sql_workbench_results_errors_and_truncation(client: TestClient) -> None:
    grouped = "SELECT district, count(*) AS n FROM citizen.hotline.tickets GROUP BY 1 ORDER BY 1"
    ok = client.post("/sql", data={"q": grouped})
    assert ok.status_code == 200 and "<html" in ok.text  # without JavaScript: the whole page
    assert "芙蓉区" in ok.text and "500" in ok.text and "3 rows" in ok.text

    fragment = client.post("/sql", data={"q": "SELECT * FROM citizen.hotline.tickets"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert 'id="sql-truncated"' in fragment.text and fragment.text.count("<tr>") == 1000 + 1
    assert "/sql/download?q=SELECT%20%2A%20FROM%20citizen.hotline.tickets" in fragment.text

    denied = client.post("/sql", data={"q": "DELETE FROM citizen.hotline.tickets"}, headers={"HX-Request": "true"})
    assert denied.status_code == 403
    assert "ReadOnlyViolationError" in denied.text and "only SELECT" in denied.text and 'class="hint"' in denied.text
    bad = client.post("/sql", data={"q": "SELECT * FROM citizen.hotline.nope"}, headers={"HX-Request": "true"})
    assert bad.status_code == 400 and "QueryError" in bad.text
    assert client.post("/sql", data={"q": "  "}).status_code == 422
    assert "SELECT 1" in client.get("/sql", params={"q": "SELECT 1"}).text  # prefilled from a link


def test_csv_download_streams_every_row(client: TestClient) -> None:
    response = client.get("/sql/download", params={"q": "SELECT id, topic FROM citizen.hotline.tickets ORDER BY id"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["id", "topic"] and len(rows) == TICKETS + 1 and rows[-1] == [str(TICKETS), f"噪音投诉{TICKETS}"]
    assert client.get("/sql/download", params={"q": "DROP TABLE x"}).status_code == 403


def test_error_pages_are_html_and_the_api_keeps_json(client: TestClient) -> None:
    for path in ("/no-such-page", "/datasets/citizen.hotline.nope", "/systems/nope", "/runs/run_nope"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html") and 'class="error-page"' in response.text
    assert "no dataset named" in client.get("/datasets/citizen.hotline.nope").text
    assert "页面不存在" in client.get("/nope", headers={"Accept-Language": "zh-CN"}).text
    api = client.get("/api/datasets/citizen.hotline.nope")
    assert api.status_code == 404 and api.json()["error"] == "NotFoundError"
    assert client.get("/api/nope").json()["error"] == "NotFoundError"  # the API's one error shape, not HTML


def test_assets_are_local_and_nothing_comes_from_a_cdn(client: TestClient) -> None:
    for asset in ("/static/console.css", "/static/console.js", "/static/vendor/echarts.min.js",
                  "/static/vendor/htmx.min.js"):
        assert client.get(asset).status_code == 200, asset
    for path in [*PAGES, "/nope"]:
        html = client.get(path).text
        assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?(https?:)?//""", html), path
        assert "<script src=\"http" not in html


def test_root_serves_the_console(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 200 and "City overview" in response.text


def test_a_crash_is_a_styled_500_page_and_json_under_api(lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import urbanbrain.web.api.overview as api_overview
    import urbanbrain.web.console.overview as console_overview

    def boom() -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(console_overview, "city_overview", boom)
    monkeypatch.setattr(api_overview, "city_overview", boom)
    with TestClient(create_app(), raise_server_exceptions=False) as crashing:
        page = crashing.get("/")
        assert page.status_code == 500 and 'class="error-page"' in page.text and "bug" not in page.text
        api = crashing.get("/api/overview")
        assert api.status_code == 500 and api.json()["error"] == "InternalError"
