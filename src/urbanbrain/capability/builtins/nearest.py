"""Nearest facility: the k nearest hospitals, air stations, incidents, ... to a point, within a radius.

"Which hospital is nearest to this incident?" is asked by dispatch, planning and the hotline alike, so
it is one capability over the lake rather than a GIS copy in each department. Distances are great-circle
(haversine) and computed in DuckDB through the query engine, after a bounding-box prefilter that lets
DuckDB skip row groups by their min/max statistics, so a large dataset is not read point by point.

A `facility` names a kind mapped to a dataset and its id, name and coordinate columns. Facilities
without coordinates of their own (the health commission's hospital list holds only a standard address)
are located by joining their address to the address registry's `standard` text — the registry is the
city's one geocoder. Any dataset with coordinates can be queried directly with `dataset` + columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from urbanbrain.capability.base import BuiltinSpec
from urbanbrain.core.errors import ValidationError

EARTH_RADIUS_M = 6_371_008.8
M_PER_DEGREE_LAT = 111_320.0


@dataclass(frozen=True)
class Facility:
    """Where one kind of facility lives: dataset, id/name columns, and either coordinates or an address."""

    dataset: str
    id: str
    name: str
    lon: str | None = "lon"
    lat: str | None = "lat"
    address: str | None = None  # located through the address registry when lon/lat are None
    title_zh: str = ""


FACILITIES: dict[str, Facility] = {
    "hospital": Facility("health.medical_institutions.hospitals", "hospital_id", "name", None, None, "address",
                         "医院"),
    "air_station": Facility("ecology.air_quality.stations", "station_id", "name", title_zh="空气质量监测站"),
    "incident": Facility("emergency.incident_reports.incidents", "incident_id", "kind", title_zh="突发事件"),
    "address": Facility("resources.address_registry.addresses", "address_id", "standard", title_zh="标准地址"),
    "shelter": Facility("emergency.shelters.shelters", "shelter_id", "name", title_zh="应急避难场所"),
}


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (the same formula the SQL uses; for tests and callers)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min lon, max lon, min lat, max lat) enclosing the circle; a little generous, never too tight."""
    dlat = radius_m / M_PER_DEGREE_LAT * 1.01
    cos_lat = max(math.cos(math.radians(min(89.0, abs(lat) + dlat))), 1e-6)
    dlon = min(180.0, radius_m / (M_PER_DEGREE_LAT * cos_lat) * 1.01)
    return lon - dlon, lon + dlon, lat - dlat, lat + dlat


def _facility(params: dict[str, Any]) -> Facility:
    if params.get("dataset"):
        return Facility(str(params["dataset"]), str(params.get("id_column", "id")),
                        str(params.get("name_column", "name")), str(params.get("lon_column", "lon")),
                        str(params.get("lat_column", "lat")))
    kind = str(params.get("facility", "hospital"))
    if kind not in FACILITIES:
        raise ValidationError(f"unknown facility {kind!r}", hint=f"choose one of: {', '.join(FACILITIES)}, "
                                                                 "or pass dataset with its columns")
    return FACILITIES[kind]


