"""`/api/runs`: sync-run history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from urbanbrain.meta.schemas import SyncRunPublic
from urbanbrain.sync import runs as svc
from urbanbrain.web.api.bounds import Filter, PathId

router = APIRouter(prefix="/runs", tags=["runs"])


@router.get("")
def list_runs(system: Filter = None, status: Filter = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[SyncRunPublic]:
    return svc.list_runs(system=system, status=status, limit=limit)


@router.get("/{run_id}")
def get_run(run_id: PathId) -> SyncRunPublic:
    return svc.get_run(run_id)
