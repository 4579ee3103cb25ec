"""Address standardisation and nearest facility over a tiny lake built from a SQLite source."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.capability.builtins.lake import sqlite_dataset
from urbanbrain.capability.builtins.address import parse, standardise
from urbanbrain.capability.builtins.nearest import bounding_box, haversine_m, nearest
from urbanbrain.core.errors import ValidationError

REGISTRY = [
    # address_id, district_code, district, street, road, number, building, unit, room, lon, lat
    ("A001", "430102", "芙蓉区", "文艺路街道", "五一大道", 123, 3, 2, 401, 112.99, 28.197),
    ("A002", "430102", "芙蓉区", "文艺路街道", "五一大道", 123, 3, 2, 402, 112.99, 28.197),
    ("A003", "430102", "芙蓉区", "文艺路街道", "五一大道", 125, 1, 1, 101, 112.991, 28.197),
    ("A004", "430104", "岳麓区", "岳麓街道", "麓山南路", 2, 1, 1, 101, 112.94, 28.18),
    ("A005", "430104", "岳麓区", "岳麓街道", "麓山南路", 932, 5, 1, 302, 112.935, 28.17),
    ("A006", "430111", "雨花区", "东塘街道", "韶山中路", 123, 3, 2, 401, 113.0, 28.17),
]


def _standard(r: tuple) -> str:
    return f"湖南省长沙市{r[2]}{r[4]}{r[5]}号{r[6]}栋{r[7]}单元{r[8]}室"


@pytest.fixture
def lake(tmp_path: Path) -> dict[str, str]:
    keys = ("address_id", "district_code", "district", "street", "road", "number", "building", "unit", "room",
            "lon", "lat")
    rows = [{**dict(zip(keys, r, strict=True)), "standard": _standard(r)} for r in REGISTRY]
    reg = sqlite_dataset(tmp_path, "resources", "address-registry", "addresses", rows)
    hospitals = [{"hospital_id": "H1", "name": "五一医院", "address": _standard(REGISTRY[0])},
                 {"hospital_id": "H2", "name": "麓山医院", "address": _standard(REGISTRY[4])},
                 {"hospital_id": "H3", "name": "无地址医院", "address": "不存在的地址"}]
    hosp = sqlite_dataset(tmp_path, "health", "medical-institutions", "hospitals", hospitals)
    stations = [{"station_id": f"S{k}", "name": f"站{k}", "lon": 112.99 + 0.01 * k, "lat": 28.2} for k in range(6)]
    stations.append({"station_id": "FAR", "name": "远站", "lon": 113.6, "lat": 28.15})
    sta = sqlite_dataset(tmp_path, "ecology", "air-quality", "stations", stations)
    return {"registry": reg, "hospitals": hosp, "stations": sta}


def test_full_address_splits_and_matches_the_room(lake: dict[str, str]) -> None:
    r = standardise({"address": "湖南省长沙市芙蓉区五一大道123号3栋2单元401室"})
    assert (r["province"], r["city"], r["district"], r["road"], r["number"], r["building"], r["unit"], r["room"]) == (
        "湖南省", "长沙市", "芙蓉区", "五一大道", 123, 3, 2, 401)
    assert r["match"]["registry"] == lake["registry"]
    assert r["match"]["address_id"] == "A001" and r["match"]["score"] == 1.0 and r["match"]["level"] == "room"
    assert r["standard"] == "湖南省长沙市芙蓉区五一大道123号3栋2单元401室"


def test_district_only_address_is_filled_and_matches_the_house(lake: dict[str, str]) -> None:
    r = standardise({"address": "芙蓉区五一大道123号"})
    assert r["province"] == "湖南省" and r["city"] == "长沙市" and set(r["filled"]) == {"city", "province"}
    assert r["match"]["address_id"] in {"A001", "A002"} and r["match"]["score"] == 0.8
    assert r["match"]["level"] == "house" and r["match"]["ties"] == 1


def test_landmark_address_matches_the_road_only(lake: dict[str, str]) -> None:
    r = standardise({"address": "长沙市岳麓区麓山南路麓山门"})
    assert r["district"] == "岳麓区" and r["road"] == "麓山南路" and r["detail"] == "麓山门"
    assert r["match"]["level"] == "road" and r["match"]["score"] == 0.5 and r["match"]["address_id"] in {"A004", "A005"}


def test_variants_written_by_other_departments(lake: dict[str, str]) -> None:
    dashed = standardise({"address": "长沙芙蓉区五一路123号3-2-402"})  # 大道 written as 路, dashes, short city
    assert (dashed["city"], dashed["building"], dashed["unit"], dashed["room"]) == ("长沙市", 3, 2, 402)
    assert dashed["match"]["address_id"] == "A002" and dashed["match"]["score"] > 0.9
    full_width = standardise({"address": "湖南长沙芙蓉区文艺路街道五一大道１２５号"})
    assert full_width["street"] == "文艺路街道" and full_width["number"] == 125
    assert full_width["match"]["address_id"] == "A003"
    bare = standardise({"address": "韶山中路123号3栋2单元401室"})  # no divisions: filled from the registry
    assert bare["match"]["address_id"] == "A006" and bare["district"] == "雨花区" and bare["city"] == "长沙市"
    assert "district" in bare["filled"]
    wrong_district = standardise({"address": "岳麓区五一大道123号3栋2单元401室"})
    assert wrong_district["match"]["score"] < 1.0


def test_no_match_below_min_score_and_match_off(lake: dict[str, str]) -> None:
    r = standardise({"address": "芙蓉区不存在路1号"})
    assert r["match"]["address_id"] is None and r["match"]["candidates"] == 0
    assert "match" not in standardise({"address": "芙蓉区五一大道123号", "match": False})
    with pytest.raises(ValidationError, match="no dataset named"):
        standardise({"address": "芙蓉区五一大道123号", "registry": "resources.nothing.here"})


def test_parse_divisions_without_a_lake() -> None:
    assert parse("长沙县星沙街道开元东路5号")["district"] == "长沙县"  # not 长沙 (the city) + 县
    assert parse("长沙市芙蓉中路一段1号")["district"] is None  # 芙蓉 alone is not 芙蓉区
    beijing = parse("朝阳区建国路88号", "430100")
    assert beijing["province"] == "北京市" and beijing["city"] == "北京市"
    assert parse("吉林市船营区北京路1号")["province"] == "吉林省"
    assert parse("上海浦东新区世纪大道100号")["district"] == "浦东新区"


def test_nearest_stations_by_haversine(lake: dict[str, str]) -> None:
    r = nearest({"lon": 112.99, "lat": 28.2, "k": 3, "radius_m": 5000, "facility": "air_station"})
    assert [i["id"] for i in r["items"]] == ["S0", "S1", "S2"] and r["dataset"] == lake["stations"]
    for item in r["items"]:
        assert item["distance_m"] == pytest.approx(haversine_m(112.99, 28.2, item["lon"], item["lat"]), abs=0.1)
    assert r["items"][1]["distance_m"] == pytest.approx(980.5, abs=2)  # 0.01° of longitude at 28.2° N
    within = nearest({"lon": 112.99, "lat": 28.2, "k": 50, "radius_m": 2500, "facility": "air_station"})
    assert [i["id"] for i in within["items"]] == ["S0", "S1", "S2"]
    assert nearest({"lon": 113.6, "lat": 28.15, "k": 1, "radius_m": 100, "facility": "air_station"})["items"][0][
        "id"] == "FAR"
    custom = nearest({"lon": 112.99, "lat": 28.2, "k": 1, "dataset": lake["stations"], "id_column": "station_id"})
    assert custom["items"][0]["id"] == "S0" and custom["facility"] == "custom"


def test_nearest_hospitals_located_through_the_registry(lake: dict[str, str]) -> None:
    r = nearest({"lon": 112.94, "lat": 28.18, "k": 5, "radius_m": 20000, "facility": "hospital"})
    assert [i["name"] for i in r["items"]] == ["麓山医院", "五一医院"]  # the one without a registry address is skipped
    assert r["located_by"].startswith("address registry")


def test_nearest_errors_name_the_missing_dataset_or_column(lake: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match=r"emergency\.shelters\.shelters"):
        nearest({"lon": 112.99, "lat": 28.2, "facility": "shelter"})
    with pytest.raises(ValidationError, match="no column 'x'"):
        nearest({"lon": 112.99, "lat": 28.2, "dataset": lake["stations"], "id_column": "station_id", "lon_column": "x"})


def test_bounding_box_encloses_the_circle() -> None:
    for lat in (0.0, 28.2, 60.0, -45.0):
        min_lon, max_lon, min_lat, max_lat = bounding_box(100.0, lat, 10_000)
        assert haversine_m(100.0, lat, max_lon, lat) >= 10_000 and haversine_m(100.0, lat, 100.0, max_lat) >= 10_000
        assert haversine_m(100.0, lat, min_lon, lat) >= 10_000 and haversine_m(100.0, lat, 100.0, min_lat) >= 10_000
