"""The gateway's short-lived view of the catalog, keys and grants.

A call needs a capability definition, the caller's key and its grant. Reading three rows from the
metadata store on every call would cost more than most capabilities themselves, so each is cached
in the process for `TTL_SECONDS`. Any change made in this process (revoking a key, approving a grant,
publishing) clears the caches at once; a change made by another process is seen within the TTL.
That bound is the price of the gateway's throughput, and it is short on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import select

from urbanbrain.capability.base import CapabilityDefinition
from urbanbrain.core.secrets import decrypt
from urbanbrain.core.ttlcache import TtlCache
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import ApiKey, Capability, Consumer, Grant


@dataclass(frozen=True)
class ResolvedCapability:
    id: str
    name: str
    version: int
    status: str
    department_id: str
    definition: CapabilityDefinition
    validator: Draft202012Validator


@dataclass(frozen=True)
class ResolvedKey:
    key_id: str
    consumer_id: str
    consumer_name: str
    department_id: str
    enabled: bool
    expires_at: datetime | None
    revoked: bool
    department_code: str = ""


@dataclass(frozen=True)
class ResolvedGrant:
    id: str
    status: str
    per_minute: int
    per_day: int
    expires_at: datetime | None


_CAPABILITIES: TtlCache[ResolvedCapability | None] = TtlCache()
_KEYS: TtlCache[ResolvedKey | None] = TtlCache()
_GRANTS: TtlCache[ResolvedGrant | None] = TtlCache()


def invalidate() -> None:
    """Forget everything cached in this process (called by every service that changes these rows)."""
    for cache in (_CAPABILITIES, _KEYS, _GRANTS):
        cache.clear()


def _load_capability(name: str, version: int) -> ResolvedCapability | None:
    from urbanbrain.capability.params import compile_schema

    with session_scope() as s:
        cap = s.scalar(select(Capability).where(Capability.name == name, Capability.version == version))
        if cap is None:
            return None
        secrets: dict[str, Any] = decrypt(cap.implementation_secret) if cap.implementation_secret else {}
        definition = CapabilityDefinition(cap.name, cap.version, cap.kind, dict(cap.input_schema),
                                          dict(cap.output_schema), dict(cap.implementation), secrets)
        return ResolvedCapability(cap.id, cap.name, cap.version, cap.status, cap.department_id, definition,
                                  compile_schema(definition.input_schema))


def capability(name: str, version: int) -> ResolvedCapability | None:
    return _CAPABILITIES.get((name, version), lambda: _load_capability(name, version))


def _load_key(key_hash: str) -> ResolvedKey | None:
    with session_scope() as s:
        row = s.execute(select(ApiKey, Consumer).join(Consumer, ApiKey.consumer_id == Consumer.id)
                        .where(ApiKey.key_hash == key_hash)).first()
        if row is None:
            return None
        key, consumer = row
        return ResolvedKey(key.id, consumer.id, consumer.name, consumer.department_id, consumer.enabled,
                           key.expires_at, key.revoked_at is not None, consumer.department.code)


def api_key(key_hash: str) -> ResolvedKey | None:
    return _KEYS.get(key_hash, lambda: _load_key(key_hash))


def _load_grant(consumer_id: str, capability_id: str) -> ResolvedGrant | None:
    """The consumer's best grant for the capability: an approved one if any, newest first."""
    with session_scope() as s:
        rows = list(s.scalars(select(Grant).where(Grant.consumer_id == consumer_id,
                                                  Grant.capability_id == capability_id)
                              .order_by(Grant.requested_at.desc())))
        rows.sort(key=lambda g: g.status != "approved")
        if not rows:
            return None
        g = rows[0]
        return ResolvedGrant(g.id, g.status, g.per_minute, g.per_day, g.expires_at)


def grant(consumer_id: str, capability_id: str) -> ResolvedGrant | None:
    return _GRANTS.get((consumer_id, capability_id), lambda: _load_grant(consumer_id, capability_id))


def warm(name: str, version: int, key_hash: str) -> bool:
    """Whether a call's capability, key and grant would all be answered from memory (no metadata read)."""
    if not (_CAPABILITIES.fresh((name, version)) and _KEYS.fresh(key_hash)):
        return False
    cap, key = capability(name, version), api_key(key_hash)
    return cap is None or key is None or _GRANTS.fresh((key.consumer_id, cap.id))
