"""The wall's facilities layer is a governed dataset read (attack: a viewer the dataset's policy keeps out
gets no points, through the service and through the snapshot API; a row filter keeps only its rows)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fastapi.testclient import TestClient

from tests.operate.helpers import DISPATCHER, make_departments
from tests.sync.helpers import register
from urbanbrain.govern import classification as cls
from urbanbrain.govern.principals import ANALYST, Principal
from urbanbrain.govern.users import add_user, create_token
from urbanbrain.operate import ioc
from urbanbrain.operate.ioc_facilities import facility_points
from urbanbrain.sync.runner import run_sync
from urbanbrain.web.app import create_app

STATIONS = "ecology.air_quality.stations"
ECOLOGY = Principal("user", "eco.analyst", frozenset({"ecology"}), frozenset({ANALYST}))


def _stations(root: Path) -> None:
    db = root / "air.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE stations (station_id TEXT PRIMARY KEY, name TEXT, district_code TEXT, lon REAL, "
                 "lat REAL, kind TEXT)")
    conn.executemany("INSERT INTO stations VALUES (?, ?, ?, ?, ?, ?)", [
        ("AQ001", "芙蓉区文艺路监测站", "430102", 113.0590, 28.1999, "国控点"),
        ("AQ002", "岳麓区麓山监测站", "430104", 112.9300, 28.2100, "市控点"),
        ("AQ003", "无坐标站", "430104", None, None, "市控点")])
    conn.commit()
    conn.close()
    register("air-quality", "sqlite", {"url": f"sqlite:///{db}"}, dept="ecology")
    assert run_sync("air-quality").status == "succeeded"


def test_facilities_follow_the_dataset_policy(tmp_path: Path) -> None:
    make_departments()
    _stations(tmp_path)
    mine = facility_points(ECOLOGY)  # the owner's department reads its own stations
    assert sorted(p["id"] for p in mine) == [f"f:{STATIONS}:AQ001", f"f:{STATIONS}:AQ002"]
    assert {p["layer"] for p in mine} == {"facilities"} and "空气质量监测站" in mine[0]["label"]
    assert "air-quality station" in facility_points(ECOLOGY, lang="en")[0]["label"]

    # attack: the hotline may not read the stations' (conditional) fields, so it gets no points at all
    assert facility_points(DISPATCHER) == []
    add_user("dispatcher", "correct horse battery", roles=[("operator", "hotline")])
    with TestClient(create_app(), follow_redirects=False) as client:
        headers = {"Authorization": f"Bearer {create_token('dispatcher').token}"}
        snap = client.get("/api/ioc/snapshot", headers=headers)
        assert snap.status_code == 200
        assert not [p for p in snap.json()["points"] if p.get("layer") == "facilities"]

        cls.set_default_level(STATIONS, "open")  # the steward shares them: now they are on the hotline's wall
        for column in ("station_id", "name", "district_code", "lon", "lat", "kind"):
            cls.set_field(STATIONS, column, level="open")
        shared = client.get("/api/ioc/snapshot", headers=headers).json()["points"]
        assert len([p for p in shared if p.get("layer") == "facilities"]) == 2

        cls.set_row_filter(STATIONS, "hotline", "district_code = '430102'")  # and only the rows it may see
        assert [p["id"] for p in facility_points(DISPATCHER)] == [f"f:{STATIONS}:AQ001"]

        ioc.set_screen(DISPATCHER, "nofac", tiles=[], layers=["sensors"])  # a screen without the layer
        off = client.get("/api/ioc/snapshot?screen=nofac", headers=headers).json()["points"]
        assert not [p for p in off if p.get("layer") == "facilities"]


def test_a_city_without_the_dataset_has_no_facilities() -> None:
    make_departments()
    assert facility_points(ECOLOGY) == []
    assert "facilities" in ioc.get_screen("main")["layers"]
