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
from dataclasses import dataclass, field
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
    bands: tuple[tuple[Bands, ...], ...] = field(default=(), compare=False, repr=False)

    def contains(self, lon: float, lat: float) -> bool:
        x0, y0, x1, y1 = self.bbox
        if not (x0 <= lon <= x1 and y0 <= lat <= y1):
            return False
        polygons = self.bands or tuple(tuple(Bands.of(r) for r in p) for p in self.polygons)
        for polygon in polygons:
            if polygon[0].inside(lon, lat) and not any(h.inside(lon, lat) for h in polygon[1:]):
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


class Bands:
    """A ring's edges bucketed by latitude band: ray casting tests only the edges of the point's band, not all
    few thousand (the Open311 pipeline locates every report; ~0.2 ms a point before, a few us now). Exact:
    every edge that straddles a latitude lies in that latitude's band."""

    __slots__ = ("buckets", "step", "y0")
    COUNT = 128

    def __init__(self, y0: float, step: float, buckets: list[list[tuple[float, float, float, float]]]) -> None:
        self.y0, self.step, self.buckets = y0, step, buckets

    @classmethod
    def of(cls, ring: Ring) -> Bands:
        ys = [p[1] for p in ring]
        y0, y1 = min(ys), max(ys)
        step = (y1 - y0) / cls.COUNT or 1.0
        buckets: list[list[tuple[float, float, float, float]]] = [[] for _ in range(cls.COUNT)]
        j = len(ring) - 1
        for i in range(len(ring)):
            (xi, yi), (xj, yj) = ring[i], ring[j]
            lo = max(0, min(cls.COUNT - 1, int((min(yi, yj) - y0) / step)))
            hi = max(0, min(cls.COUNT - 1, int((max(yi, yj) - y0) / step)))
            for b in range(lo, hi + 1):
                buckets[b].append((xi, yi, xj, yj))
            j = i
        return cls(y0, step, buckets)

    def inside(self, x: float, y: float) -> bool:
        b = int((y - self.y0) / self.step)
        if not 0 <= b < len(self.buckets):
            return False
        inside = False
        for xi, yi, xj, yj in self.buckets[b]:
            if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
                inside = not inside
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
        out.append(District(code, division.name if division else code, polys, (min(xs), min(ys), max(xs), max(ys)),
                            tuple(tuple(Bands.of(r) for r in p) for p in polys)))
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


WALL_TOLERANCE = 0.0005  # degrees (~50 m): under a pixel of the whole city on a 3840-pixel-wide wall


def _douglas_peucker(points: list[tuple[float, float]], tolerance: float) -> list[tuple[float, float]]:
    """The polyline's points kept by Douglas-Peucker (first and last always kept); iterative, so a border of
    thousands of points needs no deep recursion."""
    if len(points) < 3:
        return list(points)
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (x0, y0), (x1, y1) = points[first], points[last]
        dx, dy = x1 - x0, y1 - y0
        norm = (dx * dx + dy * dy) ** 0.5
        worst, at = -1.0, -1
        for i in range(first + 1, last):
            px, py = points[i]
            d = abs(dy * (px - x0) - dx * (py - y0)) / norm if norm else ((px - x0) ** 2 + (py - y0) ** 2) ** 0.5
            if d > worst:
                worst, at = d, i
        if at > 0 and worst > tolerance:
            keep[at] = True
            stack += [(first, at), (at, last)]
    return [p for p, k in zip(points, keep, strict=True) if k]


def simplified(city: str, tolerance: float = WALL_TOLERANCE) -> tuple[District, ...]:
    """The districts with fewer vertices for drawing (the wall's map), borders kept shared.

    Each ring is cut into arcs at its junctions (the vertices where the set of rings sharing a vertex
    changes: where three districts meet, or a shared border ends), and each arc is simplified on its own
    with its ends fixed. Two neighbours share the same arc (in opposite directions), simplified once in a
    canonical direction, so no gap or overlap opens along a border. Rings that would collapse keep their
    vertices. Point-in-polygon (`district_at`) keeps using the original polygons."""
    return _simplified(city, tolerance)


@lru_cache(maxsize=8)
def _simplified(city: str, tolerance: float) -> tuple[District, ...]:
    full = districts(city)
    owners: dict[tuple[float, float], set[int]] = {}
    rings = [ring for d in full for poly in d.polygons for ring in poly]
    for n, ring in enumerate(rings):
        for p in ring:
            owners.setdefault(p, set()).add(n)
    arcs: dict[tuple[tuple[float, float], ...], list[tuple[float, float]]] = {}

    def arc(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        forward = tuple(points)
        backward = forward[::-1]
        key = min(forward, backward)
        if key not in arcs:
            arcs[key] = _douglas_peucker(list(key), tolerance)
        return arcs[key] if key == forward else arcs[key][::-1]

    def simplify_ring(ring: Ring) -> Ring:
        pts = list(ring[:-1]) if len(ring) > 1 and ring[0] == ring[-1] else list(ring)
        if len(pts) < 4:
            return ring
        m = len(pts)
        fixed = [i for i in range(m)
                 if owners[pts[i]] != owners[pts[i - 1]] or owners[pts[i]] != owners[pts[(i + 1) % m]]]
        if not fixed:
            far = max(range(m), key=lambda i: (pts[i][0] - pts[0][0]) ** 2 + (pts[i][1] - pts[0][1]) ** 2)
            fixed = sorted({0, far})
        out: list[tuple[float, float]] = []
        for k, start in enumerate(fixed):
            end = fixed[(k + 1) % len(fixed)]
            span = pts[start:end + 1] if end > start else pts[start:] + pts[:end + 1]
            out += arc(span)[:-1]
        out.append(out[0])
        return tuple(out) if len(out) >= 4 else ring

    result = []
    for d in full:
        polys = tuple(tuple(simplify_ring(r) for r in poly) for poly in d.polygons)
        result.append(District(d.code, d.name, polys, d.bbox))
    return tuple(result)


def feature_collection_for(city: str, detail: str = "wall") -> dict[str, Any]:
    """`feature_collection` with the wall's simplified borders (`detail="wall"`) or the bundled ones
    (`"full"`), coordinates to 5 decimals (~1 m) in the simplified form."""
    if detail == "full":
        return feature_collection(city)

    def rounded(d: District) -> dict[str, Any]:
        return {"type": "MultiPolygon", "coordinates": [[[[round(x, 5), round(y, 5)] for x, y in ring]
                                                          for ring in poly] for poly in d.polygons]}

    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": d.code, "properties": {"code": d.code, "name": d.name}, "geometry": rounded(d)}
        for d in simplified(city)]}
