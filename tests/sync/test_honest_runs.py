"""Runs tell the truth after a crash: a run whose process died is abandoned even when its lock expired
long ago, and a first sync's table is registered before its commit, so a kill between the two never
leaves a table `sql` cannot find."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from tests.sync.helpers import register
from urbanbrain.core.clock import utcnow
from urbanbrain.lake.datasets import get_dataset
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import SyncRun, System
from urbanbrain.meta.schemas import SyncRunObjectPublic
from urbanbrain.sync import locks
from urbanbrain.sync.runner import run_sync
from urbanbrain.sync.runs import get_run, list_runs


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _orphan_run(system: str, *, lock_expired: bool) -> str:
    """A run left 'running' by a process that was killed (its pid no longer exists)."""
    import socket

    now = utcnow()
    until = now - timedelta(minutes=30) if lock_expired else now + timedelta(minutes=4)
    with session_scope() as s:
        row = s.query(System).filter(System.name == system).one()
        run = SyncRun(system_id=row.id, trigger="manual", attempt=1, status="running",
                      started_at=now - timedelta(minutes=40))
        s.add(run)
        s.flush()
        s.execute(update(System).where(System.id == row.id)
                  .values(lock_owner=f"{socket.gethostname()}:{_dead_pid()}", lock_until=until))
        return run.id


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "permits.csv"
    path.write_text("id,holder\n" + "".join(f"{i},h{i}\n" for i in range(1, 30)))
    return path


def test_a_run_killed_long_ago_is_abandoned_by_the_next_sync(tmp_path: Path) -> None:
    register("permits", "files", {"path": str(_csv(tmp_path))}, dept="housing")
    orphan = _orphan_run("permits", lock_expired=True)
    run = run_sync("permits")
    assert run.status == "succeeded"
    old = get_run(orphan)
    assert old.status == "abandoned" and old.finished_at is not None and "stopped" in (old.error or "")


def test_the_worker_sweeps_abandoned_runs_without_a_sync(tmp_path: Path) -> None:
    register("permits", "files", {"path": str(_csv(tmp_path))}, dept="housing")
    expired = _orphan_run("permits", lock_expired=True)
    assert locks.sweep_abandoned() == 1
    assert get_run(expired).status == "abandoned"
    with session_scope() as s:
        assert s.query(System).filter(System.name == "permits").one().health == "degraded"
    live = _orphan_run("permits", lock_expired=False)  # lock still valid, but its holder is dead
    assert locks.sweep_abandoned() == 1
    assert get_run(live).status == "abandoned"
    assert [r.status for r in list_runs("permits", status="running")] == []


class _Watch:
    """Looks at the metadata store in the middle of a first sync, before its commit."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def object_started(self, name: str, estimate: int | None) -> None:
        return None

    def object_advanced(self, name: str, rows: int) -> None:
        self.seen.append(get_dataset("housing.permits.permits").name)

    def object_finished(self, name: str, outcome: SyncRunObjectPublic) -> None:
        return None


def test_a_first_sync_registers_its_dataset_before_it_commits(tmp_path: Path) -> None:
    register("permits", "files", {"path": str(_csv(tmp_path))}, dept="housing")
    watch = _Watch()
    run = run_sync("permits", progress=watch)
    assert run.status == "succeeded" and watch.seen == ["housing.permits.permits"]
    assert get_dataset("housing.permits.permits").row_count == 29
