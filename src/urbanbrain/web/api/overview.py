"""`GET /api/overview`: the city's headline figures, the same ones the console's overview shows."""

from __future__ import annotations

from fastapi import APIRouter

from urbanbrain.meta.overview import OverviewPublic, city_overview

router = APIRouter(tags=["overview"])


@router.get("/overview")
def overview() -> OverviewPublic:
    return city_overview()
