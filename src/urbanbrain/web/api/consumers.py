"""`/api/consumers`, `/api/grants`, `/api/usage`: who calls capabilities, with what right, how much.

Each route is one service call. A new key's plaintext appears once, in the 201 answer to its creation.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from urbanbrain.capability import consumers as svc
from urbanbrain.capability import grants
from urbanbrain.capability.consumers import ApiKeyPublic, ConsumerPublic, NewApiKey
from urbanbrain.capability.grants import GrantPublic
from urbanbrain.capability.metering import UsageStats, usage_stats
from urbanbrain.web.api.bounds import (
    MAX_EXPIRES_DAYS,
    MAX_PER_DAY,
    MAX_PER_MINUTE,
    MAX_VERSION,
    Filter,
    Name,
    NewCode,
    Note,
    PathId,
    PathName,
    Since,
    Title,
)
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter(tags=["consumers"])


class ConsumerCreate(BaseModel):
    name: NewCode = Field(examples=["grid-app"])
    department: Name = Field(description="code of the owning department", examples=["urban"])
    description: Note | None = None


class KeyCreate(BaseModel):
    expires_days: int | None = Field(default=None, ge=1, le=MAX_EXPIRES_DAYS, description="never expires if null")
    label: Title | None = None


class GrantCreate(BaseModel):
    consumer: Name
    capability: Name
    version: int | None = Field(default=None, ge=1, le=MAX_VERSION)
    per_minute: int = Field(default=60, ge=1, le=MAX_PER_MINUTE)
    per_day: int = Field(default=10_000, ge=1, le=MAX_PER_DAY)
    purpose: Note | None = None


class GrantDecision(BaseModel):
    approver: Title = "owner"
    department: Name | None = Field(default=None, description="the deciding department; must own the capability")
    reason: Note | None = None
    expires_days: int | None = Field(default=None, ge=1, le=MAX_EXPIRES_DAYS)
    per_minute: int | None = Field(default=None, ge=1, le=MAX_PER_MINUTE)
    per_day: int | None = Field(default=None, ge=1, le=MAX_PER_DAY)


@router.get("/consumers")
def list_consumers(department: Filter = None) -> list[ConsumerPublic]:
    return svc.list_consumers(department)


@router.post("/consumers", status_code=201)
def add_consumer(body: ConsumerCreate, principal: CurrentPrincipal) -> ConsumerPublic:
    return svc.add_consumer(body.name, body.department, body.description, by=principal)


@router.get("/consumers/{name}")
def get_consumer(name: PathName) -> ConsumerPublic:
    return svc.get_consumer(name)


@router.get("/consumers/{name}/keys")
def list_keys(name: PathName) -> list[ApiKeyPublic]:
    return svc.list_keys(name)


@router.post("/consumers/{name}/keys", status_code=201)
def create_key(name: PathName, body: KeyCreate, principal: CurrentPrincipal) -> NewApiKey:
    return svc.create_key(name, expires_days=body.expires_days, label=body.label, by=principal)


@router.post("/keys/{key_id}/revoke")
def revoke_key(key_id: PathId, principal: CurrentPrincipal) -> ApiKeyPublic:
    return svc.revoke_key(key_id, by=principal)


@router.get("/grants")
def list_grants(consumer: Filter = None, capability: Filter = None, status: Filter = None,
                owner: Filter = None) -> list[GrantPublic]:
    return grants.list_grants(consumer=consumer, capability=capability, status=status, owner=owner)


@router.post("/grants", status_code=201)
def request_grant(body: GrantCreate, principal: CurrentPrincipal) -> GrantPublic:
    return grants.request_grant(body.consumer, body.capability, version=body.version, per_minute=body.per_minute,
                                per_day=body.per_day, purpose=body.purpose, by=principal)


@router.get("/grants/{grant_id}")
def get_grant(grant_id: PathId) -> GrantPublic:
    return grants.get_grant(grant_id)


@router.post("/grants/{grant_id}/approve")
def approve_grant(grant_id: PathId, body: GrantDecision, principal: CurrentPrincipal) -> GrantPublic:
    return grants.approve_grant(grant_id, approver=body.approver, department=body.department,
                                expires_days=body.expires_days, per_minute=body.per_minute, per_day=body.per_day,
                                by=principal)


@router.post("/grants/{grant_id}/refuse")
def refuse_grant(grant_id: PathId, body: GrantDecision, principal: CurrentPrincipal) -> GrantPublic:
    return grants.refuse_grant(grant_id, reason=body.reason, approver=body.approver, department=body.department,
                               by=principal)


@router.get("/usage")
def usage(since: Since = None) -> UsageStats:
    return usage_stats(since)
