"""`/api/systems`: register, test, discover and sync department systems.

Plain `def` routes: FastAPI runs them in its threadpool, so a slow source or a long sync never
blocks the event loop. Connection options go in (and are encrypted by the service) but never come
out: responses carry only the redacted `display_url`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from urbanbrain.connect import systems as svc
from urbanbrain.meta.schemas import SourceObjectPublic, SyncRunPublic, SystemPublic
from urbanbrain.sync import service as sync_service
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter(prefix="/systems", tags=["systems"])


class SystemCreate(BaseModel):
    name: str = Field(examples=["business-licences"])
    department: str = Field(description="Owning department code.", examples=["market"])
    kind: str = Field(description="postgres, mysql, sqlite, files or rest.", examples=["postgres"])
    options: dict[str, Any] = Field(default_factory=dict, description="Connection options (stored encrypted).",
                                    examples=[{"url": "postgresql://reader:secret@db.market.local/licences"}])
    schedule: str | None = Field(default=None, description="'manual', 'every 5m' or a cron expression.")
    owner: str | None = None
    description: str | None = None


class SystemUpdate(BaseModel):
    options: dict[str, Any] | None = Field(default=None, description="Replaces all stored connection options.")
    schedule: str | None = None
    owner: str | None = None


class ObjectUpdate(BaseModel):
    cursor_column: str | None = Field(default=None, description="Sync incrementally by this column.")
    clear_cursor: bool = Field(default=False, description="Full refresh on every sync.")
    enabled: bool | None = None


class SyncRequest(BaseModel):
    objects: list[str] | None = Field(default=None, description="Only these objects; default all enabled.")
    full_refresh: bool = False


@router.get("")
def list_systems(dept: str | None = None) -> list[SystemPublic]:
    return svc.list_systems(dept)


@router.post("", status_code=201)
def create_system(body: SystemCreate, principal: CurrentPrincipal) -> SystemPublic:
    return svc.add_system(body.name, body.department, body.kind, body.options, schedule=body.schedule,
                          owner=body.owner, description=body.description, by=principal)


@router.get("/{name}")
def get_system(name: str) -> SystemPublic:
    return svc.get_system(name)


@router.patch("/{name}")
def update_system(name: str, body: SystemUpdate, principal: CurrentPrincipal) -> SystemPublic:
    return svc.update_system(name, options=body.options, schedule=body.schedule, owner=body.owner, by=principal)


@router.post("/{name}/test")
def test_system(name: str, principal: CurrentPrincipal) -> SystemPublic:
    """Connect and log in; 200 with the healthy system, else the source's error (424 for bad credentials)."""
    return svc.test_system(name, by=principal)


@router.post("/{name}/discover")
def discover_system(name: str, principal: CurrentPrincipal) -> list[SourceObjectPublic]:
    return svc.discover_system(name, by=principal)


@router.get("/{name}/objects")
def list_objects(name: str) -> list[SourceObjectPublic]:
    return svc.list_objects(name)


@router.patch("/{name}/objects/{object_name}")
def configure_object(name: str, object_name: str, body: ObjectUpdate, principal: CurrentPrincipal
                     ) -> SourceObjectPublic:
    return svc.configure_object(name, object_name, cursor_column=body.cursor_column, enabled=body.enabled,
                                clear_cursor=body.clear_cursor, by=principal)


@router.post("/{name}/sync")
def sync_system(name: str, principal: CurrentPrincipal, body: SyncRequest | None = None) -> SyncRunPublic:
    """Run a sync now and return the finished run; a failed run is still 200 (see its `status`)."""
    request = body or SyncRequest()
    return sync_service.sync_system(name, by=principal, objects=request.objects, trigger="api",
                                    full_refresh=request.full_refresh)
