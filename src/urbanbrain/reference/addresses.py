"""Chinese addresses: split, normalise and score, with no lake in sight (governance, One ID and the
address built-in all use it).

Every department writes addresses its own way (with or without province, 长沙 for 长沙市, full-width
digits, 3-2-501 for building-unit-room, 路 for 大道). Linking records across departments needs one
form and, better, one registry id. The parser here is small on purpose: divisions come from the
dictionary inside `cpca` (prefix matching over ~3,500 names), the rest from regexes for 街道/镇/乡,
路/街/大道/巷 + 号, 栋/幢, 单元, 室. `cpca.transform` was measured here: 0.3 s to import (it pulls in
pandas), 0.7 s for its first call, and it stops at the district, so it is not used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from urbanbrain.reference.divisions import Division, divisions

_FULL_WIDTH = str.maketrans("０１２３４５６７８９－—（）", "0123456789--()")
_PROVINCE_SUFFIXES = ("壮族自治区", "回族自治区", "维吾尔自治区", "自治区", "特别行政区", "省", "市")
_CITY_SUFFIXES = ("自治州", "地区", "盟", "市")
_ROAD_SUFFIX = r"(?:大道|大街|路|街|巷|弄|道|线|段|里)"
_STREET = re.compile(r"^(.{1,10}?(?:街道|镇|乡))(?![路街道巷])")
_COMMUNITY = re.compile(r"^(.{1,8}?(?:社区|村))(?![路街道巷])")
_NAMED_ROAD = re.compile(r"大道|大街|路|街(?!道)|巷")
_ROAD_NUMBER = re.compile(r"^(.+?)(\d+)号(?!楼)")
_ROAD_ONLY = re.compile(rf"^(.+?{_ROAD_SUFFIX})(?![路街道巷])")
_BUILDING = re.compile(r"^(\d+)(?:栋|幢|号楼|座)")
_UNIT = re.compile(r"^(\d+)单元")
_ROOM = re.compile(r"^(\d+)(?:室|号房|房)?$|^(\d+)(?:室|号房|房)")
_DASHED = re.compile(r"^(\d+)-(\d+)(?:-(\d+))?")
# match weights: what a part of the address contributes to the score when it agrees with the registry
WEIGHTS = {"road": 0.35, "number": 0.30, "district": 0.15, "building": 0.10, "unit": 0.05, "room": 0.05}


@dataclass(frozen=True)
class _Names:
    """Prefix-match tables built once from the dictionary: name -> codes (full and short names)."""

    provinces: dict[str, list[str]]
    cities: dict[str, list[str]]
    districts: dict[str, list[str]]


def _strip(name: str, suffixes: tuple[str, ...]) -> str:
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


@lru_cache(maxsize=1)
def _names() -> _Names:
    provinces: dict[str, list[str]] = {}
    cities: dict[str, list[str]] = {}
    districts: dict[str, list[str]] = {}
    for d in divisions().values():
        if d.level == "province":
            for name in {d.name, _strip(d.name, _PROVINCE_SUFFIXES)}:
                provinces.setdefault(name, []).append(d.code)
        elif d.level == "city" and d.name not in ("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"):
            for name in {d.name, _strip(d.name, _CITY_SUFFIXES)}:
                cities.setdefault(name, []).append(d.code)
        elif d.level == "district" and d.name != "市辖区":
            districts.setdefault(d.name, []).append(d.code)  # full names only: 芙蓉 alone is also 芙蓉中路
    return _Names(provinces, cities, districts)


def _prefix(text: str, table: dict[str, list[str]], allowed: str = "") -> tuple[str, str] | None:
    """Longest name in `table` that `text` starts with and whose code starts with `allowed`."""
    best: tuple[str, str] | None = None
    for size in range(min(len(text), 12), 1, -1):
        if _NAMED_ROAD.match(text, size):
            continue  # 长沙大道, 北京路: a division's name that begins a road's is the road's
        codes = [c for c in table.get(text[:size], []) if c.startswith(allowed)]
        if codes:
            best = (text[:size], sorted(codes)[0])
            break
    return best


def _municipality(code: str) -> bool:
    return code[:2] in ("11", "12", "31", "50")


def parse(text: str, default_city: str | None = None) -> dict[str, Any]:
    """Split an address into parts; divisions come back as full dictionary names with codes."""
    rest = re.sub(r"\s+", "", text.translate(_FULL_WIDTH))
    names, table = _names(), divisions()
    province: str | None = None
    city: str | None = None
    district: str | None = None
    hit = _prefix(rest, names.provinces)
    if hit and not (divisions()[hit[1]].name != hit[0] and rest[len(hit[0]):][:1] in ("市", "县", "区")):
        province, rest = hit[1], rest[len(hit[0]):]  # but 吉林 in 吉林市 is the city, not the province
    if province and _municipality(province):
        city = province[:2] + "0100"
    else:
        hit = _prefix(rest, names.cities, province[:2] if province else "")
        longer = _prefix(rest, names.districts, province[:2] if province else "")
        if hit and not (longer and len(longer[0]) > len(hit[0])):
            city, rest = hit[1], rest[len(hit[0]):]
    scope = city[:4] if city and not _municipality(city) else (city or province or "")[:2]
    hit = None
    if not scope and default_city:  # a bare district name (朝阳区 exists twice): prefer the city we serve
        hit = _prefix(rest, names.districts, default_city[:4])
    hit = hit or _prefix(rest, names.districts, scope)
    if hit:
        district, rest = hit[1], rest[len(hit[0]):]
    parts: dict[str, Any] = {}
    for key, pattern in (("street", _STREET), ("community", _COMMUNITY)):
        m = pattern.match(rest)
        if m:
            parts[key], rest = m.group(1), rest[m.end():]
    m = _ROAD_NUMBER.match(rest)
    if m:
        parts["road"], parts["number"], rest = m.group(1), int(m.group(2)), rest[m.end():]
    else:
        m = _ROAD_ONLY.match(rest)
        if m:
            parts["road"], rest = m.group(1), rest[m.end():]
    m = _DASHED.match(rest)
    if m:
        parts["building"] = int(m.group(1))
        if m.group(3):
            parts["unit"], parts["room"] = int(m.group(2)), int(m.group(3))
        else:
            parts["room"] = int(m.group(2))
        rest = rest[m.end():]
    else:
        for key, pattern in (("building", _BUILDING), ("unit", _UNIT), ("room", _ROOM)):
            m = pattern.match(rest)
            if m:
                parts[key], rest = int(m.group(1) or m.group(2)), rest[m.end():]
    if rest:
        parts["detail"] = rest
    filled: list[str] = []
    if district and not city:
        city = district[:4] + "00" if not _municipality(district) else district[:2] + "0100"
        filled.append("city")
    if city and not province:
        province = city[:2] + "0000"
        filled.append("province")
    return {**_division_fields(province, city, district, table), **parts, "filled": filled}


def _division_fields(province: str | None, city: str | None, district: str | None,
                     table: dict[str, Division]) -> dict[str, Any]:
    def name(code: str | None) -> str | None:
        if code is None or code not in table:
            return None
        if table[code].name == "市辖区":
            return table[code[:2] + "0000"].name
        return table[code].name

    return {"province": name(province), "city": name(city), "district": name(district),
            "district_code": district or city or province}


def road_core(road: str) -> str:
    """路 and 大道 are written interchangeably (五一路 for 五一大道); compare roads without them."""
    for suffix in ("大道", "大街", "路", "街", "巷", "道"):
        if road.endswith(suffix) and len(road) > len(suffix):
            return road[: -len(suffix)]
    return road


def standard_text(parts: dict[str, Any]) -> str:
    keys = ["province", "city", "district", "street", "road"]
    if parts.get("city") and parts.get("city") == parts.get("province"):
        keys.remove("city")  # municipalities: 北京市朝阳区, not 北京市北京市朝阳区
    out = "".join(str(parts.get(k) or "") for k in keys)
    if parts.get("number") is not None:
        out += f"{parts['number']}号"
    for key, unit in (("building", "栋"), ("unit", "单元"), ("room", "室")):
        if parts.get(key) is not None:
            out += f"{parts[key]}{unit}"
    return out + str(parts.get("detail") or "")


def _score(parts: dict[str, Any], row: dict[str, Any]) -> float:
    score = 0.0
    road = str(row.get("road") or "")
    if parts.get("road"):
        if parts["road"] == road:
            score += WEIGHTS["road"]
        elif road_core(parts["road"]) == road_core(road):
            score += WEIGHTS["road"] * 0.85
    if parts.get("district") and row.get("district"):
        score += WEIGHTS["district"] if parts["district"] == row["district"] else -WEIGHTS["district"]
    for key in ("number", "building", "unit", "room"):
        if parts.get(key) is not None and row.get(key) is not None:
            score += WEIGHTS[key] if int(parts[key]) == int(row[key]) else -WEIGHTS[key] / 2
    return round(max(0.0, score), 3)
