"""District boundary polygons: which district a point lies in, and the city map's GeoJSON.

Boundaries ship inside the package (`reference/boundaries/<code>.geojson`, see SOURCE.txt there), so
the case locator and the operations-centre map need no download and no map tiles. Only the cities
whose files are bundled have polygons; for any other `URBANBRAIN_CITY_CODE` `has_polygons` is false
and callers fall back to the nearest district centre. Point-in-polygon is plain ray casting with a
bounding-box pre-filter: ten districts of a few thousand vertices each answer in microseconds, which
keeps shapely out of the dependencies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_suffix("")  # reference/boundaries/

Ring = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class District:
    """One district's name, code and polygons (each polygon: outer ring, then holes)."""

    code: str
    name: str
    polygons: tuple[tuple[Ring, ...], ...]
    bbox: tuple[float, float, float, float]  # min lon, min lat, max lon, max lat

    def contains(self, lon: float, lat: float) -> bool:
        x0, y0, x1, y1 = self.bbox
        if not (x0 <= lon <= x1 and y0 <= lat <= y1):
            return False
        for polygon in self.polygons:
            if _in_ring(polygon[0], lon, lat) and not any(_in_ring(h, lon, lat) for h in polygon[1:]):
                return True
        return False

    def geometry(self) -> dict[str, Any]:
        return {"type": "MultiPolygon",
                "coordinates": [[[list(p) for p in ring] for ring in poly] for poly in self.polygons]}


def _in_ring(ring: Ring, x: float, y: float) -> bool:
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def _polygons(geometry: dict[str, Any]) -> tuple[tuple[Ring, ...], ...]:
    if geometry.get("type") == "Feature":
        geometry = geometry["geometry"]
    coords = geometry["coordinates"]
    polys = [coords] if geometry["type"] == "Polygon" else coords
    return tuple(tuple(tuple((float(p[0]), float(p[1])) for p in ring) for ring in poly) for poly in polys)


@lru_cache(maxsize=8)
def districts(city: str) -> tuple[District, ...]:
    """The bundled districts of a prefecture-level city code (empty when none are bundled)."""
    from urbanbrain.reference.divisions import divisions

    names = divisions()
    out = []
    for path in sorted(DATA.glob(f"{city[:4]}*.geojson")):
        code = path.stem
        if code.endswith("00"):
            continue
        polys = _polygons(json.loads(path.read_text(encoding="utf-8")))
        xs = [p[0] for poly in polys for p in poly[0]]
        ys = [p[1] for poly in polys for p in poly[0]]
        division = names.get(code)
        out.append(District(code, division.name if division else code, polys, (min(xs), min(ys), max(xs), max(ys))))
    return tuple(out)


def has_polygons(city: str) -> bool:
    return bool(districts(city))


def district_at(city: str, lon: float, lat: float) -> District | None:
    """The district containing the point, or None when it lies outside every bundled district."""
    for district in districts(city):
        if district.contains(lon, lat):
            return district
    return None


def feature_collection(city: str) -> dict[str, Any]:
    """The districts as a GeoJSON FeatureCollection (properties: code, name) for maps."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": d.code, "properties": {"code": d.code, "name": d.name},
         "geometry": d.geometry()} for d in districts(city)]}
