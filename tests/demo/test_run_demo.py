"""The tiny demo city end to end: generate, register through the services, sync, query, truth, grow.

One city is built per module (the runs take seconds, not minutes) and each test points
URBANBRAIN_HOME at it. PostgreSQL and MariaDB are used because they are reachable here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from urbanbrain.connect.systems import list_systems
from urbanbrain.core.settings import get_settings
from urbanbrain.demo.run import DemoSummary, run_demo, start_live_feeds
from urbanbrain.demo.writers import reachable
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.query import run_query
from urbanbrain.meta.departments import list_departments

pytestmark = [pytest.mark.postgres, pytest.mark.mariadb]


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, DemoSummary, float]]:
    home = tmp_path_factory.mktemp("demo") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("URBANBRAIN_HOME", str(home))
        mp.delenv("URBANBRAIN_DATABASE_URL", raising=False)
        get_settings.cache_clear()
        started = time.monotonic()
        summary = run_demo(scale="tiny")
        elapsed = time.monotonic() - started
        get_settings.cache_clear()
    yield home, summary, elapsed


@pytest.fixture
def at_city(city: tuple[Path, DemoSummary, float], ub_home: Path, monkeypatch: pytest.MonkeyPatch) -> DemoSummary:
    monkeypatch.setenv("URBANBRAIN_HOME", str(city[0]))
    get_settings.cache_clear()
    return city[1]


def test_tiny_city_registers_departments_and_systems(city: tuple[Path, DemoSummary, float],
                                                     at_city: DemoSummary) -> None:
    assert reachable("postgres") and reachable("mysql"), "the test machine runs both servers"
    depts = list_departments()
    assert len(depts) >= 12
    # the data bureau (bigdata) runs the platform and owns built-in capabilities, not source systems
    assert all(2 <= d.systems <= 6 for d in depts if d.code != "bigdata"), [(d.code, d.systems) for d in depts]
    # the platform publishes its own indicator tables as a system of the operations centre (not a source)
    systems = [s for s in list_systems() if s.name != "indicators"]
    kinds = {s.kind for s in systems}
    assert len(kinds) >= 4 and {"postgres", "mysql", "sqlite", "files", "rest"} <= kinds
    assert at_city.failures == {}
    assert set(at_city.runs.values()) == {"succeeded"} and len(at_city.runs) == len(systems)
    assert all(s.last_sync_at is not None and s.health == "healthy" for s in systems)


def test_lake_answers_counts_over_several_departments(at_city: DemoSummary) -> None:
    for dataset in ("police.hukou_registry.residents", "market.enterprise_registry.enterprises",
                    "hotline.hotline_tickets.tickets", "civil.subsistence_allowance.dibao_roster",
                    "ecology.air_quality.readings", "market.annual_reports.annual_reports_2023_sheet1"):
        count = run_query(f"select count(*) as n from {dataset}", principal=SYSTEM).table.to_pylist()[0]["n"]
        assert count > 0, dataset
    residents = run_query("select count(*) as n from police.hukou_registry.residents",
                          principal=SYSTEM).table.to_pylist()[0]["n"]
    assert residents == 300


def test_truth_links_records_across_departments(city: tuple[Path, DemoSummary, float], at_city: DemoSummary) -> None:
    truth = city[0] / "demo" / "truth"
    for kind in ("person", "enterprise", "address"):
        assert (truth / f"{kind}s.parquet").exists()
        assert (truth / f"{kind}_links.parquet").exists()
    links = pq.read_table(truth / "person_links.parquet").to_pylist()
    depts_by_person: dict[str, set[str]] = {}
    for link in links:
        depts_by_person.setdefault(link["entity_id"], set()).add(link["department"])
    assert max(len(d) for d in depts_by_person.values()) >= 3
    assert sum(len(d) >= 3 for d in depts_by_person.values()) > 50
    # a link points at a real lake row: the hukou record key is in the synced dataset
    hukou = next(x for x in links if x["dataset"] == "police.hukou_registry.residents")
    rows = run_query(f"select name from police.hukou_registry.residents where record_id = '{hukou['record_key']}'",
                     principal=SYSTEM)
    assert rows.table.num_rows == 1
    firm_links = pq.read_table(truth / "enterprise_links.parquet")
    assert len(set(firm_links.column("department").to_pylist())) >= 3


def test_live_feeds_serve_new_readings(at_city: DemoSummary) -> None:
    import httpx

    from urbanbrain.connect.systems import system_options
    from urbanbrain.sync.runner import run_sync

    feeds = start_live_feeds()
    try:
        _, options = system_options("air-quality")
        assert options["url"] == feeds.url
        token = options["auth"]["token"]
        assert httpx.get(f"{feeds.url}/api/air-quality/readings").status_code == 401
        body = httpx.get(f"{feeds.url}/api/air-quality/readings", params={"page_size": 5},
                         headers={"Authorization": f"Bearer {token}"}).json()
        assert len(body["data"]["items"]) == 5 and body["data"]["total"] > 5
        run = run_sync("air-quality")
        assert run.status == "succeeded"
    finally:
        feeds.stop()


def test_growing_the_city_to_60_systems_reuses_state(at_city: DemoSummary) -> None:
    summary = run_demo(scale="tiny", systems=60)
    assert not summary.failures
    assert summary.systems >= 60 and len(list_systems()) >= 60
    assert summary.rows_generated < 2000  # only the new branch systems were written
    names = {s.name for s in list_systems()}
    assert "police-furong-1" in names
    count = run_query("select count(*) as n from police.police_furong_1.residents",
                      principal=SYSTEM).table.to_pylist()[0]["n"]
    assert count > 0


def test_every_vital_sign_computes_and_is_in_the_lake_and_the_catalog(at_city: DemoSummary) -> None:
    from urbanbrain.capability.catalog import list_capabilities
    from urbanbrain.demo.indicator_catalogue import city_indicators
    from urbanbrain.operate.indicators import list_indicators

    defs = city_indicators()
    assert sum(at_city.indicators.values()) == len(defs) >= 60 and "error" not in at_city.indicators, at_city.indicators
    listed = list_indicators()
    assert {i["name"] for i in listed} == {d.name for d in defs}
    assert all(i["value"] is not None and not i["error"] for i in listed if not i["breakdown"])
    assert {c.name for c in list_capabilities() if c.kind == "indicator"} == {f"indicator_{d.name}" for d in defs}
    trend = run_query("SELECT count(DISTINCT i.name) AS n FROM hotline.indicators.indicator_values v "
                      "JOIN hotline.indicators.indicators i ON i.id = v.indicator_id WHERE v.key = ''",
                      principal=SYSTEM).table.to_pylist()[0]["n"]
    assert trend == len(defs)
