"""Sharing requests: a department asks for fields of another department's dataset, the owner decides.

`request_fields` → the owner's steward `approve`s (possibly fewer fields, for a set number of days)
or `refuse`s with a reason. An approved grant makes its fields visible to every member of the
requesting department until `expires_at`; expiry needs no job, `policy_for` simply stops counting the
grant. `revoke` ends it early. Closed fields cannot be requested: they are never shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from urbanbrain.govern import access
from urbanbrain.govern.authz import authorize
from urbanbrain.govern.classification import CLOSED, dataset_row, field_table, owner_of
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import DataGrant

MAX_DAYS = 366


@dataclass(frozen=True)
class GrantPublic:
    id: str
    dataset: str
    owner: str
    grantee_department: str
    requested_by: str
    requested_fields: list[str]
    approved_fields: list[str]
    unmasked: bool
    purpose: str
    duration_days: int
    status: str  # requested | approved | refused | revoked | expired
    reason: str | None
    decided_by: str | None
    requested_at: datetime
    decided_at: datetime | None
    expires_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _public(g: DataGrant) -> GrantPublic:
    status = g.status
    if status == "approved" and g.expires_at is not None and as_utc(g.expires_at) <= utcnow():
        status = "expired"
    return GrantPublic(g.id, g.dataset.name, owner_of(g.dataset), g.grantee_department, g.requested_by,
                       list(g.requested_fields), list(g.approved_fields), g.unmasked, g.purpose, g.duration_days,
                       status, g.reason, g.decided_by, as_utc(g.requested_at),
                       as_utc(g.decided_at) if g.decided_at else None, as_utc(g.expires_at) if g.expires_at else None)


def _grantee(by: Principal, department: str | None) -> str:
    """The requesting department: named, or the caller's only one; either way checked against the
    caller's roles (`share.request`), never taken on trust."""
    if department:
        dept = department.lower()
        if not by.in_department(dept):
            raise PermissionDeniedError(f"you do not belong to {dept}", hint="request for your own department")
        authorize("share.request", by, dept)
        return dept
    if len(by.departments) != 1:
        raise ValidationError("say which department the request is for", hint="pass --dept")
    dept = next(iter(by.departments))
    authorize("share.request", by, dept)
    return dept


def request_fields(dataset: str, fields: list[str], purpose: str, days: int, *, by: Principal,
                   department: str | None = None, unmasked: bool = False) -> GrantPublic:
    """Ask `dataset`'s owner for `fields` for `days` days; `unmasked` if the purpose needs PII in clear."""
    if not purpose.strip():
        raise ValidationError("a request needs a purpose", hint="say what the data is for")
    if not 1 <= days <= MAX_DAYS:
        raise ValidationError(f"duration must be 1-{MAX_DAYS} days, got {days}")
    grantee = _grantee(by, department)
    with session_scope() as s:
        ds = dataset_row(s, dataset)
        if owner_of(ds) == grantee:
            raise ValidationError(f"{grantee} owns {ds.name} and already sees all of it")
        levels = {f.column: f.level for f in field_table(s, ds)}
        wanted = list(dict.fromkeys(fields))
        unknown = [f for f in wanted if f not in levels]
        if not wanted or unknown:
            raise ValidationError(f"unknown fields: {', '.join(unknown) or '(none given)'}",
                                  hint=f"{ds.name} has: {', '.join(levels)}")
        closed = [f for f in wanted if levels[f] == CLOSED]
        if closed:
            raise ValidationError(f"closed fields are never shared: {', '.join(closed)}",
                                  hint="ask the owner whether an open or conditional field serves the purpose")
        g = DataGrant(dataset_id=ds.id, grantee_department=grantee, requested_by=by.label, requested_fields=wanted,
                      approved_fields=[], unmasked=unmasked, purpose=purpose.strip(), duration_days=days)
        s.add(g)
        s.flush()
        g.dataset = ds
        out = _public(g)
    access.on_change(by, "grant.request", out.id, {"dataset": dataset, "fields": wanted, "days": days})
    return out


def _decidable(s: Session, grant_id: str, by: Principal, action: str) -> DataGrant:
    g = s.get(DataGrant, grant_id)
    if g is None:
        raise NotFoundError(f"no sharing request {grant_id!r}", hint="list them with `urbanbrain share list`")
    authorize(action, by, owner_of(g.dataset))  # the owner's stewards decide on its data
    return g


def approve(grant_id: str, *, by: Principal, fields: list[str] | None = None, days: int | None = None
            ) -> GrantPublic:
    """Approve all requested fields or fewer (never more), for the requested days or fewer."""
    with session_scope() as s:
        g = _decidable(s, grant_id, by, "share.approve")
        if g.status != "requested":
            raise ValidationError(f"request {grant_id} is already {g.status}")
        chosen = list(dict.fromkeys(fields)) if fields else list(g.requested_fields)
        extra = [f for f in chosen if f not in g.requested_fields]
        if extra or not chosen:
            raise ValidationError(f"approve a subset of the requested fields ({', '.join(g.requested_fields)})",
                                  hint=f"not requested: {', '.join(extra)}" if extra else None)
        length = days if days is not None else g.duration_days
        if not 1 <= length <= g.duration_days:
            raise ValidationError(f"approve 1-{g.duration_days} days (the request asked for {g.duration_days})")
        now = utcnow()
        g.approved_fields, g.status, g.decided_by, g.decided_at = chosen, "approved", by.label, now
        g.expires_at = now + timedelta(days=length)
        s.flush()
        out = _public(g)
    access.on_change(by, "grant.approve", grant_id, {"fields": chosen, "expires_at": out.expires_at})
    return out


def refuse(grant_id: str, reason: str, *, by: Principal) -> GrantPublic:
    return _close(grant_id, reason, by, "requested", "refused")


def revoke(grant_id: str, reason: str, *, by: Principal) -> GrantPublic:
    """End an approved grant before it expires."""
    return _close(grant_id, reason, by, "approved", "revoked")


def _close(grant_id: str, reason: str, by: Principal, from_status: str, to_status: str) -> GrantPublic:
    if not reason.strip():
        raise ValidationError(f"say why the request is {to_status}", hint="the requester sees the reason")
    with session_scope() as s:
        g = _decidable(s, grant_id, by, "share.refuse" if to_status == "refused" else "share.revoke")
        if g.status != from_status:
            raise ValidationError(f"request {grant_id} is {g.status}, not {from_status}")
        g.status, g.reason, g.decided_by, g.decided_at = to_status, reason.strip(), by.label, utcnow()
        s.flush()
        out = _public(g)
    access.on_change(by, f"grant.{to_status}", grant_id, {"reason": reason})
    return out


def list_grants(*, dataset: str | None = None, department: str | None = None,
                status: str | None = None) -> list[GrantPublic]:
    """Requests and grants, newest first; `department` matches either side (requester or owner)."""
    with session_scope() as s:
        query = select(DataGrant).order_by(DataGrant.requested_at.desc())
        if dataset:
            query = query.where(DataGrant.dataset_id == dataset_row(s, dataset).id)
        rows = [_public(g) for g in s.scalars(query)]
    if department:
        rows = [g for g in rows if department.lower() in (g.grantee_department, g.owner)]
    if status:
        rows = [g for g in rows if g.status == status]
    return rows