def nearest(params: dict[str, Any]) -> dict[str, Any]:
    from urbanbrain.capability.builtins._lake import caller, find_dataset, require_columns, sql_dataset, sql_number
    from urbanbrain.govern.query import run_query
    from urbanbrain.lake.engine import quote_ident as q

    lon, lat = float(params["lon"]), float(params["lat"])
    k, radius = int(params.get("k", 5)), float(params.get("radius_m", 5000))
    fac = _facility(params)
    kind = str(params.get("facility", "custom")) if not params.get("dataset") else "custom"
    ds = find_dataset(fac.dataset, "", (), f"facility {kind!r}")
    require_columns(ds, fac.id, fac.name, *(c for c in (fac.lon, fac.lat, fac.address) if c))
    if fac.lon and fac.lat:
        source = (f"SELECT CAST({q(fac.id)} AS VARCHAR) AS id, CAST({q(fac.name)} AS VARCHAR) AS name, "
                  f"TRY_CAST({q(fac.lon)} AS DOUBLE) AS lon, TRY_CAST({q(fac.lat)} AS DOUBLE) AS lat "
                  f"FROM {sql_dataset(ds.name)}")
        located_by = "coordinates"
    else:
        assert fac.address is not None
        reg = find_dataset(None, "address", (".addresses",), "address registry (to locate facilities)")
        require_columns(reg, "standard", "lon", "lat")
        source = (f"SELECT CAST(f.{q(fac.id)} AS VARCHAR) AS id, CAST(f.{q(fac.name)} AS VARCHAR) AS name, "
                  f"TRY_CAST(a.lon AS DOUBLE) AS lon, TRY_CAST(a.lat AS DOUBLE) AS lat "
                  f"FROM {sql_dataset(ds.name)} f JOIN {sql_dataset(reg.name)} a ON a.standard = f.{q(fac.address)}")
        located_by = f"address registry {reg.name}"
    min_lon, max_lon, min_lat, max_lat = bounding_box(lon, lat, radius)
    p_lon, p_lat = sql_number(lon), sql_number(lat)
    distance = (f"2 * {EARTH_RADIUS_M} * asin(least(1, sqrt(pow(sin(radians(lat - {p_lat}) / 2), 2) + "
                f"cos(radians({p_lat})) * cos(radians(lat)) * pow(sin(radians(lon - {p_lon}) / 2), 2))))")
    sql = (f"WITH f AS ({source}), box AS (SELECT * FROM f WHERE lon BETWEEN {sql_number(min_lon)} AND "
           f"{sql_number(max_lon)} AND lat BETWEEN {sql_number(min_lat)} AND {sql_number(max_lat)}), "
           f"d AS (SELECT id, name, lon, lat, {distance} AS distance_m FROM box) "
           f"SELECT id, name, lon, lat, round(distance_m, 1) AS distance_m FROM d "
           f"WHERE distance_m <= {sql_number(radius)} ORDER BY distance_m, id LIMIT {k}")
    rows = run_query(sql, principal=caller()).table.to_pylist()
    return {"facility": kind, "dataset": ds.name, "located_by": located_by, "count": len(rows), "items": rows}


SPEC = BuiltinSpec(
    name="nearest_facility",
    title_zh="最近设施查询",
    title_en="Nearest facilities",
    description_zh="查询某点周边指定半径内最近的 k 个设施（医院、监测站、突发事件、标准地址、避难场所等），"
                   "按球面距离排序；无坐标的设施通过标准地址库定位。",
    description_en="The k nearest facilities (hospitals, air stations, incidents, addresses, shelters, ...) to a "
                   "point within a radius, by great-circle distance; facilities without coordinates are located "
                   "through the address registry.",
    category="spatial",
    input_schema={
        "type": "object", "required": ["lon", "lat"], "additionalProperties": False,
        "properties": {
            "lon": {"type": "number", "minimum": -180, "maximum": 180},
            "lat": {"type": "number", "minimum": -90, "maximum": 90},
            "k": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5},
            "radius_m": {"type": "number", "exclusiveMinimum": 0, "maximum": 200000, "default": 5000},
            "facility": {"type": "string", "enum": sorted(FACILITIES), "default": "hospital"},
            "dataset": {"type": "string", "description": "any dataset with coordinates (overrides facility)"},
            "id_column": {"type": "string", "default": "id"},
            "name_column": {"type": "string", "default": "name"},
            "lon_column": {"type": "string", "default": "lon"},
            "lat_column": {"type": "string", "default": "lat"},
        },
    },
    output_schema={
        "type": "object", "required": ["facility", "dataset", "count", "items"],
        "properties": {
            "facility": {"type": "string"}, "dataset": {"type": "string"}, "located_by": {"type": "string"},
            "count": {"type": "integer"},
            "items": {"type": "array", "items": {"type": "object", "required": ["id", "name", "distance_m"],
                                                 "properties": {"id": {"type": "string"},
                                                                "name": {"type": ["string", "null"]},
                                                                "distance_m": {"type": "number"},
                                                                "lon": {"type": "number"},
                                                                "lat": {"type": "number"}}}},
        },
    },
    func=nearest,
    owner="bigdata",
    examples=[{"params": {"lon": 112.98, "lat": 28.2, "k": 3, "radius_m": 10000, "facility": "hospital"}}],
)
