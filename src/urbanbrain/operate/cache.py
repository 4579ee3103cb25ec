"""What every intake reads, cached in the process: the dispatch catalogue, SLA policies, the calendar.

Each report needs the catalogue rule for its category and district, its SLA policy, the working
calendar and (to dispatch) the department's existence. Reading them from the metadata store on every
report was four of the Open311 pipeline's round trips (bench/cases). They are small and change
rarely, so one snapshot of all of them is kept per metadata store and reloaded when stale.

Staleness works as the gateway's cache does (`urbanbrain.capability.cache`): every service that
changes these rows (`catalogue.set_rule`, `sla.set_policy`, `sla.set_calendar`) bumps the `operate`
row of `cache_stamps` in its own transaction and forgets this process's snapshot after the commit;
every process reads that one integer at most every `STAMP_SECONDS`, so an edit made by another process
(the CLI, a second server) is seen within ~2 s. Snapshots otherwise live `TTL_SECONDS`, the bound for
rows changed behind the services' back. Departments are only ever added, so a code missing from the
snapshot is looked up in the store before it is refused.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from urbanbrain.meta.db import get_engine, metadata_url, session_scope
from urbanbrain.meta.models import CacheStamp, Department, DispatchRule, SlaPolicy, WorkCalendar
from urbanbrain.operate.calendar import Calendar

STAMP = "operate"
STAMP_SECONDS = 2.0
TTL_SECONDS = 60.0
CALENDAR = "default"


@dataclass(frozen=True)
class Snapshot:
    rules: dict[tuple[str, str], str]  # (category, district) -> department
    policies: dict[tuple[str, str], tuple[int, int, bool]]  # (category, priority) -> respond, resolve, working
    calendar: Calendar
    departments: frozenset[str]
    loaded_at: float
    stamp: int | None

    @property
    def categories(self) -> list[str]:
        return sorted({c for c, _ in self.rules})


_LOCK = threading.Lock()
_state: dict[str, Any] = {"url": None, "snapshot": None, "checked": 0.0}


def _load(url: str, stamp: int | None) -> Snapshot:
    with session_scope() as s:
        rules = {(r.category, r.district): r.department for r in s.scalars(select(DispatchRule))}
        policies = {(p.category, p.priority): (p.respond_minutes, p.resolve_minutes, bool(p.working_hours))
                    for p in s.scalars(select(SlaPolicy))}
        row = s.get(WorkCalendar, CALENDAR)
        calendar = Calendar() if row is None else Calendar(
            row.timezone, row.day_start, row.day_end, tuple(int(d) for d in row.weekdays),
            frozenset(date.fromisoformat(str(d)) for d in row.holidays),
            frozenset(date.fromisoformat(str(d)) for d in row.workdays))
        departments = frozenset(s.scalars(select(Department.code)))
    return Snapshot(rules, policies, calendar, departments, time.monotonic(), stamp)


def _read_stamp(url: str) -> int | None:
    with get_engine(url).connect() as conn:
        return conn.scalar(select(CacheStamp.version).where(CacheStamp.name == STAMP))


def snapshot() -> Snapshot:
    """The current snapshot: reloaded when another process bumped the stamp, or after `TTL_SECONDS`."""
    url = metadata_url()
    now = time.monotonic()
    with _LOCK:
        snap: Snapshot | None = _state["snapshot"] if _state["url"] == url else None
        check = snap is None or now - _state["checked"] >= STAMP_SECONDS
        if check:
            _state["checked"] = now  # claimed: concurrent callers keep the old snapshot meanwhile
    if snap is not None and not check and now - snap.loaded_at < TTL_SECONDS:
        return snap
    stamp = _read_stamp(url)
    if snap is not None and snap.stamp == stamp and now - snap.loaded_at < TTL_SECONDS:
        return snap
    fresh = _load(url, stamp)
    with _LOCK:
        _state["url"], _state["snapshot"] = url, fresh
    return fresh


def forget() -> None:
    with _LOCK:
        _state["snapshot"] = None


def invalidate(session: Session) -> None:
    """Called by every service that changes a cached row, inside its transaction: other processes see the
    stamp move only with the change, and this process forgets its snapshot once the change commits."""
    session.execute(update(CacheStamp).where(CacheStamp.name == STAMP).values(version=CacheStamp.version + 1))
    event.listen(session, "after_commit", lambda _s: forget(), once=True)
    forget()


def department_exists(code: str) -> bool:
    """Registered? From the snapshot; a code it lacks (added since) is read from the store."""
    if code in snapshot().departments:
        return True
    with session_scope() as s:
        found = s.scalar(select(Department.code).where(Department.code == code)) is not None
    if found:
        forget()
    return found
