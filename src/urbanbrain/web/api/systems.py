"""`/api/systems`: register, test, discover and sync department systems.

Plain `def` routes: FastAPI runs them in its threadpool, so a slow source or a long sync never
blocks the event loop. Connection options go in (and are encrypted by the service) but never come
out: responses carry only the redacted `display_url`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from urbanbrain.connect import systems as svc
from urbanbrain.core.errors import DependencyUnavailableError
from urbanbrain.meta.schemas import SourceObjectPublic, SyncRunPublic, SystemPublic
from urbanbrain.sync import service as sync_service
from urbanbrain.web.api.bounds import (
    MAX_KEYS,
    MAX_LIST,
    Code,
    Filter,
    LongName,
    NewCode,
    Note,
    PathName,
    Schedule,
    Title,
)
from urbanbrain.web.principal import CurrentPrincipal

# talking to a department system can fail in its own ways (declared here, documented by web.errors)
router = APIRouter(prefix="/systems", tags=["systems"],
                   responses={424: {"description": "the department system refused its stored credentials"},
                              502: {"description": "the department system answered badly"},
                              504: {"description": "the department system did not answer in time"}})


class SystemCreate(BaseModel):
    name: NewCode = Field(examples=["business-licences"])
    department: Code = Field(description="Owning department code.", examples=["market"])
    kind: Code = Field(description="postgres, mysql, sqlite, files or rest.", examples=["postgres"])
    options: dict[str, Any] = Field(default_factory=dict, max_length=MAX_KEYS,
                                    description="Connection options (stored encrypted).",
                                    examples=[{"url": "postgresql://reader:secret@db.market.local/licences"}])
    schedule: Schedule | None = Field(default=None, description="'manual', 'every 5m' or a cron expression.")
    owner: Title | None = None
    description: Note | None = None


class SystemUpdate(BaseModel):
    options: dict[str, Any] | None = Field(default=None, max_length=MAX_KEYS,
                                           description="Replaces all stored connection options.")
    schedule: Schedule | None = None
    owner: Title | None = None


class ObjectUpdate(BaseModel):
    cursor_column: LongName | None = Field(default=None, description="Sync incrementally by this column.")
    clear_cursor: bool = Field(default=False, description="Full refresh on every sync.")
    enabled: bool | None = None


class SyncRequest(BaseModel):
    objects: list[LongName] | None = Field(default=None, max_length=MAX_LIST,
                                           description="Only these objects; default all enabled.")
    full_refresh: bool = False


def system_down_is_503(route: Callable[..., SyncRunPublic]) -> Callable[..., SyncRunPublic]:
    """A "sync now" that failed because the system was down (a transient failure) answers 503 with
    Retry-After and the run's id, not 200: the caller should retry, and the failed run is recorded."""

    @wraps(route)
    def answer(*args: Any, **kwargs: Any) -> SyncRunPublic:
        run = route(*args, **kwargs)
        if run.status == "failed" and run.error_transient:
            raise DependencyUnavailableError(f"the sync failed because the system is unavailable: {run.error}",
                                             dependency=f"system:{run.system}", run=run.id,
                                             hint=f"retry later; the failed run is GET /api/runs/{run.id}")
        return run

    return answer


@router.get("")
def list_systems(dept: Filter = None) -> list[SystemPublic]:
    return svc.list_systems(dept)


@router.post("", status_code=201)
def create_system(body: SystemCreate, principal: CurrentPrincipal) -> SystemPublic:
    return svc.add_system(body.name, body.department, body.kind, body.options, schedule=body.schedule,
                          owner=body.owner, description=body.description, by=principal)


@router.get("/{name}")
def get_system(name: PathName) -> SystemPublic:
    return svc.get_system(name)


@router.patch("/{name}")
def update_system(name: PathName, body: SystemUpdate, principal: CurrentPrincipal) -> SystemPublic:
    return svc.update_system(name, options=body.options, schedule=body.schedule, owner=body.owner, by=principal)


@router.post("/{name}/test")
def test_system(name: PathName, principal: CurrentPrincipal) -> SystemPublic:
    """Connect and log in; 200 with the healthy system, else the source's error (424 for bad credentials)."""
    return svc.test_system(name, by=principal)


@router.post("/{name}/discover")
def discover_system(name: PathName, principal: CurrentPrincipal) -> list[SourceObjectPublic]:
    return svc.discover_system(name, by=principal)


@router.get("/{name}/objects")
def list_objects(name: PathName) -> list[SourceObjectPublic]:
    return svc.list_objects(name)


@router.patch("/{name}/objects/{object_name}")
def configure_object(name: PathName, object_name: str, body: ObjectUpdate, principal: CurrentPrincipal
                     ) -> SourceObjectPublic:
    return svc.configure_object(name, object_name, cursor_column=body.cursor_column, enabled=body.enabled,
                                clear_cursor=body.clear_cursor, by=principal)


@router.post("/{name}/sync")
@system_down_is_503
def sync_system(name: PathName, principal: CurrentPrincipal, body: SyncRequest | None = None) -> SyncRunPublic:
    """Run a sync now and return the finished run; a failed run is still 200 (see its `status`), except
    when the system was unreachable: 503 with Retry-After."""
    request = body or SyncRequest()
    return sync_service.sync_system(name, by=principal, objects=request.objects, trigger="api",
                                    full_refresh=request.full_refresh)
