"""One sync per system at a time, across processes, through the metadata store.

A lock names its owner (host:pid) and expires; a lock whose owner process is gone on this host is
taken over at once, so a sync killed mid-way can be re-run immediately. Whoever takes a lock (and the
worker, on every poll) marks the runs its dead or expired holder left "running" as abandoned, so a
run killed long ago never stays "running" and its system never looks healthy because of it.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.core.errors import SyncInProgressError
from urbanbrain.core.process import alive
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import SyncRun, System

LOCK_SECONDS = 300


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_dead(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return not alive(int(pid))


ABANDONED = "the process running this sync stopped before it finished"


def _abandon_runs(s: Any, system_id: str, now: datetime) -> int:
    result = s.execute(update(SyncRun).where(SyncRun.system_id == system_id, SyncRun.status == "running")
                       .values(status="abandoned", finished_at=now, error=ABANDONED))
    if result.rowcount:
        s.execute(update(System).where(System.id == system_id)
                  .values(health="degraded", health_reason=f"a sync was abandoned: {ABANDONED}",
                          health_checked_at=now))
    return int(result.rowcount or 0)


def acquire(system_id: str, system_name: str) -> None:
    now = utcnow()
    me = owner_id()
    with session_scope() as s:
        row = s.get(System, system_id)
        if row is not None and row.lock_owner and row.lock_owner != me and row.lock_until \
                and as_utc(row.lock_until) > now and _owner_dead(row.lock_owner):
            s.execute(update(System).where(System.id == system_id).values(lock_owner=None, lock_until=None))
    with session_scope() as s:
        result = s.execute(
            update(System)
            .where(System.id == system_id,
                   or_(System.lock_owner.is_(None), System.lock_until < now, System.lock_owner == me))
            .values(lock_owner=me, lock_until=now + timedelta(seconds=LOCK_SECONDS))
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            holder = s.scalar(select(System.lock_owner).where(System.id == system_id))
            raise SyncInProgressError(f"system {system_name!r} is already being synced by {holder}",
                                      hint="wait for that run to finish", system=system_name)
        # we hold the lock and have not started our run yet: any run still "running" lost its
        # process (dead, or silent past its lock's expiry)
        _abandon_runs(s, system_id, now)


def sweep_abandoned() -> int:
    """Mark as abandoned the running runs of systems nobody validly holds (the worker calls this)."""
    now = utcnow()
    swept = 0
    with session_scope() as s:
        stale = s.execute(
            select(System.id, System.lock_owner, System.lock_until).where(
                System.id.in_(select(SyncRun.system_id).where(SyncRun.status == "running")))
        ).all()
        for system_id, owner, until in stale:
            held = owner is not None and until is not None and as_utc(until) > now and not _owner_dead(owner)
            if not held:
                swept += _abandon_runs(s, system_id, now)
    return swept


def refresh(system_id: str) -> None:
    with session_scope() as s:
        s.execute(update(System).where(System.id == system_id, System.lock_owner == owner_id())
                  .values(lock_until=utcnow() + timedelta(seconds=LOCK_SECONDS)))


def release(system_id: str) -> None:
    with session_scope() as s:
        s.execute(update(System).where(System.id == system_id, System.lock_owner == owner_id())
                  .values(lock_owner=None, lock_until=None))
