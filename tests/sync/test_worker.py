"""The scheduler: due systems run once per schedule tick, transient failures retry with backoff,
terminal ones do not and leave the system unhealthy with the reason."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.sync.helpers import register, scalar
from urbanbrain.connect.systems import add_system, get_system
from urbanbrain.core.clock import utcnow
from urbanbrain.core.errors import SyncInProgressError
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.departments import add_department
from urbanbrain.meta.models import System
from urbanbrain.sync import locks
from urbanbrain.sync.runner import run_sync
from urbanbrain.sync.runs import list_runs
from urbanbrain.sync.worker import claim_due, run_worker, sync_with_retries


def _make_due(name: str) -> None:
    with session_scope() as s:
        s.execute(update(System).where(System.name == name).values(next_run_at=utcnow() - timedelta(seconds=1)))


@pytest.fixture
def sqlite_system(tmp_path: Path) -> str:
    db = tmp_path / "src.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE buses (id INTEGER PRIMARY KEY, plate TEXT)")
    conn.executemany("INSERT INTO buses VALUES (?, ?)", [(i, f"湘A{i:05d}") for i in range(30)])
    conn.commit()
    conn.close()
    register("bus-fleet", "sqlite", {"url": f"sqlite:///{db}"}, dept="transport", schedule="every 5m")
    return "bus-fleet"


def test_worker_runs_due_systems_once_and_reschedules(sqlite_system: str) -> None:
    assert claim_due() == []  # "every 5m" is not due yet
    _make_due(sqlite_system)
    run_worker(once=True)
    runs = list_runs(sqlite_system)
    assert [(r.trigger, r.status) for r in runs] == [("schedule", "succeeded")]
    assert scalar("select count(*) c from transport.bus_fleet.buses")["c"] == 30
    nxt = get_system(sqlite_system).next_run_at
    assert nxt is not None and nxt.replace(tzinfo=None) > utcnow().replace(tzinfo=None) + timedelta(minutes=4)
    run_worker(once=True)  # nothing due: nothing runs
    assert len(list_runs(sqlite_system)) == 1


def test_a_due_system_is_claimed_by_exactly_one_worker(sqlite_system: str) -> None:
    _make_due(sqlite_system)
    first, second = claim_due(), claim_due()
    assert first == [sqlite_system] and second == []


def test_once_claims_only_what_was_due_when_it_started(sqlite_system: str) -> None:
    """`worker --once` runs what was due at its start: a system that came due again while its run went on
    (a schedule shorter than the run) is the next worker's. It ran twice under a slow CI machine."""
    _make_due(sqlite_system)  # due a second ago
    assert claim_due(due_by=utcnow() - timedelta(seconds=5)) == []  # not due yet at that earlier moment
    assert claim_due(due_by=utcnow()) == [sqlite_system]
    nxt = get_system(sqlite_system).next_run_at
    assert nxt is not None and nxt.replace(tzinfo=None) > utcnow().replace(tzinfo=None) + timedelta(minutes=4)


def test_transient_failures_retry_with_backoff_then_mark_unhealthy() -> None:
    add_department("Transport", "transport")
    add_system("traffic-db", "transport", "postgres",
               {"url": "postgresql://postgres:s3cret-pw@127.0.0.1:1/traffic", "timeout": 1})
    run = sync_with_retries("traffic-db", attempts=2, base_seconds=0.01)
    assert run is not None and run.status == "failed" and run.error_transient
    runs = list_runs("traffic-db")
    assert sorted(r.attempt for r in runs) == [1, 2, 3]
    system = get_system("traffic-db")
    assert system.health == "unhealthy" and "unreachable" in (system.health_reason or "")
    assert all("s3cret-pw" not in (r.error or "") for r in runs)


@pytest.mark.postgres
def test_terminal_failures_are_not_retried(pg_db: str) -> None:
    add_department("Transport", "transport")
    bad = pg_db.replace("postgres@", "ghost_user:pw123@")
    add_system("traffic-db", "transport", "postgres", {"url": bad})
    run = sync_with_retries("traffic-db", attempts=3, base_seconds=0.01)
    assert run is not None and run.status == "failed" and run.error_transient is False
    assert len(list_runs("traffic-db")) == 1
    system = get_system("traffic-db")
    assert system.health == "unhealthy" and "credentials" in (system.health_reason or "")
    assert "pw123" not in (system.health_reason or "")


def test_one_sync_per_system_at_a_time(sqlite_system: str) -> None:
    with session_scope() as s:
        s.execute(update(System).where(System.name == sqlite_system).values(
            lock_owner="another-host:1", lock_until=utcnow() + timedelta(minutes=5)))
    with pytest.raises(SyncInProgressError, match="another-host"):
        run_sync(sqlite_system)
    with session_scope() as s:
        sys_id = s.query(System.id).filter(System.name == sqlite_system).scalar()
    with session_scope() as s:
        s.execute(update(System).where(System.id == sys_id).values(lock_owner=None, lock_until=None))
    locks.acquire(sys_id, sqlite_system)
    locks.release(sys_id)
    assert run_sync(sqlite_system).status == "succeeded"
