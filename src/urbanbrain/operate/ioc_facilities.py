"""The wall's facilities layer: fixed places (monitoring stations, hospitals, schools, hazardous-chemicals
enterprises, and any dataset with an id, a name and coordinates or an address) read from the lake as the
signed-in user, through the same governed query path as any SQL.

Why not a table of its own: the places already live in departments' datasets with their owners' sharing
rules, and a second copy would need a second policy. Each source is read with `govern.query.run_query` as
the viewer, so a viewer who may not read the dataset (or its columns) gets no points from it, a row
filter keeps only the rows the viewer may see, and every read is in the access log. A source with an
address and no coordinates is placed by `operate.ioc_geocode` (the address registry, cached per registry
snapshot), from the address text the viewer read: a masked address places nothing. A source whose
dataset does not exist in this city (or fails) is left out; the wall never fails for one layer.

The legend says how many of the facilities the viewer may see were placed ("n of m located"): a facility
whose address did not match the registry is counted, not silently dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from urbanbrain.core.errors import UrbanBrainError
from urbanbrain.govern.principals import Principal

MAX_FACILITIES = 5000


@dataclass(frozen=True)
class FacilitySource:
    """Where a kind of facility lives: the dataset and its id, name and (optional) kind columns, and either
    coordinate columns or an address column (`address` set: geocoded against the address registry)."""

    dataset: str
    kind_zh: str
    kind_en: str
    id: str = "id"
    name: str = "name"
    lon: str = "lon"
    lat: str = "lat"
    kind: str | None = None
    address: str | None = None


# The demo city's facilities: the air-quality monitoring stations (国控点 / 市控点) have coordinates; the
# hospitals, schools and hazardous-chemicals enterprises have addresses, placed through the registry.
SOURCES: tuple[FacilitySource, ...] = (
    FacilitySource("ecology.air_quality.stations", "空气质量监测站", "air-quality station", id="station_id",
                   kind="kind"),
    FacilitySource("health.medical_institutions.hospitals", "医疗机构", "hospital", id="hospital_id",
                   kind="level", address="address"),
    FacilitySource("education.school_registry.schools_sheet1", "学校", "school", id="school_id", name="学校名称",
                   address="学校地址"),
    FacilitySource("emergency.hazard_enterprises.hazard_ledger_sheet1", "危险化学品企业",
                   "hazardous-chemicals enterprise", id="ledger_id", name="单位名称", kind="风险等级", address="地址"),
)


def _ident(name: str) -> str:
    from urbanbrain.lake.engine import quote_ident

    return quote_ident(name)


def _sql(src: FacilitySource) -> str:
    where = [src.address] if src.address else [src.lon, src.lat]
    cols = [src.id, src.name, *where] + ([src.kind] if src.kind else [])
    table = ".".join(_ident(p) for p in src.dataset.split("."))
    return f"SELECT {', '.join(_ident(c) for c in cols)} FROM {table} ORDER BY {_ident(src.id)}"


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def facilities(by: Principal, sources: tuple[FacilitySource, ...] = SOURCES, lang: str = "zh-CN"
               ) -> dict[str, Any]:
    """The facilities `by` may see: map points (`layer: facilities`), and per source how many rows `by`
    read (`total`) and how many of them were placed on the map (`located`)."""
    from urbanbrain.govern.query import run_query
    from urbanbrain.lake.datasets import get_dataset
    from urbanbrain.operate.ioc_geocode import locate

    points: list[dict[str, Any]] = []
    counts: list[dict[str, Any]] = []
    for src in sources:
        try:
            get_dataset(src.dataset)
            rows = run_query(_sql(src), max_rows=MAX_FACILITIES, principal=by).table.to_pylist()
        except UrbanBrainError:  # absent here, or not readable by this viewer: no points from it
            continue
        label_kind = src.kind_zh if lang == "zh-CN" else src.kind_en
        placed = locate(str(r[src.address]) for r in rows if r.get(src.address)) if src.address else {}
        located = 0
        for r in rows:
            if src.address:
                pos = placed.get(str(r.get(src.address) or "").strip())
                lon, lat = (pos.lon, pos.lat) if pos else (None, None)
            else:
                lon, lat = _number(r.get(src.lon)), _number(r.get(src.lat))
            if lon is None or lat is None:
                continue
            located += 1
            kind = r.get(src.kind) if src.kind else None
            points.append({"id": f"f:{src.dataset}:{r[src.id]}", "lon": lon, "lat": lat,
                           "state": "facility", "layer": "facilities", "kind": src.kind_en,
                           "label": f"{r[src.name]} · {label_kind}" + (f" ({kind})" if kind else "")})
        counts.append({"dataset": src.dataset, "kind": label_kind, "total": len(rows), "located": located})
    return {"points": points, "sources": counts, "total": sum(c["total"] for c in counts),
            "located": sum(c["located"] for c in counts)}


def facility_points(by: Principal, sources: tuple[FacilitySource, ...] = SOURCES, lang: str = "zh-CN"
                    ) -> list[dict[str, Any]]:
    """The facilities `by` may see, as map points (`layer: facilities`)."""
    return list(facilities(by, sources, lang)["points"])


def prime_geocodes(sources: tuple[FacilitySource, ...] = SOURCES) -> int:
    """Fill `operate.ioc_geocode`'s cache with the positions of the sources' addresses, so the first viewer
    after a server start does not wait for the registry (3.6 s first, 0.34 s cached on the demo city).
    Returns how many addresses were looked up.

    The address texts are read as `SYSTEM` (platform work, through the query engine, so in the access log)
    and only feed the cache, whose answer (address text -> position) is the same for every viewer; nothing
    read here is returned to anyone. A viewer still reads the facility rows as themselves at request time,
    and gets a position only for an address text they read (`facilities`)."""
    from urbanbrain.govern.principals import SYSTEM
    from urbanbrain.govern.query import run_query
    from urbanbrain.lake.datasets import get_dataset
    from urbanbrain.operate.ioc_geocode import locate

    looked = 0
    for src in sources:
        if not src.address:
            continue
        try:
            get_dataset(src.dataset)
            table = ".".join(_ident(p) for p in src.dataset.split("."))
            rows = run_query(f"SELECT {_ident(src.address)} FROM {table} ORDER BY {_ident(src.id)}",
                             max_rows=MAX_FACILITIES, principal=SYSTEM).table.column(0).to_pylist()
        except UrbanBrainError:  # absent in this city, or unreadable now: its first viewer pays
            continue
        texts = [str(a) for a in rows if a]
        locate(texts)
        looked += len(texts)
    return looked
