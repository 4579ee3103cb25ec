"""One sync per system at a time, across processes, through the metadata store.

A lock names its owner (host:pid) and expires; a lock whose owner process is gone on this host is
taken over at once, so a sync killed mid-way can be re-run immediately.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from sqlalchemy import or_, select, update

from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.core.errors import SyncInProgressError
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import SyncRun, System

LOCK_SECONDS = 300


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_dead(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def acquire(system_id: str, system_name: str) -> None:
    now = utcnow()
    me = owner_id()
    with session_scope() as s:
        row = s.get(System, system_id)
        if row is not None and row.lock_owner and row.lock_owner != me and row.lock_until \
                and as_utc(row.lock_until) > now and _owner_dead(row.lock_owner):
            s.execute(update(System).where(System.id == system_id).values(lock_owner=None, lock_until=None))
            s.execute(update(SyncRun).where(SyncRun.system_id == system_id, SyncRun.status == "running")
                      .values(status="abandoned", finished_at=now,
                              error="the process running this sync stopped before it finished"))
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


def refresh(system_id: str) -> None:
    with session_scope() as s:
        s.execute(update(System).where(System.id == system_id, System.lock_owner == owner_id())
                  .values(lock_until=utcnow() + timedelta(seconds=LOCK_SECONDS)))


def release(system_id: str) -> None:
    with session_scope() as s:
        s.execute(update(System).where(System.id == system_id, System.lock_owner == owner_id())
                  .values(lock_owner=None, lock_until=None))
