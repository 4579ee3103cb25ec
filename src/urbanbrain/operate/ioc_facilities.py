"""The wall's facilities layer: fixed places (monitoring stations, and any dataset with an id, a name and
coordinates) read from the lake as the signed-in user, through the same governed query path as any SQL.

Why not a table of its own: the places already live in departments' datasets with their owners' sharing
rules, and a second copy would need a second policy. Each source is read with `govern.query.run_query` as
the viewer, so a viewer who may not read the dataset (or its coordinate columns) gets no points from it,
a row filter keeps only the rows the viewer may see, and every read is in the access log. A source whose
dataset does not exist in this city (or fails) is left out; the wall never fails for one layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from urbanbrain.core.errors import UrbanBrainError
from urbanbrain.govern.principals import Principal

MAX_FACILITIES = 5000


@dataclass(frozen=True)
class FacilitySource:
    """Where a kind of facility lives: the dataset and its id, name, coordinate and (optional) kind columns."""

    dataset: str
    kind_zh: str
    kind_en: str
    id: str = "id"
    name: str = "name"
    lon: str = "lon"
    lat: str = "lat"
    kind: str | None = None


# The demo city's facilities with coordinates: the air-quality monitoring stations (国控点 / 市控点).
# Its hospitals and schools carry addresses but no coordinates, so they are not on the map (yet).
SOURCES: tuple[FacilitySource, ...] = (
    FacilitySource("ecology.air_quality.stations", "空气质量监测站", "air-quality station", id="station_id",
                   kind="kind"),
)


def _ident(name: str) -> str:
    from urbanbrain.lake.engine import quote_ident

    return quote_ident(name)


def _sql(src: FacilitySource) -> str:
    cols = [src.id, src.name, src.lon, src.lat] + ([src.kind] if src.kind else [])
    table = ".".join(_ident(p) for p in src.dataset.split("."))
    return (f"SELECT {', '.join(_ident(c) for c in cols)} FROM {table} "
            f"WHERE {_ident(src.lon)} IS NOT NULL AND {_ident(src.lat)} IS NOT NULL")


def facility_points(by: Principal, sources: tuple[FacilitySource, ...] = SOURCES, lang: str = "zh-CN"
                    ) -> list[dict[str, Any]]:
    """The facilities `by` may see, as map points (`layer: facilities`)."""
    from urbanbrain.govern.query import run_query
    from urbanbrain.lake.datasets import get_dataset

    out: list[dict[str, Any]] = []
    for src in sources:
        try:
            get_dataset(src.dataset)
            rows = run_query(_sql(src), max_rows=MAX_FACILITIES, principal=by).table.to_pylist()
        except UrbanBrainError:  # absent here, or not readable by this viewer: no points from it
            continue
        label_kind = src.kind_zh if lang == "zh-CN" else src.kind_en
        for r in rows:
            kind = r.get(src.kind) if src.kind else None
            out.append({"id": f"f:{src.dataset}:{r[src.id]}", "lon": float(r[src.lon]), "lat": float(r[src.lat]),
                        "state": "facility", "layer": "facilities",
                        "label": f"{r[src.name]} · {label_kind}" + (f" ({kind})" if kind else "")})
    return out
