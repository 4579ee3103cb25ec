"""Consumers (applications owned by departments) and their API keys.

A key is 256 random bits, shown once when created and stored only as its SHA-256 hash plus a short
prefix for people to tell keys apart (`urbanbrain.core.tokens`, shared with users' personal tokens).
Keys expire and can be revoked; `authenticate` is the one check the gateway runs. Creating consumers
and keys and revoking keys are audited in the same transaction as the change.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from urbanbrain.capability import cache
from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.core.errors import AlreadyExistsError, AuthenticationRequiredError, NotFoundError, ValidationError
from urbanbrain.core.naming import validate_code
from urbanbrain.core.tokens import hash_token, new_token, shown_prefix
from urbanbrain.govern import audit
from urbanbrain.govern.authz import acting, authorize
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.departments import get_department_row
from urbanbrain.meta.models import ApiKey, Consumer
from urbanbrain.meta.schemas import UTCDateTime

KEY_PREFIX = "ubk_"


class ConsumerPublic(BaseModel):
    id: str
    name: str
    department: str
    description: str | None
    enabled: bool
    created_at: UTCDateTime


class ApiKeyPublic(BaseModel):
    id: str
    consumer: str
    prefix: str
    label: str | None
    created_at: UTCDateTime
    expires_at: UTCDateTime | None
    revoked_at: UTCDateTime | None
    last_used_at: UTCDateTime | None


class NewApiKey(ApiKeyPublic):
    """Returned once, at creation: the only time the plaintext `key` exists outside the caller."""

    key: str


hash_key = hash_token  # the name the gateway and its cache know


def _consumer_public(c: Consumer) -> ConsumerPublic:
    return ConsumerPublic(id=c.id, name=c.name, department=c.department.code, description=c.description,
                          enabled=c.enabled, created_at=c.created_at)


def _key_public(k: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic(id=k.id, consumer=k.consumer.name, prefix=k.prefix, label=k.label, created_at=k.created_at,
                        expires_at=k.expires_at, revoked_at=k.revoked_at, last_used_at=k.last_used_at)


def consumer_row(s: Session, name: str) -> Consumer:
    consumer = s.scalar(select(Consumer).where(Consumer.name == name))
    if consumer is None:
        raise NotFoundError(f"no consumer named {name!r}",
                            hint="add it with `urbanbrain consumer add NAME --dept CODE`")
    return consumer


def add_consumer(name: str, department: str, description: str | None = None, *,
                 by: Principal | None = None) -> ConsumerPublic:
    """Register an application of `department` that will call capabilities (as one of its developers)."""
    by = acting(by)
    validate_code(name, "consumer name")
    with session_scope() as s:
        dept = get_department_row(s, department)
        authorize("consumer.add", by, dept.code)
        if s.scalar(select(Consumer).where(Consumer.name == name)) is not None:
            raise AlreadyExistsError(f"consumer {name!r} already exists", hint="choose another name")
        consumer = Consumer(name=name, department_id=dept.id, description=description)
        s.add(consumer)
        s.flush()
        s.refresh(consumer)
        audit.record(by, "consumer.add", f"consumer:{name}", {"department": dept.code}, session=s)
        return _consumer_public(consumer)


def list_consumers(department: str | None = None) -> list[ConsumerPublic]:
    with session_scope() as s:
        rows = [_consumer_public(c) for c in s.scalars(select(Consumer).order_by(Consumer.name))]
    return [c for c in rows if department is None or c.department == department.lower()]


def get_consumer(name: str) -> ConsumerPublic:
    with session_scope() as s:
        return _consumer_public(consumer_row(s, name))


def create_key(consumer: str, *, expires_days: int | None = None, label: str | None = None,
               by: Principal | None = None) -> NewApiKey:
    """A new key for `consumer`; the plaintext is in the result and nowhere else, ever."""
    by = acting(by)
    if expires_days is not None and expires_days <= 0:
        raise ValidationError("--expires-days must be a positive number of days")
    key = new_token(KEY_PREFIX)
    with session_scope() as s:
        owner = consumer_row(s, consumer)
        authorize("key.create", by, owner.department.code)
        row = ApiKey(consumer_id=owner.id, prefix=shown_prefix(key), key_hash=hash_key(key),
                     label=label, expires_at=utcnow() + timedelta(days=expires_days) if expires_days else None)
        s.add(row)
        s.flush()
        s.refresh(row)
        audit.record(by, "key.create", f"consumer:{consumer}", {"key": row.id, "prefix": row.prefix,
                                                                 "expires_days": expires_days}, session=s)
        return NewApiKey(**_key_public(row).model_dump(), key=key)


def list_keys(consumer: str) -> list[ApiKeyPublic]:
    with session_scope() as s:
        owner = consumer_row(s, consumer)
        return [_key_public(k) for k in s.scalars(select(ApiKey).where(ApiKey.consumer_id == owner.id)
                                                 .order_by(ApiKey.created_at))]


def revoke_key(key_id_or_prefix: str, *, consumer: str | None = None, by: Principal | None = None) -> ApiKeyPublic:
    """Revoke by key id or by its shown prefix; takes effect at once here, within seconds elsewhere.
    `consumer`, when given (the console's page of one consumer), must be the key's holder."""
    by = acting(by)
    with session_scope() as s:
        rows = list(s.scalars(select(ApiKey).where(
            (ApiKey.id == key_id_or_prefix) | (ApiKey.prefix == key_id_or_prefix))))
        if not rows:
            raise NotFoundError(f"no API key {key_id_or_prefix!r}", hint="list keys with `urbanbrain key list`")
        if len(rows) > 1:
            raise ValidationError(f"{key_id_or_prefix!r} matches {len(rows)} keys", hint="revoke by key id")
        row = rows[0]
        if consumer is not None and row.consumer.name != consumer:
            raise NotFoundError(f"consumer {consumer!r} has no API key {key_id_or_prefix!r}")
        authorize("key.revoke", by, row.consumer.department.code)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            s.flush()
            audit.record(by, "key.revoke", f"consumer:{row.consumer.name}", {"key": row.id, "prefix": row.prefix},
                         session=s)
        cache.invalidate(s)
        return _key_public(row)


def authenticate(key: str | None) -> cache.ResolvedKey:
    """The consumer behind a key, or 401. The message never repeats the key, not even its prefix."""
    if not key:
        raise AuthenticationRequiredError("an API key is required", hint="send it in the X-API-Key header")
    found = cache.api_key(hash_key(key.strip()))
    if found is None:
        raise AuthenticationRequiredError("the API key is not valid", hint="check the key or create a new one")
    if found.revoked:
        raise AuthenticationRequiredError("the API key has been revoked", hint="create a new key")
    if found.expires_at is not None and as_utc(found.expires_at) <= utcnow():
        raise AuthenticationRequiredError("the API key has expired", hint="create a new key")
    if not found.enabled:
        raise AuthenticationRequiredError("the consumer holding this key is disabled")
    return found
