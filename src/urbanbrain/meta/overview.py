"""The city at a glance: the headline figures of the console's overview and of `GET /api/overview`.

One function, `city_overview()`, so the console, the API and (later) the operations screen show the same
numbers. Everything is a SQL aggregate in the metadata store — a handful of `GROUP BY` queries whose cost
does not grow with the number of rows in the lake, only (mildly) with systems and runs — so the page stays
fast with 400+ systems and thousands of runs. It never touches the lake itself: row counts are the ones
each sync recorded on its dataset.

Example:
    >>> ov = city_overview()
    >>> ov.systems.total, ov.records, ov.syncs_24h.failed
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import Dataset, Department, SyncRun, System
from urbanbrain.meta.schemas import UTCDateTime

HEALTH_STATES = ("healthy", "degraded", "unhealthy", "unknown")


class SystemHealthCounts(BaseModel):
    total: int = 0
    healthy: int = 0
    degraded: int = 0
    unhealthy: int = 0
    unknown: int = 0


class SyncCounts(BaseModel):
    """Runs started in a window, by outcome (`running` ones have none yet)."""

    total: int = 0
    succeeded: int = 0
    partial: int = 0
    failed: int = 0
    running: int = 0
    rows_written: int = 0


class DepartmentFigures(BaseModel):
    code: str
    name: str
    systems: int
    datasets: int
    records: int


class IngestBucket(BaseModel):
    """Rows written by the runs that started in [start, start + one bucket)."""

    start: UTCDateTime
    rows_written: int
    runs: int
    failed: int


class FailedRun(BaseModel):
    id: str
    system: str
    status: str
    started_at: UTCDateTime
    error: str | None


class OverviewPublic(BaseModel):
    generated_at: UTCDateTime
    departments: int
    systems: SystemHealthCounts
    datasets: int
    quarantine_datasets: int
    records: int
    quarantined_records: int
    syncs_24h: SyncCounts
    by_department: list[DepartmentFigures]
    ingest_hourly: list[IngestBucket]
    ingest_daily: list[IngestBucket]
    recent_failures: list[FailedRun]


def _bucket(session: Session, column: Any, unit: str) -> ColumnElement[Any]:
    """The start of the UTC hour/day of a timestamp, in this database's dialect.

    SQLite stores UTC text; PostgreSQL's `date_trunc` on a timestamptz would use the session's zone.
    """
    if session.get_bind().dialect.name == "sqlite":
        fmt = "%Y-%m-%d %H:00:00" if unit == "hour" else "%Y-%m-%d 00:00:00"
        return func.strftime(fmt, column)
    return func.date_trunc(unit, func.timezone("UTC", column))


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value)


def _ingest(session: Session, now: datetime, unit: str, count: int) -> list[IngestBucket]:
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    last = now.replace(minute=0, second=0, microsecond=0)
    if unit == "day":
        last = last.replace(hour=0)
    first = last - step * (count - 1)
    bucket = _bucket(session, SyncRun.started_at, unit).label("bucket")
    rows = session.execute(
        select(bucket, func.coalesce(func.sum(SyncRun.rows_written), 0), func.count(),
               func.sum(case((SyncRun.status == "failed", 1), else_=0)))
        .where(SyncRun.started_at >= first)
        .group_by(bucket)
    ).all()
    found = {_as_datetime(b): (int(w or 0), int(n or 0), int(f or 0)) for b, w, n, f in rows if b is not None}
    out = []
    for i in range(count):
        start = first + step * i
        written, runs, failed = found.get(start, (0, 0, 0))
        out.append(IngestBucket(start=start, rows_written=written, runs=runs, failed=failed))
    return out


def _by_department(session: Session) -> list[DepartmentFigures]:
    systems = dict(session.execute(select(System.department_id, func.count()).group_by(System.department_id)).all())
    data = {
        dept_id: (int(n), int(rows or 0))
        for dept_id, n, rows in session.execute(
            select(System.department_id, func.count(Dataset.id), func.sum(Dataset.row_count))
            .join(System, Dataset.system_id == System.id)
            .where(Dataset.role == "data")
            .group_by(System.department_id)
        ).all()
    }
    figures = [
        DepartmentFigures(code=d.code, name=d.name, systems=int(systems.get(d.id, 0)),
                          datasets=data.get(d.id, (0, 0))[0], records=data.get(d.id, (0, 0))[1])
        for d in session.scalars(select(Department))
    ]
    return sorted(figures, key=lambda f: (-f.records, f.code))


def city_overview(now: datetime | None = None, *, failures: int = 5) -> OverviewPublic:
    """Headline figures, records by department, ingest per hour (24 h) and per day (14 days)."""
    now = as_utc(now or utcnow())
    since = now - timedelta(hours=24)
    with session_scope() as s:
        health = SystemHealthCounts()
        for state, n in s.execute(select(System.health, func.count()).group_by(System.health)).all():
            key = state if state in HEALTH_STATES else "unknown"
            setattr(health, key, getattr(health, key) + int(n))
            health.total += int(n)
        datasets = {role: (int(n), int(rows or 0)) for role, n, rows in s.execute(
            select(Dataset.role, func.count(), func.sum(Dataset.row_count)).group_by(Dataset.role)).all()}
        syncs = SyncCounts()
        for status, n, rows in s.execute(
            select(SyncRun.status, func.count(), func.sum(SyncRun.rows_written))
            .where(SyncRun.started_at >= since).group_by(SyncRun.status)
        ).all():
            if status in ("succeeded", "partial", "failed", "running"):
                setattr(syncs, status, getattr(syncs, status) + int(n))
            elif status == "succeeded_with_rejects":  # a success; its rejects show on the run
                syncs.succeeded += int(n)
            syncs.total += int(n)
            syncs.rows_written += int(rows or 0)
        recent = s.execute(
            select(SyncRun.id, System.name, SyncRun.status, SyncRun.started_at, SyncRun.error)
            .join(System, SyncRun.system_id == System.id)
            .where(SyncRun.status.in_(("failed", "partial")))
            .order_by(SyncRun.started_at.desc()).limit(failures)
        ).all()
        return OverviewPublic(
            generated_at=now,
            departments=int(s.scalar(select(func.count()).select_from(Department)) or 0),
            systems=health,
            datasets=datasets.get("data", (0, 0))[0],
            quarantine_datasets=datasets.get("quarantine", (0, 0))[0],
            records=datasets.get("data", (0, 0))[1],
            quarantined_records=datasets.get("quarantine", (0, 0))[1],
            syncs_24h=syncs,
            by_department=_by_department(s),
            ingest_hourly=_ingest(s, now, "hour", 24),
            ingest_daily=_ingest(s, now, "day", 14),
            recent_failures=[FailedRun(id=r[0], system=r[1], status=r[2], started_at=r[3], error=r[4])
                             for r in recent],
        )
