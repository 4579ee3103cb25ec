"""The REST API under `/api`: one router module per resource, each route one service call."""

from __future__ import annotations

from fastapi import APIRouter

from urbanbrain.web.api import datasets, departments, health, overview, runs, sql, systems


def api_router() -> APIRouter:
    router = APIRouter(prefix="/api")
    for module in (health, overview, departments, systems, datasets, runs, sql):
        router.include_router(module.router)
    return router
