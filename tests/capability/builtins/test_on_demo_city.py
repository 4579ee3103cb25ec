"""Every lake-backed built-in on the tiny demo city, with its own database prefix so it can run beside
other demo tests: complaint routing beats the majority class by far, registry variants match, hospitals
are located through the address registry, and the air stations' 999 spikes are found."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from urbanbrain.capability.base import BUILTINS
from urbanbrain.capability.builtins import complaints
from urbanbrain.capability.builtins.address import standardise
from urbanbrain.core.settings import get_settings
from urbanbrain.demo.run import run_demo
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.query import run_query

pytestmark = [pytest.mark.postgres, pytest.mark.mariadb]


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("demo") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("URBANBRAIN_HOME", str(home))
        mp.setenv("URBANBRAIN_DEMO_DB_PREFIX", "ub_bltntest" + os.environ.get("UB_TEST_DB_SUFFIX", ""))
        mp.delenv("URBANBRAIN_DATABASE_URL", raising=False)
        get_settings.cache_clear()
        summary = run_demo(scale="tiny")
        assert summary.failures == {}
        get_settings.cache_clear()
    yield home


@pytest.fixture
def at_city(city: Path, ub_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("URBANBRAIN_HOME", str(city))
    get_settings.cache_clear()
    return city


def test_complaints_route_far_above_the_majority_class(at_city: Path) -> None:
    complaints._CACHE.clear()
    r = BUILTINS.get("classify_complaint").func({"text": "小区楼下工地夜间施工噪音很大，严重影响休息"})
    assert (r["department"], r["category"]) == ("urban", "噪音扰民")
    model = r["model"]
    assert model["source"] == "hotline.hotline_tickets.tickets" and model["test_size"] >= 50
    assert model["accuracy_department"] >= 0.9 and model["accuracy_department"] > model["baseline_department"] + 0.4
    assert model["accuracy_category"] >= 0.9 and model["accuracy_category"] > model["baseline_category"] + 0.4
    for text, department in [("老板拖欠工资三个月，请求帮助追讨", "hrss"), ("河道发黑发臭，有排污口直排", "ecology"),
                             ("超市卖过期食品，商家拒绝退换", "market"), ("想咨询户口迁入需要哪些材料", "police")]:
        assert classify_department(text) == department, text


def classify_department(text: str) -> str:
    return str(complaints.classify({"text": text})["department"])


def test_registry_variants_match_their_own_address(at_city: Path) -> None:
    sql = "SELECT * FROM resources.address_registry.addresses ORDER BY address_id LIMIT 60"
    rows = run_query(sql, principal=SYSTEM).table.to_pylist()
    hits = 0
    for row in rows:
        d, r, no, b, u, rm = (row[k] for k in ("district", "road", "number", "building", "unit", "room"))
        variants = [row["standard"], f"长沙{d}{r.replace('大道', '路')}{no}号{b}-{u}-{rm}",
                    f"{d}{r}{no}号{b}栋{u}单元{rm}"]
        for text in variants:
            hits += standardise({"address": text})["match"]["address_id"] == row["address_id"]
    assert hits / (3 * len(rows)) >= 0.95


def test_hospitals_near_the_city_centre(at_city: Path) -> None:
    r = BUILTINS.get("nearest_facility").func({"lon": 112.98, "lat": 28.2, "k": 5, "radius_m": 30000,
                                               "facility": "hospital"})
    assert r["count"] == 5 and r["dataset"] == "health.medical_institutions.hospitals"
    distances = [i["distance_m"] for i in r["items"]]
    assert distances == sorted(distances) and distances[-1] <= 30000


def test_air_spikes_are_found(at_city: Path) -> None:
    spiky = run_query("SELECT station_id FROM ecology.air_archive.air_history WHERE pm25 = 999 "
                      "ORDER BY station_id LIMIT 1", principal=SYSTEM).table.to_pylist()
    assert spiky, "the demo injects 999 spikes"
    r = BUILTINS.get("sensor_anomalies").func({"dataset": "ecology.air_archive.air_history", "value_column": "pm25",
                                               "series_column": "station_id",
                                               "series_value": spiky[0]["station_id"]})
    assert any(a["value"] == 999 and a["kind"] == "spike" for a in r["anomalies"])
