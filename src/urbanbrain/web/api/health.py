"""`GET /api/health`: liveness for load balancers and `make` scripts; touches nothing slow."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str


def installed_version() -> str:
    try:
        return version("urbanbrain")
    except PackageNotFoundError:
        return "unknown"


@router.get("/health")
async def health() -> Health:
    return Health(status="ok", version=installed_version())
