"""`/api/consumers`, `/api/grants`, `/api/usage`: who calls capabilities, with what right, how much.

Each route is one service call. A new key's plaintext appears once, in the 201 answer to its creation.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from urbanbrain.capability import consumers as svc
from urbanbrain.capability import grants
from urbanbrain.capability.consumers import ApiKeyPublic, ConsumerPublic, NewApiKey
from urbanbrain.capability.grants import GrantPublic
from urbanbrain.capability.metering import UsageStats, usage_stats
from urbanbrain.web.principal import CurrentPrincipal

router = APIRouter(tags=["consumers"])


class ConsumerCreate(BaseModel):
    name: str = Field(examples=["grid-app"])
    department: str = Field(description="code of the owning department", examples=["urban"])
    description: str | None = None


class KeyCreate(BaseModel):
    expires_days: int | None = Field(default=None, ge=1)
    label: str | None = None


class GrantCreate(BaseModel):
    consumer: str
    capability: str
    version: int | None = None
    per_minute: int = Field(default=60, ge=1)
    per_day: int = Field(default=10_000, ge=1)
    purpose: str | None = None


class GrantDecision(BaseModel):
    approver: str = "owner"
    department: str | None = Field(default=None, description="the deciding department; must own the capability")
    reason: str | None = None
    expires_days: int | None = Field(default=None, ge=1)
    per_minute: int | None = Field(default=None, ge=1)
    per_day: int | None = Field(default=None, ge=1)


@router.get("/consumers")
def list_consumers(department: str | None = None) -> list[ConsumerPublic]:
    return svc.list_consumers(department)


@router.post("/consumers", status_code=201)
def add_consumer(body: ConsumerCreate, principal: CurrentPrincipal) -> ConsumerPublic:
    return svc.add_consumer(body.name, body.department, body.description, by=principal)


@router.get("/consumers/{name}")
def get_consumer(name: str) -> ConsumerPublic:
    return svc.get_consumer(name)


@router.get("/consumers/{name}/keys")
def list_keys(name: str) -> list[ApiKeyPublic]:
    return svc.list_keys(name)


@router.post("/consumers/{name}/keys", status_code=201)
def create_key(name: str, body: KeyCreate, principal: CurrentPrincipal) -> NewApiKey:
    return svc.create_key(name, expires_days=body.expires_days, label=body.label, by=principal)


@router.post("/keys/{key_id}/revoke")
def revoke_key(key_id: str, principal: CurrentPrincipal) -> ApiKeyPublic:
    return svc.revoke_key(key_id, by=principal)


@router.get("/grants")
def list_grants(consumer: str | None = None, capability: str | None = None, status: str | None = None,
                owner: str | None = None) -> list[GrantPublic]:
    return grants.list_grants(consumer=consumer, capability=capability, status=status, owner=owner)


@router.post("/grants", status_code=201)
def request_grant(body: GrantCreate, principal: CurrentPrincipal) -> GrantPublic:
    return grants.request_grant(body.consumer, body.capability, version=body.version, per_minute=body.per_minute,
                                per_day=body.per_day, purpose=body.purpose, by=principal)


@router.get("/grants/{grant_id}")
def get_grant(grant_id: str) -> GrantPublic:
    return grants.get_grant(grant_id)


@router.post("/grants/{grant_id}/approve")
def approve_grant(grant_id: str, body: GrantDecision, principal: CurrentPrincipal) -> GrantPublic:
    return grants.approve_grant(grant_id, approver=body.approver, department=body.department,
                                expires_days=body.expires_days, per_minute=body.per_minute, per_day=body.per_day,
                                by=principal)


@router.post("/grants/{grant_id}/refuse")
def refuse_grant(grant_id: str, body: GrantDecision, principal: CurrentPrincipal) -> GrantPublic:
    return grants.refuse_grant(grant_id, reason=body.reason, approver=body.approver, department=body.department,
                               by=principal)


@router.get("/usage")
def usage(since: datetime | None = None) -> UsageStats:
    return usage_stats(since)
