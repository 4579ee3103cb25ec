"""Changsha's real districts and counties, their streets and roads, and the address registry built on them.

Division names, codes and centres come from the administrative-division dictionary that ships inside
`cpca` (its `resources/adcodes.csv`), so the demo city uses real codes rather than invented ones. The
file is read directly (without importing `cpca`, which would pull in pandas and build an automaton).
`cpca`'s dictionary predates 2017, when 宁乡县 (430124) became the county-level city 宁乡市 (430182);
that one change is applied here, on purpose and visibly.

Subdistricts (街道/镇) and roads are real names per district; communities are plausible made-up ones.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa

from urbanbrain.core.errors import ConfigurationError
from urbanbrain.reference.divisions import adcodes_file

PROVINCE, PROVINCE_CODE = "湖南省", "430000"
CITY, CITY_CODE = "长沙市", "430100"

# cpca's dictionary is older than these re-designations (State Council approvals).
RENAMED = {"430124": ("430182", "宁乡市")}

ENGLISH = {
    "430102": "Furong", "430103": "Tianxin", "430104": "Yuelu", "430105": "Kaifu", "430111": "Yuhua",
    "430112": "Wangcheng", "430121": "Changsha County", "430181": "Liuyang", "430182": "Ningxiang",
}
SLUG = {"430102": "furong", "430103": "tianxin", "430104": "yuelu", "430105": "kaifu", "430111": "yuhua",
        "430112": "wangcheng", "430121": "changsha", "430181": "liuyang", "430182": "ningxiang"}
# Relative population weights (roughly the 2020 census shares) so addresses cluster realistically.
WEIGHT = {"430102": 6.0, "430103": 7.5, "430104": 15.0, "430105": 8.5, "430111": 12.0, "430112": 8.0,
          "430121": 14.0, "430181": 14.5, "430182": 14.5}

STREETS = {
    "430102": ("文艺路街道 朝阳街道 韭菜园街道 五里牌街道 火星街道 马王堆街道 "
               "东屯渡街道 湘湖街道 定王台街道 东岸街道 荷花园街道 东湖街道 马坡岭街道"),
    "430103": ("坡子街街道 城南路街道 裕南街街道 金盆岭街道 新开铺街道 青园街道 "
               "桂花坪街道 赤岭路街道 南托街道 大托铺街道 先锋街道 黑石铺街道 暮云街道"),
    "430104": ("岳麓街道 橘子洲街道 望月湖街道 银盆岭街道 观沙岭街道 西湖街道 咸嘉湖街道 "
               "望城坡街道 梅溪湖街道 麓谷街道 坪塘街道 含浦街道 洋湖街道 学士街道 莲花镇"),
    "430105": ("东风路街道 湘雅路街道 望麓园街道 清水塘街道 芙蓉北路街道 伍家岭街道 新河街道 "
               "通泰街街道 四方坪街道 洪山街道 月湖街道 秀峰街道 青竹湖街道 捞刀河街道 沙坪街道"),
    "430111": ("侯家塘街道 左家塘街道 雨花亭街道 高桥街道 圭塘街道 砂子塘街道 "
               "东塘街道 洞井街道 黎托街道 井湾子街道 东山街道 同升街道"),
    "430112": ("高塘岭街道 大泽湖街道 月亮岛街道 金山桥街道 丁字湾街道 白沙洲街道 "
               "乌山街道 黄金园街道 铜官街道 茶亭镇 靖港镇 乔口镇"),
    "430121": ("星沙街道 湘龙街道 泉塘街道 榔梨街道 黄兴镇 江背镇 黄花镇 "
               "春华镇 果园镇 路口镇 金井镇 福临镇 安沙镇 北山镇"),
    "430181": ("淮川街道 集里街道 荷花街道 关口街道 永安镇 大瑶镇 金刚镇 "
               "文家市镇 社港镇 沙市镇 官渡镇 古港镇 北盛镇 洞阳镇"),
    "430182": "玉潭街道 白马桥街道 历经铺街道 城郊街道 金洲镇 双江口镇 灰汤镇 花明楼镇 道林镇 煤炭坝镇 大成桥镇 横市镇",
}
ROADS = {
    "430102": "五一大道 韶山北路 解放西路 八一路 蔡锷中路 芙蓉中路 人民东路 车站北路 晚报大道 远大一路 东二环一段",
    "430103": "劳动西路 书院路 芙蓉南路 湘府中路 雀园路 新开铺路 城南西路 坡子街 黄兴南路 天心路 暮云大道",
    "430104": "麓山南路 枫林一路 金星中路 岳麓大道 桐梓坡路 潇湘中路 梅溪湖路 麓谷大道 含浦大道 银盆南路 望岳路",
    "430105": "湘江中路 芙蓉北路 湘雅路 中山路 营盘东路 三一大道 福城路 金泰路 北辰西路 开福寺路 东风路",
    "430111": "韶山中路 劳动东路 香樟路 万家丽中路 长沙大道 曙光中路 圭塘路 井湾路 洞井路 人民中路 树木岭路",
    "430112": "雷锋大道 郭亮路 金星北路 腾飞路 旺旺路 马桥河路 同心路 望城大道",
    "430121": "开元东路 星沙大道 漓湘路 东八线 泉塘路 天华路 黄兴大道 板仓路",
    "430181": "金沙路 白沙路 花炮大道 浏阳大道 道吾路 北正路 圭斋路 沿河路",
    "430182": "玉潭路 花明路 新康路 人民路 一环路 金洲大道 春城路 东沩路",
}
COMMUNITY_WORDS = list("东南西北新和平安康乐丽华荣桂樟湘岳麓清水金银星月竹兴隆福泰盛嘉")


@dataclass(frozen=True)
class District:
    """A district or county of Changsha: real code, name and centre; real subdistricts and roads."""

    code: str
    name: str
    name_en: str
    slug: str
    lon: float
    lat: float
    weight: float
    streets: tuple[str, ...]
    roads: tuple[str, ...]


@lru_cache(maxsize=1)
def districts() -> tuple[District, ...]:
    """The nine districts and counties of Changsha, in code order."""
    found: dict[str, District] = {}
    with adcodes_file().open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            code = row["adcode"][:6]
            if not code.startswith("4301") or code.endswith("00") or code == "430101" or not row["longitude"]:
                continue
            code, name = RENAMED.get(code, (code, row["name"]))
            if code not in ENGLISH:
                continue
            found[code] = District(code, name, ENGLISH[code], SLUG[code], float(row["longitude"]),
                                   float(row["latitude"]), WEIGHT[code], tuple(STREETS[code].split()),
                                   tuple(ROADS[code].split()))
    missing = sorted(set(ENGLISH) - set(found))
    if missing:
        raise ConfigurationError(f"cpca's dictionary lacks Changsha divisions {missing}",
                                 hint="upgrade cpca, or pin the version the demo was written against")
    return tuple(found[c] for c in sorted(found))


def district_by_code(code: str) -> District:
    return next(d for d in districts() if d.code == code)


def community(street: str, k: int) -> str:
    """A stable, plausible community (社区/村) name for the k-th community of a street."""
    seed = sum(ord(c) for c in street) * 31 + k * 7
    a, b = COMMUNITY_WORDS[seed % len(COMMUNITY_WORDS)], COMMUNITY_WORDS[(seed // 7 + k) % len(COMMUNITY_WORDS)]
    suffix = "村" if street.endswith("镇") and k % 2 else "社区"
    return f"{a}{b}{suffix}"


def addresses(n: int, rng: np.random.Generator) -> pa.Table:
    """The standard address registry (natural resources' 标准地址库): one row per dwelling.

    Columns: address_id, district_code, district, street, community, road, number, building, unit,
    room, lon, lat, standard (the canonical full text). Kept in memory: even `large` has ~1M rows.
    """
    ds = districts()
    weights = np.array([d.weight for d in ds])
    di = rng.choice(len(ds), size=n, p=weights / weights.sum())
    street_i = rng.integers(0, 64, n)
    road_i = rng.integers(0, 64, n)
    comm_i = rng.integers(0, 6, n)
    number = rng.integers(1, 800, n)
    building = rng.integers(1, 30, n)
    unit = rng.integers(1, 5, n)
    floor = rng.integers(1, 33, n)
    room = floor * 100 + rng.integers(1, 5, n)
    codes, dnames, streets, roads, comms = [], [], [], [], []
    for k in range(n):  # cheap: ~1 µs per row, and the registry is the smallest truth table
        d = ds[di[k]]
        street = d.streets[street_i[k] % len(d.streets)]
        codes.append(d.code)
        dnames.append(d.name)
        streets.append(street)
        roads.append(d.roads[road_i[k] % len(d.roads)])
        comms.append(community(street, int(comm_i[k])))
    lon = np.array([ds[i].lon for i in di]) + rng.normal(0, 0.03, n)
    lat = np.array([ds[i].lat for i in di]) + rng.normal(0, 0.025, n)
    ids = np.char.add("A", np.char.zfill(np.arange(1, n + 1).astype(str), 8))
    table = pa.table({
        "address_id": ids, "district_code": codes, "district": dnames, "street": streets, "community": comms,
        "road": roads, "number": number, "building": building, "unit": unit, "room": room,
        "lon": np.round(lon, 6), "lat": np.round(lat, 6),
    })
    return table.append_column("standard", pa.array(format_addresses(table, np.zeros(n, dtype=np.int8))))


STYLES = 6


def format_addresses(table: pa.Table, style: np.ndarray) -> list[str]:
    """Render addresses in the ways different departments write them (style 0 is the standard form).

    0 湖南省长沙市芙蓉区五一大道123号3栋2单元501室   1 长沙市芙蓉区五一大道123号
    2 芙蓉区五一大道123号3栋501                       3 长沙芙蓉区五一路123号3-2-501 (大道→路, dashes)
    4 五一大道123号3栋2单元501室 (no district)        5 湖南长沙芙蓉区文艺路街道五一大道１２３号 (full-width)
    """
    cols = {c: table.column(c).to_pylist() for c in ("district", "street", "road", "number", "building", "unit",
                                                       "room")}
    full = str.maketrans("0123456789", "０１２３４５６７８９")
    out: list[str] = []
    for k, s in enumerate(style.tolist()):
        d, st, r = cols["district"][k], cols["street"][k], cols["road"][k]
        no, b, u, rm = cols["number"][k], cols["building"][k], cols["unit"][k], cols["room"][k]
        if s == 0:
            out.append(f"{PROVINCE}{CITY}{d}{r}{no}号{b}栋{u}单元{rm}室")
        elif s == 1:
            out.append(f"{CITY}{d}{r}{no}号")
        elif s == 2:
            out.append(f"{d}{r}{no}号{b}栋{rm}")
        elif s == 3:
            out.append(f"长沙{d}{r.replace('大道', '路')}{no}号{b}-{u}-{rm}")
        elif s == 4:
            out.append(f"{r}{no}号{b}栋{u}单元{rm}室")
        else:
            out.append(f"湖南长沙{d}{st}{r}{str(no).translate(full)}号")
    return out
