"""Where a report is: standardised address → district, or coordinates → district, inside the city.

The city is `URBANBRAIN_CITY_CODE` (default 430100, Changsha). Where the city's district polygons are
bundled (`urbanbrain.reference.boundaries`, Changsha's are), a point is placed by point-in-polygon and a
point outside every district is outside the city. Elsewhere the districts and their centres come from
the division dictionary bundled with the address standardiser and a point goes to the district whose
centre is nearest (a Voronoi partition of the centres, which misplaces points near borders: west of
the Xiang river at (112.95, 28.14) is 岳麓区 but nearest to 天心区's centre), after checking it lies
within the city's extent (the centres' bounding box plus a margin).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from urbanbrain.core.errors import ValidationError

MARGIN_DEG = 0.35  # ~35 km: the outer districts reach well beyond their centres


@dataclass(frozen=True)
class Location:
    district: str | None
    district_code: str | None
    lon: float | None
    lat: float | None
    standard: str | None
    how: str

    def explain(self) -> str:
        return f"location: {self.how} → {self.district or 'no district'}"


def city_code() -> str:
    return os.environ.get("URBANBRAIN_CITY_CODE", "430100")


@lru_cache(maxsize=4)
def _districts(city: str) -> tuple[tuple[str, str, float, float], ...]:
    from urbanbrain.capability.builtins._divisions import divisions

    return tuple((d.code, d.name, d.lon, d.lat) for d in divisions().values()
                 if d.code.startswith(city[:4]) and d.code != city and not d.code.endswith("00")
                 and d.lon is not None and d.lat is not None and d.name != "市辖区")


def _nearest(lon: float, lat: float) -> tuple[str, str]:
    rows = _districts(city_code())
    if not rows:
        raise ValidationError(f"no districts with centres are known for city {city_code()}",
                              hint="set URBANBRAIN_CITY_CODE to a prefecture-level division code")
    lons, lats = [r[2] for r in rows], [r[3] for r in rows]
    if not (min(lons) - MARGIN_DEG <= lon <= max(lons) + MARGIN_DEG
            and min(lats) - MARGIN_DEG <= lat <= max(lats) + MARGIN_DEG):
        raise ValidationError(f"the location ({lon:.5f}, {lat:.5f}) is outside the city",
                              hint="check longitude/latitude order and that the report belongs to this city")
    scale = math.cos(math.radians(lat))
    code, name, _, _ = min(rows, key=lambda r: ((r[2] - lon) * scale) ** 2 + (r[3] - lat) ** 2)
    return code, name


def _in_polygon(city: str, lon: float, lat: float) -> tuple[str, str]:
    from urbanbrain.reference.boundaries import district_at

    found = district_at(city, lon, lat)
    if found is None:
        raise ValidationError(f"the location ({lon:.5f}, {lat:.5f}) is outside the city: it lies in none of "
                              f"{city}'s districts",
                              hint="check longitude/latitude order and that the report belongs to this city")
    return found.code, found.name


def district_of(lon: float, lat: float) -> tuple[str, str, str]:
    """`(code, name, how)` of the district holding the point; `ValidationError` when outside the city."""
    from urbanbrain.reference.boundaries import has_polygons

    city = city_code()
    if has_polygons(city):
        return (*_in_polygon(city, lon, lat), "coordinates inside the district's boundary")
    return (*_nearest(lon, lat), "coordinates in the nearest district")


def locate(address: str | None, lon: float | None, lat: float | None) -> Location:
    """Raise `ValidationError` for a report with no location or one outside the city."""
    if lon is not None and lat is not None:
        code, name, how = district_of(float(lon), float(lat))
        return Location(name, code, float(lon), float(lat), address, how)
    if not address or not address.strip():
        raise ValidationError("the report has no location", hint="give an address or longitude and latitude")
    from urbanbrain.capability.builtins.address import parse, standard_text

    parts: dict[str, Any] = parse(address, city_code())
    found = parts.get("district_code")
    if found and not str(found).startswith(city_code()[:4]):
        elsewhere = parts.get("city") or parts.get("province")
        raise ValidationError(f"the address {address!r} is outside the city ({elsewhere})",
                              hint="reports are accepted for this city's addresses only")
    district = parts.get("district") if found and len(str(found)) == 6 and not str(found).endswith("00") else None
    return Location(district, str(found) if district else None, None, None, standard_text(parts),
                    "address standardised")
