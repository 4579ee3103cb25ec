"""`GET /api/geo/districts`: the served city's district boundaries as GeoJSON, for every map.

The console's live page, the case page and the operations-centre screen draw the city from this one
route (through `static/citymap.js`), so no page downloads tiles or ships its own copy. Boundaries are
public reference data: no sign-in is needed. A city with no bundled boundaries gets an empty collection
(the maps then draw points on a plain background).

The maps get simplified borders by default (`reference.boundaries.simplified`: shared borders kept shared,
~50 m tolerance, a third of the vertices and of the bytes), built once per process; the 4K wall paints them
in a fraction of the time. `?detail=full` returns the bundled boundaries unchanged.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import Response

from urbanbrain.core.settings import get_settings

router = APIRouter(tags=["geo"])


@lru_cache(maxsize=8)
def _body(city: str, detail: str) -> bytes:
    from urbanbrain.reference.boundaries import feature_collection_for

    return json.dumps(feature_collection_for(city, detail), ensure_ascii=False, separators=(",", ":")).encode()


@router.get("/geo/districts", summary="District boundaries of the served city (GeoJSON FeatureCollection)",
            responses={200: {"content": {"application/geo+json": {}}, "description": "a FeatureCollection; "
                                         "each feature's properties are its division code and name"}})
def districts(detail: Literal["wall", "full"] = "wall") -> Response:
    """`detail=wall` (default): simplified borders for drawing; `detail=full`: the bundled boundaries."""
    return Response(_body(get_settings().city_code, detail), media_type="application/geo+json",
                    headers={"Cache-Control": "public, max-age=3600"})
