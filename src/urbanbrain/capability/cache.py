"""The gateway's view of the catalog, keys and grants, cached in the process.

A call needs a capability definition, the caller's key and its grant. Reading three rows from the
metadata store on every call would cost more than most capabilities themselves, so each is cached.
Any change made in this process (revoking a key, approving a grant, publishing) clears the caches at
once. Every such change also bumps the `gateway` row of `cache_stamps` in the same transaction, and
each process reads that one number every `STAMP_SECONDS`: a change made by another process (the CLI,
a second gateway) is seen within ~2 s. Entries otherwise live `TTL_SECONDS`, the bound for rows
changed behind the services' back.

Why a stamp rather than a short TTL: reloading the three rows every 2 s cost ~2 ms of the serving
process's GIL each time, which was most of the gateway's added p99 latency in bench/gateway (+5 ms;
+2 ms with no reloads). One indexed read of one integer replaces them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from urbanbrain.capability.base import CapabilityDefinition
from urbanbrain.core.secrets import decrypt
from urbanbrain.core.ttlcache import TtlCache
from urbanbrain.meta.db import get_engine, metadata_url, session_scope
from urbanbrain.meta.models import ApiKey, CacheStamp, Capability, Consumer, Grant

TTL_SECONDS = 60.0
STAMP_SECONDS = 2.0
STAMP = "gateway"


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


_CAPABILITIES: TtlCache[ResolvedCapability | None] = TtlCache(TTL_SECONDS, grace=STAMP_SECONDS)
_KEYS: TtlCache[ResolvedKey | None] = TtlCache(TTL_SECONDS, grace=STAMP_SECONDS)
_GRANTS: TtlCache[ResolvedGrant | None] = TtlCache(TTL_SECONDS, grace=STAMP_SECONDS)
_STAMP_LOCK = threading.Lock()
_stamp: dict[str, Any] = {"url": None, "version": None, "next": 0.0}


def _clear_local() -> None:
    for cache in (_CAPABILITIES, _KEYS, _GRANTS):
        cache.clear()


def invalidate(session: Session | None = None) -> None:
    """Forget everything cached here and tell other processes (every service that changes these rows).

    With `session`, the stamp moves in the caller's transaction (so other processes never see the stamp
    before the change) and this process forgets again after the commit, so no read that raced the
    change stays cached."""
    _clear_local()
    if session is None:
        with get_engine().begin() as conn:
            conn.execute(_bump())
        return
    session.execute(_bump())
    event.listen(session, "after_commit", lambda _s: _clear_local(), once=True)


def _bump() -> Any:
    return update(CacheStamp).where(CacheStamp.name == STAMP).values(version=CacheStamp.version + 1)


def stamp_due() -> bool:
    """Whether this process should read the stamp before trusting its cache (every STAMP_SECONDS)."""
    return time.monotonic() >= _stamp["next"] or _stamp["url"] != metadata_url()


def check_stamp() -> None:
    """Read the stamp when due; forget the cache if another process changed something since."""
    url = metadata_url()
    with _STAMP_LOCK:
        if time.monotonic() < _stamp["next"] and _stamp["url"] == url:
            return
        _stamp["next"] = time.monotonic() + STAMP_SECONDS  # claimed: concurrent callers go on meanwhile
    with get_engine(url).connect() as conn:
        version = conn.scalar(select(CacheStamp.version).where(CacheStamp.name == STAMP))
    with _STAMP_LOCK:
        if _stamp["url"] != url or _stamp["version"] != version:
            if _stamp["version"] is not None or _stamp["url"] != url:
                _clear_local()
            _stamp["url"], _stamp["version"] = url, version


def _load_capability(name: str, version: int) -> ResolvedCapability | None:
    from urbanbrain.capability.params import compile_schema

    with session_scope() as s:
        cap = s.scalar(select(Capability).where(Capability.name == name, Capability.version == version))
        if cap is None:
            return None
        secrets: dict[str, Any] = decrypt(cap.implementation_secret) if cap.implementation_secret else {}
        definition = CapabilityDefinition(cap.name, cap.version, cap.kind, dict(cap.input_schema),
                                          dict(cap.output_schema), dict(cap.implementation), secrets,
                                          cap.department.code)
        return ResolvedCapability(cap.id, cap.name, cap.version, cap.status, cap.department_id, definition,
                                  compile_schema(definition.input_schema))


def capability(name: str, version: int) -> ResolvedCapability | None:
    check_stamp()
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
    check_stamp()
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
    check_stamp()
    return _GRANTS.get((consumer_id, capability_id), lambda: _load_grant(consumer_id, capability_id))


def warm(name: str, version: int, key_hash: str) -> bool:
    """Whether a call's capability, key and grant would all be answered from memory (no metadata read)."""
    if stamp_due() or not (_CAPABILITIES.fresh((name, version)) and _KEYS.fresh(key_hash)):
        return False
    cap, key = capability(name, version), api_key(key_hash)
    return cap is None or key is None or _GRANTS.fresh((key.consumer_id, cap.id))
