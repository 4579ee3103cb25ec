"""`GET /api/geo/districts`: the served city's district boundaries as GeoJSON, for every map.

The console's live page, the case page and the operations-centre screen draw the city from this one
route (through `static/citymap.js`), so no page downloads tiles or ships its own copy. Boundaries are
public reference data: no sign-in is needed. A city with no bundled boundaries gets an empty collection
(the maps then draw points on a plain background).
"""

from __future__ import annotations

import json
from functools import lru_cache

from fastapi import APIRouter
from fastapi.responses import Response

from urbanbrain.core.settings import get_settings

router = APIRouter(tags=["geo"])


@lru_cache(maxsize=4)
def _body(city: str) -> bytes:
    from urbanbrain.reference.boundaries import feature_collection

    return json.dumps(feature_collection(city), ensure_ascii=False, separators=(",", ":")).encode()


@router.get("/geo/districts", summary="District boundaries of the served city (GeoJSON FeatureCollection)",
            responses={200: {"content": {"application/geo+json": {}}, "description": "a FeatureCollection; "
                                         "each feature's properties are its division code and name"}})
def districts() -> Response:
    return Response(_body(get_settings().city_code), media_type="application/geo+json",
                    headers={"Cache-Control": "public, max-age=3600"})
