"""An indicator drillable to district and street: `addresses_standardised` on a small known address
registry (values counted by hand below), its labelled breakdown, and the /ioc tiles of a drilled district."""

from __future__ import annotations

from pathlib import Path

from tests.sync.helpers import register
from urbanbrain.demo.indicator_catalogue import city_indicators
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.meta.departments import add_department
from urbanbrain.operate.indicator_compute import compute_all
from urbanbrain.operate.indicators import breakdown_rows, children_of, define_indicator, get_indicator
from urbanbrain.operate.ioc import get_screen, tiles
from urbanbrain.sync.runner import run_sync

# 芙蓉区: 定王台街道 A1, A2; 文艺路街道 A3 → 3;  岳麓区: 橘子洲街道 A4, A5 → 2;  one with no street (A6, 岳麓区)
#   city 6; 岳麓区 3 = 橘子洲街道 2 + 未知 1
ADDRESSES = ("address_id,district_code,district,street,community,standard\n"
             "A1,430102,芙蓉区,定王台街道,c1,s1\nA2,430102,芙蓉区,定王台街道,c1,s2\n"
             "A3,430102,芙蓉区,文艺路街道,c2,s3\nA4,430104,岳麓区,橘子洲街道,c3,s4\n"
             "A5,430104,岳麓区,橘子洲街道,c3,s5\nA6,430104,岳麓区,,c4,s6\n")


def test_addresses_by_district_and_street_on_known_data(tmp_path: Path) -> None:
    add_department("自然资源局", "resources")
    folder = tmp_path / "addr"
    folder.mkdir()
    (folder / "addresses.csv").write_text(ADDRESSES, encoding="utf-8")
    register("address_registry", "files", {"path": str(folder)}, dept="resources")
    assert run_sync("address_registry").status == "succeeded"
    d = next(d for d in city_indicators() if d.name == "addresses_standardised")
    assert d.breakdown == "street"
    define_indicator(SYSTEM, d.name, sql=d.sql, department=d.department, unit=d.unit, theme=d.theme,
                     direction=d.direction, breakdown=d.breakdown)
    [result] = compute_all()
    assert not result.get("error"), result
    ind = get_indicator(d.name)
    assert ind["value"] == 6
    assert ind["breakdown_values"] == {"芙蓉区": 3, "芙蓉区/定王台街道": 2, "芙蓉区/文艺路街道": 1,
                                       "岳麓区": 3, "岳麓区/橘子洲街道": 2, "岳麓区/未知": 1}
    assert ind["breakdown_label"] == "ind.by.street"
    assert [(r["parent"], r["child"], r["value"]) for r in ind["breakdown_rows"]] == [
        ("岳麓区", "", 3), ("岳麓区", "未知", 1), ("岳麓区", "橘子洲街道", 2),
        ("芙蓉区", "", 3), ("芙蓉区", "定王台街道", 2), ("芙蓉区", "文艺路街道", 1)]
    assert children_of(ind["breakdown_values"], "芙蓉区") == {"定王台街道": 2, "文艺路街道": 1}
    # /ioc drilled into 芙蓉区: the tile shows the district's value and carries its streets
    [tile] = [i for g in tiles(get_screen(), "芙蓉区") for i in g["indicators"] if i["name"] == d.name]
    assert tile["district_value"] == 3 and tile["streets"] == {"定王台街道": 2, "文艺路街道": 1}
    [city] = [i for g in tiles(get_screen()) for i in g["indicators"] if i["name"] == d.name]
    assert city["value"] == 6 and city["streets"] is None
    # the console's page: the breakdown labelled in the reader's language, districts then their streets
    from fastapi.testclient import TestClient

    from urbanbrain.govern.users import add_user, create_token
    from urbanbrain.web.app import create_app

    add_user("res.reader", "correct horse battery", roles=[("analyst", "resources")])
    auth = {"Authorization": f"Bearer {create_token('res.reader').token}"}
    with TestClient(create_app()) as client:
        zh = client.get(f"/indicators/{d.name}", headers=auth, cookies={"lang": "zh-CN"}).text
        en = client.get(f"/indicators/{d.name}", headers=auth, cookies={"lang": "en"}).text
    assert "按街道（乡镇）" in zh and "by street (subdistrict / town)" in en
    rows = [zh.index(f'data-key="{k}"') for k in ("芙蓉区", "芙蓉区/定王台街道", "芙蓉区/文艺路街道")]
    assert rows == sorted(rows)


def test_breakdown_rows_of_a_flat_breakdown_are_its_keys() -> None:
    assert breakdown_rows("district", {"芙蓉区": 1.0, "岳麓区": 2.0}) == [
        {"key": "岳麓区", "parent": "岳麓区", "child": "", "value": 2.0},
        {"key": "芙蓉区", "parent": "芙蓉区", "child": "", "value": 1.0}]
