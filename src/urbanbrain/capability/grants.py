"""Grants: which consumer may call which capability, decided by the capability's owning department.

A consumer asks (`request_grant`, with the quota it needs and why); the owning department approves or
refuses it. Approval may set an expiry. The gateway's `check_grant` accepts only an approved,
unexpired grant, and hands its quota (calls per minute and per day) to the quota store. Every request
and decision is audited in the same transaction as the change.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from urbanbrain.capability import cache
from urbanbrain.capability.consumers import consumer_row
from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from urbanbrain.govern import audit
from urbanbrain.govern.authz import acting, authorize, check_claimed_department
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import Capability, Department, Grant
from urbanbrain.meta.schemas import UTCDateTime

GRANT_STATUSES = ("requested", "approved", "refused", "revoked")


class GrantPublic(BaseModel):
    id: str
    consumer: str
    consumer_department: str
    capability: str
    version: int
    owner: str
    status: str
    per_minute: int
    per_day: int
    purpose: str | None
    requested_at: UTCDateTime
    decided_at: UTCDateTime | None
    decided_by: str | None
    reason: str | None
    expires_at: UTCDateTime | None


def _public(g: Grant) -> GrantPublic:
    return GrantPublic(
        id=g.id, consumer=g.consumer.name, consumer_department=g.consumer.department.code,
        capability=g.capability.name, version=g.capability.version, owner=g.capability.department.code,
        status=g.status, per_minute=g.per_minute, per_day=g.per_day, purpose=g.purpose,
        requested_at=g.requested_at, decided_at=g.decided_at, decided_by=g.decided_by, reason=g.reason,
        expires_at=g.expires_at,
    )


def _capability(s: Session, name: str, version: int | None) -> Capability:
    query = select(Capability).where(Capability.name == name)
    if version is not None:
        query = query.where(Capability.version == version)
    cap = s.scalar(query.order_by(Capability.version.desc()).limit(1))
    if cap is None:
        raise NotFoundError(f"no capability {name}", hint="list them with `urbanbrain capability list`")
    return cap


def request_grant(consumer: str, capability: str, *, version: int | None = None, per_minute: int = 60,
                  per_day: int = 10_000, purpose: str | None = None, by: Principal | None = None) -> GrantPublic:
    """Ask the owning department for access, for a consumer of one's own department; only published
    capabilities take new requests."""
    by = acting(by)
    if per_minute < 1 or per_day < 1:
        raise ValidationError("quotas must be at least 1 call per minute and per day")
    with session_scope() as s:
        holder = consumer_row(s, consumer)
        authorize("capability_grant.request", by, holder.department.code)
        cap = _capability(s, capability, version)
        if cap.status != "published":
            raise ValidationError(f"capability {cap.name} v{cap.version} is {cap.status}, not published",
                                  hint="grants can be requested for published capabilities only")
        grant = Grant(consumer_id=holder.id, capability_id=cap.id, per_minute=per_minute,
                      per_day=per_day, purpose=purpose)
        s.add(grant)
        s.flush()
        s.refresh(grant)
        public = _public(grant)
        audit.record(by, "grant.request", f"grant:{grant.id}",
                     {"consumer": consumer, "capability": f"{cap.name} v{cap.version}", "per_minute": per_minute,
                      "per_day": per_day, "purpose": purpose}, session=s)
        cache.invalidate(s)
        return public


def _grant(s: Session, grant_id: str) -> Grant:
    grant = s.get(Grant, grant_id)
    if grant is None:
        raise NotFoundError(f"no grant {grant_id!r}", hint="list them with `urbanbrain grant list`")
    return grant


def _decide(grant_id: str, status: str, decided_by: str, department: str | None, reason: str | None,
            expires_days: int | None = None, per_minute: int | None = None,
            per_day: int | None = None, by: Principal | None = None) -> GrantPublic:
    by = acting(by)
    with session_scope() as s:
        grant = _grant(s, grant_id)
        owner = grant.capability.department.code
        authorize(f"capability_grant.{_VERBS[status]}", by, owner)
        check_claimed_department(by, department, owner)
        if by.kind != "system":
            decided_by = by.label  # who decided is the acting user, not a name the request made up
        if status == "approved" and grant.status == "revoked":
            raise ValidationError("a revoked grant cannot be approved again", hint="request a new grant")
        grant.status, grant.decided_by, grant.reason, grant.decided_at = status, decided_by, reason, utcnow()
        if expires_days is not None:
            grant.expires_at = utcnow() + timedelta(days=expires_days)
        grant.per_minute = per_minute or grant.per_minute
        grant.per_day = per_day or grant.per_day
        s.flush()
        public = _public(grant)
        audit.record(by, f"grant.{_VERBS[status]}", f"grant:{grant.id}",
                     {"consumer": public.consumer, "capability": f"{public.capability} v{public.version}",
                      "decided_by": decided_by, "reason": reason, "expires_at": public.expires_at,
                      "per_minute": grant.per_minute, "per_day": grant.per_day}, session=s)
        cache.invalidate(s)
        return public


_VERBS = {"approved": "approve", "refused": "refuse", "revoked": "revoke"}


def approve_grant(grant_id: str, *, approver: str = "owner", department: str | None = None,
                  expires_days: int | None = None, per_minute: int | None = None,
                  per_day: int | None = None, by: Principal | None = None) -> GrantPublic:
    """Approve (optionally adjusting the quota and setting an expiry); `department` must be the owner."""
    return _decide(grant_id, "approved", approver, department, None, expires_days, per_minute, per_day, by=by)


def refuse_grant(grant_id: str, *, reason: str | None = None, approver: str = "owner",
                 department: str | None = None, by: Principal | None = None) -> GrantPublic:
    return _decide(grant_id, "refused", approver, department, reason, by=by)


def revoke_grant(grant_id: str, *, reason: str | None = None, approver: str = "owner",
                 department: str | None = None, by: Principal | None = None) -> GrantPublic:
    return _decide(grant_id, "revoked", approver, department, reason, by=by)


def get_grant(grant_id: str) -> GrantPublic:
    with session_scope() as s:
        return _public(_grant(s, grant_id))


def list_grants(*, consumer: str | None = None, capability: str | None = None, status: str | None = None,
                owner: str | None = None) -> list[GrantPublic]:
    """Filter by consumer, capability, status; `owner` (a department code) lists what it must decide."""
    with session_scope() as s:
        query = select(Grant).join(Capability).join(Department).order_by(Grant.requested_at)
        if capability:
            query = query.where(Capability.name == capability)
        if status:
            query = query.where(Grant.status == status)
        if owner:
            query = query.where(Department.code == owner.lower())
        if consumer:
            query = query.where(Grant.consumer_id == consumer_row(s, consumer).id)
        return [_public(g) for g in s.scalars(query)]


def check_grant(consumer_id: str, capability_id: str, capability_name: str) -> cache.ResolvedGrant:
    """The consumer's approved, unexpired grant for the capability, or 403 saying what to do."""
    grant = cache.grant(consumer_id, capability_id)
    if grant is None:
        raise PermissionDeniedError(f"no grant to call {capability_name}", capability=capability_name,
                                    hint="request one with `urbanbrain grant request` or POST /api/grants")
    if grant.status != "approved":
        raise PermissionDeniedError(f"the grant to call {capability_name} is {grant.status}",
                                    capability=capability_name, grant=grant.id,
                                    hint="the owning department must approve it")
    if grant.expires_at is not None and as_utc(grant.expires_at) <= utcnow():
        raise PermissionDeniedError(f"the grant to call {capability_name} has expired", capability=capability_name,
                                    grant=grant.id, hint="request a new grant")
    return grant


# for `capability.batch.grant_many`, which does request + approve for many grants in one transaction
capability_row = _capability
grant_public = _public
