"""The demo's vital-sign catalogue: a handful of its indicators computed on small known data (values worked
out by hand below), and the catalogue's own promises (60+, every theme, ISO codes that parse, owners)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.sync.helpers import register
from urbanbrain.demo.indicator_catalogue import city_indicators
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.query import run_query
from urbanbrain.meta.departments import add_department
from urbanbrain.operate.indicator_compute import compute_all
from urbanbrain.operate.indicator_publish import publish_indicators
from urbanbrain.operate.indicators import define_indicator, get_indicator
from urbanbrain.operate.ioc import THEMES
from urbanbrain.sync.runner import run_sync

# Air, newest reading 11-02 12:00, so the last 24 h are after 11-01 12:00 (the 200 µg/m³ reading is older):
#   芙蓉区 (S1): 30, 50 → mean 40, 1 of 2 hours good (≤ 35);  岳麓区 (S2): 20, 40 → 30, 1 of 2
#   city: 35 µg/m³, 2 of 4 = 50 % good hours
STATIONS = ("station_id,name,district_code,lon,lat,kind\n"
            "S1,一号站,430102,113.0,28.2,国控点\nS2,二号站,430104,112.9,28.2,市控点\n")
READINGS = ("reading_id,station_id,ts,pm25,pm10,no2,o3\n"
            "r1,S1,2026-11-02 10:00:00,30,60,20,50\nr2,S1,2026-11-02 11:00:00,50,60,20,50\n"
            "r3,S1,2026-11-01 06:00:00,200,60,20,50\nr4,S2,2026-11-02 12:00:00,20,60,20,50\n"
            "r5,S2,2026-11-02 09:00:00,40,60,20,50\n")
# 12345: 芙蓉区 T1 closed (满意), T2 in progress; 岳麓区 T3 (不满意), T4 (基本满意) both followed up.
#   closure: 芙蓉区 1/2 = 50, 岳麓区 2/2 = 100, city 3/4 = 75;  satisfaction (rated only): 1/1, 1/2, city 2/3
#   received → closed: T1 1.5 d, T3 0.5 d, T4 4 d → mean 2.0 d; closed within 3 days: T1, T3 of 4 = 50 %
TICKETS = ("ticket_id,created_at,channel,district,category,status,satisfaction\n"
           "T1,2026-11-01 00:00:00,电话,芙蓉区,噪音扰民,已办结,满意\n"
           "T2,2026-11-01 00:00:00,APP,芙蓉区,噪音扰民,处理中,\n"
           "T3,2026-11-01 00:00:00,电话,岳麓区,交通出行,已回访,不满意\n"
           "T4,2026-11-01 00:00:00,网站,岳麓区,教育,已回访,基本满意\n")
EVENTS = ("event_id,ticket_id,status,at,actor\n"
          "e1,T1,已受理,2026-11-01 00:00:00,x\ne2,T1,已办结,2026-11-02 12:00:00,x\ne3,T2,已受理,2026-11-01 00:00:00,x\n"
          "e4,T3,已受理,2026-11-01 00:00:00,x\ne5,T3,已办结,2026-11-01 12:00:00,x\n"
          "e6,T4,已受理,2026-11-01 00:00:00,x\ne7,T4,已办结,2026-11-05 00:00:00,x\n")
HANDFUL = ["air_pm25_24h", "air_good_hours_share", "hotline_closure_rate", "hotline_satisfaction",
           "hotline_response_days", "hotline_closed_within_3d", "air_station_density", "hotline_backlog_days"]
# hotline_backlog_days (a function indicator): in progress T2 (芙蓉区); closed in the last 30 days of the log
#   T1 (芙蓉区), T3, T4 (岳麓区) → 3 / 30 a day; city 1 × 30 / 3 = 10.0 days, 芙蓉区 1 × 30 / 1 = 30.0, 岳麓区 0.0


def _files(folder: Path, **tables: str) -> Path:
    folder.mkdir()
    for name, text in tables.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder


def test_a_handful_of_demo_indicators_on_known_data(tmp_path: Path) -> None:
    add_department("生态环境局", "ecology")
    add_department("12345热线", "hotline")
    register("air_quality", "files", {"path": str(_files(tmp_path / "air", stations=STATIONS, readings=READINGS))},
             dept="ecology")
    register("hotline_tickets", "files",
             {"path": str(_files(tmp_path / "tickets", tickets=TICKETS, ticket_events=EVENTS))}, dept="hotline")
    assert run_sync("air_quality").status == "succeeded" and run_sync("hotline_tickets").status == "succeeded"
    for d in (d for d in city_indicators() if d.name in HANDFUL):
        define_indicator(SYSTEM, d.name, sql=d.sql, department=d.department, unit=d.unit, theme=d.theme,
                         direction=d.direction, breakdown=d.breakdown, target=d.target, warn=d.warn, alarm=d.alarm,
                         iso_code=d.iso, function=d.function)
    results = {r["name"]: r for r in compute_all()}
    assert sorted(results) == sorted(HANDFUL) and not [r["error"] for r in results.values() if r.get("error")]
    pm25 = get_indicator("air_pm25_24h")
    assert pm25["value"] == pytest.approx(35.0) and pm25["breakdown_values"] == {"岳麓区": 30.0, "芙蓉区": 40.0}
    assert pm25["state"] == "ok" and pm25["iso_code"] == "37120:8.1"
    good = get_indicator("air_good_hours_share")
    assert good["value"] == pytest.approx(50.0) and good["state"] == "alarm"  # < 70
    closure = get_indicator("hotline_closure_rate")
    assert closure["value"] == pytest.approx(75.0) and closure["breakdown_values"] == {"岳麓区": 100.0, "芙蓉区": 50.0}
    assert closure["state"] == "alarm"  # 芙蓉区's 50 % is under the alarm line, though the city is only at warn
    satisfaction = get_indicator("hotline_satisfaction")
    assert satisfaction["value"] == pytest.approx(66.7) and satisfaction["breakdown_values"] == {
        "岳麓区": 50.0, "芙蓉区": 100.0}
    assert get_indicator("hotline_response_days")["value"] == pytest.approx(2.0)
    assert get_indicator("hotline_closed_within_3d")["value"] == pytest.approx(50.0)
    backlog = get_indicator("hotline_backlog_days")
    assert backlog["value"] == pytest.approx(10.0) and backlog["breakdown_values"] == {"岳麓区": 0.0, "芙蓉区": 30.0}
    assert backlog["state"] == "alarm" and backlog["function"] == "hotline_backlog_days"  # 芙蓉区 > 20 days
    assert get_indicator("air_station_density")["value"] == pytest.approx(round(1000 * 2 / 11819, 3))

    # the time series in the lake: published, computed again, published again (only the new points added)
    assert publish_indicators(SYSTEM) == ["hotline.indicators.indicators", "hotline.indicators.indicator_values"]
    compute_all()
    publish_indicators(SYSTEM)
    trend = run_query("SELECT i.name, count(*) AS points, count(DISTINCT v.id) AS ids, max(v.value) AS latest "
                      "FROM hotline.indicators.indicator_values v JOIN hotline.indicators.indicators i "
                      "ON i.id = v.indicator_id WHERE v.key = '' GROUP BY 1 ORDER BY 1", principal=SYSTEM)
    rows = {r["name"]: r for r in trend.table.to_pylist()}
    assert sorted(rows) == sorted(HANDFUL) and all(r["points"] == r["ids"] == 2 for r in rows.values())
    assert rows["hotline_response_days"]["latest"] == pytest.approx(2.0)


def test_the_catalogue_covers_every_theme_with_60_plus_indicators() -> None:
    defs = city_indicators()
    assert len(defs) >= 60 and len({d.name for d in defs}) == len(defs)
    assert {d.theme for d in defs} == set(THEMES)
    assert all(sum(d.theme == t for d in defs) >= 5 for t in THEMES)
    assert sum(1 for d in defs if d.iso) >= 4
    for d in defs:  # each reads its owner's own datasets (so it runs as the owner's view, needing no sharing)
        if d.function:  # hotline_backlog_days: demo/indicator_functions.py reads hotline's tickets only
            assert d.department == "hotline" and not d.sql
            continue
        datasets = set(re.findall(r"\b([a-z_]+)\.[a-z_0-9]+\.[a-z_0-9]+\b", d.sql))
        assert datasets == {d.department}, (d.name, datasets)
