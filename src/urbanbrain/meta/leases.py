"""Leases: at most one process runs a piece of scheduled work at a time, across machines.

Several `urbanbrain worker` and `urbanbrain serve` processes may share one metadata store. Before a
scheduled sync, indicator computation or table maintenance runs, its runner takes the lease named
after the work (`sync:<system>`, `indicator:<name>`, `maintain:<table>`): a row with the owner, the
last heartbeat and an expiry. Taking it is one conditional UPDATE (the row is free or expired) or one
INSERT (no row yet): a single statement either way, so exactly one of several racing processes wins,
on PostgreSQL and SQLite alike, without holding a transaction open (`SELECT ... FOR UPDATE SKIP LOCKED`
would pin a connection per running job). The holder renews it from a heartbeat thread every third of
its lifetime; a holder that dies (a killed process, a lost machine) stops renewing, and its lease is
free for anyone once it expires, so the work is picked up within `ttl` seconds, never run twice at once
(at once, too, when the dead holder was a process of the same machine: a restarted process goes on).

Each acquisition has its own owner id (`host:pid:token`), so two threads of one process do not share
a lease either. Clocks of the machines are assumed to agree within a fraction of `ttl` (NTP).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.core.process import alive
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import Lease

log = logging.getLogger("urbanbrain.leases")
DEFAULT_TTL = 30.0


def new_owner() -> str:
    """An owner id unique to one acquisition: which machine and process holds it, plus a token."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _dead_here(owner: str) -> bool:
    """The holder is a process of this machine that no longer exists (killed, crashed): no need to wait
    for its lease to expire. A holder on another machine cannot be checked; its expiry decides."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return not alive(int(pid))


def try_acquire(name: str, owner: str, ttl: float = DEFAULT_TTL, *, now: datetime | None = None) -> bool:
    """Take lease `name` for `owner` if nobody holds it (or its holder let it expire)."""
    now = now or utcnow()
    until = now + timedelta(seconds=ttl)
    with session_scope() as s:
        taken = s.execute(update(Lease).where(Lease.name == name, Lease.expires_at < now)
                          .values(owner=owner, acquired_at=now, heartbeat_at=now, expires_at=until)
                          .execution_options(synchronize_session=False))
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            return True
        holder = s.scalar(select(Lease.owner).where(Lease.name == name))
        if holder is not None:
            if not _dead_here(holder):
                return False  # held and not expired
            taken = s.execute(update(Lease).where(Lease.name == name, Lease.owner == holder)
                              .values(owner=owner, acquired_at=now, heartbeat_at=now, expires_at=until)
                              .execution_options(synchronize_session=False))
            return taken.rowcount == 1  # type: ignore[attr-defined]
    try:
        with session_scope() as s:
            s.add(Lease(name=name, owner=owner, acquired_at=now, heartbeat_at=now, expires_at=until))
    except IntegrityError:  # another process inserted it first
        return False
    return True


def renew(name: str, owner: str, ttl: float = DEFAULT_TTL) -> bool:
    """Push the expiry forward; False when the lease was lost (expired and taken by someone else)."""
    now = utcnow()
    with session_scope() as s:
        result = s.execute(update(Lease).where(Lease.name == name, Lease.owner == owner)
                           .values(heartbeat_at=now, expires_at=now + timedelta(seconds=ttl))
                           .execution_options(synchronize_session=False))
        return result.rowcount == 1  # type: ignore[attr-defined]


def release(name: str, owner: str) -> None:
    with session_scope() as s:
        s.execute(delete(Lease).where(Lease.name == name, Lease.owner == owner)
                  .execution_options(synchronize_session=False))


@dataclass
class LeaseInfo:
    name: str
    owner: str
    heartbeat_at: datetime
    expires_at: datetime


def current(prefix: str = "") -> list[LeaseInfo]:
    """Leases held now (not expired), for `urbanbrain worker --leases` and the docs' examples."""
    now = utcnow()
    with session_scope() as s:
        rows = s.execute(select(Lease).where(Lease.name.startswith(prefix), Lease.expires_at >= now)
                         .order_by(Lease.name)).scalars().all()
        return [LeaseInfo(r.name, r.owner, as_utc(r.heartbeat_at), as_utc(r.expires_at)) for r in rows]


@dataclass
class Held:
    """A lease taken with `hold()`: renewed in the background until the `with` block ends."""

    name: str
    owner: str
    ttl: float
    lost: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                if not renew(self.name, self.owner, self.ttl):
                    log.warning("lease %s was lost (expired and taken by another process)", self.name)
                    self.lost.set()
                    return
            except Exception:  # the metadata store blinked: try again next beat, the expiry still covers us
                log.warning("could not renew lease %s", self.name, exc_info=True)

    def __enter__(self) -> Held:
        self._thread = threading.Thread(target=self._beat, name=f"lease:{self.name}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            release(self.name, self.owner)
        except Exception:  # it expires by itself
            log.warning("could not release lease %s", self.name, exc_info=True)


def hold(name: str, ttl: float = DEFAULT_TTL) -> Held | None:
    """Take lease `name` and keep it renewed while used as a context manager; None when another holds it.

        held = leases.hold(f"sync:{system}")
        if held is None:
            return  # someone else runs it
        with held:
            ...
    """
    owner = new_owner()
    return Held(name, owner, ttl) if try_acquire(name, owner, ttl) else None
