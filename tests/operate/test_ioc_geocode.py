"""The wall places facilities that have only an address: known addresses land on their registry position,
the lookups are batched and cached per registry snapshot, and the facilities API stays governed (attacks:
anonymous, another department's closed table, a row filter, a masked address; every read in the log)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.capability.builtins.lake import sqlite_dataset
from tests.operate.helpers import DISPATCHER, make_departments
from urbanbrain.capability.builtins.address import match, match_many, parse
from urbanbrain.govern import audit
from urbanbrain.govern import classification as cls
from urbanbrain.govern.principals import ANALYST, SYSTEM, Principal
from urbanbrain.govern.users import add_user, create_token
from urbanbrain.operate import ioc, ioc_geocode
from urbanbrain.operate.ioc_facilities import facilities
from urbanbrain.sync.runner import run_sync
from urbanbrain.web.app import create_app

HOSPITALS = "health.medical_institutions.hospitals"
SCHOOLS = "education.school_registry.schools_sheet1"
HEALTH = Principal("user", "health.analyst", frozenset({"health"}), frozenset({ANALYST}))
REGISTRY = [
    # address_id, district_code, district, street, road, number, building, unit, room, lon, lat
    ("A001", "430102", "芙蓉区", "文艺路街道", "五一大道", 123, 3, 2, 401, 112.99, 28.197),
    ("A002", "430102", "芙蓉区", "文艺路街道", "五一大道", 125, 1, 1, 101, 112.991, 28.198),
    ("A003", "430104", "岳麓区", "岳麓街道", "麓山南路", 932, 5, 1, 302, 112.935, 28.17),
    ("A004", "430111", "雨花区", "东塘街道", "韶山中路", 123, 3, 2, 401, 113.0, 28.17),
]
KEYS = ("address_id", "district_code", "district", "street", "road", "number", "building", "unit", "room", "lon",
        "lat")


def _standard(r: tuple) -> str:
    return f"湖南省长沙市{r[2]}{r[4]}{r[5]}号{r[6]}栋{r[7]}单元{r[8]}室"


@pytest.fixture
def city(tmp_path: Path) -> Path:
    make_departments()
    ioc_geocode.clear()
    rows = [{**dict(zip(KEYS, r, strict=True)), "standard": _standard(r)} for r in REGISTRY]
    sqlite_dataset(tmp_path, "resources", "address-registry", "addresses", rows)
    sqlite_dataset(tmp_path, "health", "medical-institutions", "hospitals", [
        {"hospital_id": "H1", "name": "五一医院", "level": "三级甲等", "address": _standard(REGISTRY[0]),
         "district_code": "430102"},
        {"hospital_id": "H2", "name": "麓山医院", "level": "二级甲等", "address": "长沙岳麓区麓山南路932号5-1-302",
         "district_code": "430104"},
        {"hospital_id": "H3", "name": "无处医院", "level": "二级甲等", "address": "不存在的地址",
         "district_code": "430104"}])
    sqlite_dataset(tmp_path, "education", "school-registry", "schools_sheet1", [
        {"school_id": "SC1", "学校名称": "五一小学", "学校地址": "长沙市芙蓉区五一路125号"}])
    return tmp_path


def _at(placed: dict[str, ioc_geocode.Position | None], text: str) -> ioc_geocode.Position:
    found = placed[text]
    assert found is not None, text
    return found


def test_known_addresses_land_on_their_registry_position(city: Path) -> None:
    placed = ioc_geocode.locate([_standard(REGISTRY[0]), "长沙市芙蓉区五一路125号", "韶山中路123号3栋2单元401室",
                                 "不存在的地址", "长沙岳麓区麓山南路932号5-1-302"])
    exact = _at(placed, _standard(REGISTRY[0]))
    assert (exact.address_id, exact.lon, exact.lat, exact.level) == ("A001", 112.99, 28.197, "room")
    assert _at(placed, "长沙市芙蓉区五一路125号").address_id == "A002"  # 五一路 for 五一大道, house level
    assert _at(placed, "韶山中路123号3栋2单元401室").address_id == "A004"  # no district: road and number decide
    assert _at(placed, "长沙岳麓区麓山南路932号5-1-302").address_id == "A003"
    assert placed["不存在的地址"] is None


def test_the_batch_agrees_with_one_by_one_matching(city: Path) -> None:
    texts = [_standard(r) for r in REGISTRY] + ["长沙芙蓉区五一路123号3-2-401", "岳麓区麓山南路", "无路之地"]
    many = match_many(texts, principal=SYSTEM)
    for text in texts:
        one = match(parse(text, "430100"), None, 0.5, principal=SYSTEM)
        assert (many[text]["address_id"], many[text]["score"]) == (one["address_id"], one["score"]), text


def test_positions_are_cached_per_registry_snapshot(city: Path) -> None:
    address = _standard(REGISTRY[0])
    before = dict(ioc_geocode.stats)
    assert _at(ioc_geocode.locate([address]), address).lon == 112.99
    assert _at(ioc_geocode.locate([address]), address).lon == 112.99  # the second paint: no registry query
    assert ioc_geocode.stats["queries"] == before["queries"] + 1
    assert ioc_geocode.stats["cache_hits"] == before["cache_hits"] + 1

    conn = sqlite3.connect(city / "address-registry.db")  # the registry corrects the address's position
    conn.execute("UPDATE addresses SET lon = 112.995 WHERE address_id = 'A001'")
    conn.commit()
    conn.close()
    assert run_sync("address-registry").status == "succeeded"
    assert _at(ioc_geocode.locate([address]), address).lon == 112.995  # a new snapshot: placed again
    assert ioc_geocode.stats["queries"] == before["queries"] + 2


def test_the_owner_sees_its_facilities_placed_and_counted(city: Path) -> None:
    mine = facilities(HEALTH)
    hospitals = {p["id"]: p for p in mine["points"] if p["id"].startswith(f"f:{HOSPITALS}:")}
    assert set(hospitals) == {f"f:{HOSPITALS}:H1", f"f:{HOSPITALS}:H2"}
    assert (hospitals[f"f:{HOSPITALS}:H1"]["lon"], hospitals[f"f:{HOSPITALS}:H1"]["lat"]) == (112.99, 28.197)
    label = hospitals[f"f:{HOSPITALS}:H1"]["label"]
    assert "医疗机构" in label and "三级甲等" in label
    counted = {c["dataset"]: (c["located"], c["total"]) for c in mine["sources"]}
    assert counted[HOSPITALS] == (2, 3)  # the address that matches nothing is counted, not dropped
    assert SCHOOLS not in counted  # education's register is not health's to read
    everything = facilities(SYSTEM)
    assert {c["dataset"]: (c["located"], c["total"]) for c in everything["sources"]}[SCHOOLS] == (1, 1)
    assert (everything["located"], everything["total"]) == (3, 4)
    reads = [e for e in audit.list_entries(principal=HEALTH.label, action="data.read", limit=20)
             if e.target == HOSPITALS]
    assert reads, "the facility rows are read as the viewer, and logged"


def test_the_facilities_api_is_governed(city: Path) -> None:
    add_user("dispatcher", "correct horse battery", roles=[("operator", "hotline")])
    add_user("health.analyst", "correct horse battery", roles=[("analyst", "health")])
    with TestClient(create_app(), follow_redirects=False) as client:
        assert client.get("/api/ioc/facilities").status_code == 401  # attack: anonymous
        disp = {"Authorization": f"Bearer {create_token('dispatcher').token}"}
        health = {"Authorization": f"Bearer {create_token('health.analyst').token}"}

        own = client.get("/api/ioc/facilities", headers=health).json()
        assert (own["located"], own["total"]) == (2, 3)

        # attack: another department's closed table gives the hotline no points and no count
        closed = client.get("/api/ioc/facilities", headers=disp).json()
        assert closed["points"] == [] and closed["total"] == 0
        assert DISPATCHER.departments == frozenset({"hotline"})

        cls.set_default_level(HOSPITALS, "open")  # shared: now on the hotline's wall
        for column in ("hospital_id", "name", "level", "address", "district_code"):
            cls.set_field(HOSPITALS, column, level="open")
        masked = client.get("/api/ioc/facilities", headers=disp).json()  # attack: a masked address places nothing
        assert masked["points"] == [] and (masked["located"], masked["total"]) == (0, 3)
        cls.set_field(HOSPITALS, "address", clear_pii=True)  # a hospital's address is public, not personal
        shared = client.get("/api/ioc/facilities", headers=disp).json()
        assert (shared["located"], shared["total"]) == (2, 3)

        cls.set_row_filter(HOSPITALS, "hotline", "district_code = '430104'")  # attack: only its rows
        filtered = client.get("/api/ioc/facilities", headers=disp).json()
        assert [p["id"] for p in filtered["points"]] == [f"f:{HOSPITALS}:H2"] and filtered["total"] == 2

        cls.set_field(HOSPITALS, "address", pii_type="address", mask="redact")  # masked again
        assert client.get("/api/ioc/facilities", headers=disp).json()["located"] == 0
        assert (client.get("/api/ioc/facilities", headers=health).json()["located"]) == 2  # the owner, in clear

        first = client.get("/api/ioc/snapshot?facilities=false", headers=health).json()  # first paint: none
        assert first["facilities"] is None and not [p for p in first["points"] if p["layer"] == "facilities"]
        full = client.get("/api/ioc/snapshot", headers=health).json()
        assert full["facilities"]["located"] == 2 and len([p for p in full["points"]
                                                            if p["layer"] == "facilities"]) == 2

        ioc.set_screen(SYSTEM, "nofac", tiles=[], layers=["sensors"])  # a screen without the layer
        assert client.get("/api/ioc/facilities?screen=nofac", headers=health).json()["total"] == 0


def test_the_legend_says_how_many_were_located(city: Path) -> None:
    add_user("health.analyst", "correct horse battery", roles=[("analyst", "health")])
    with TestClient(create_app(), follow_redirects=False) as client:
        headers = {"Authorization": f"Bearer {create_token('health.analyst').token}"}
        zh = client.get("/ioc", headers=headers)
        assert zh.status_code == 200 and 'id="ioc-located"' in zh.text
        assert _messages(zh.text)["located"] == "已定位 {n}/{m}"
        assert "facilities=false" in zh.text  # the head asks for the first paint without the facilities
        client.cookies.set("lang", "en")
        en = client.get("/ioc", headers=headers)
        assert en.status_code == 200 and _messages(en.text)["located"] == "{n} of {m} located"


def _messages(html: str) -> dict[str, str]:
    """The wall's strings, as the page hands them to ioc.js."""
    config = html.split('<script type="application/json" id="ioc-config">', 1)[1].split("</script>", 1)[0]
    return dict(json.loads(config)["messages"])
