"""The REST API under `/api`: one router module per resource, each route one service call."""

from __future__ import annotations

from fastapi import APIRouter

from urbanbrain.web.api import (
    capabilities,
    consumers,
    datasets,
    departments,
    feeds,
    geo,
    health,
    indicators,
    ioc,
    overview,
    runs,
    sql,
    systems,
)
from urbanbrain.web.api.capabilities import gateway_routes

__all__ = ["api_router", "gateway_routes"]


def api_router() -> APIRouter:
    router = APIRouter(prefix="/api")
    for module in (health, overview, departments, systems, datasets, runs, sql, capabilities, consumers, feeds,
                   indicators, geo, ioc):
        router.include_router(module.router)
    return router
