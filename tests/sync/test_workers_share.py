"""Several `urbanbrain worker` processes on one PostgreSQL metadata store share the due systems: every
system is synced exactly once, and a system whose lease another process holds is left to it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.sync.helpers import register, scalar
from urbanbrain.core.clock import utcnow
from urbanbrain.core.settings import get_settings
from urbanbrain.meta import leases
from urbanbrain.meta.db import dispose_engines, session_scope
from urbanbrain.meta.models import System
from urbanbrain.sync.runs import list_runs
from urbanbrain.sync.worker import run_worker

SYSTEMS = 4


def _systems(root: Path, count: int) -> list[str]:
    names = []
    for n in range(count):
        db = root / f"src{n}.db"
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE readings (id INTEGER PRIMARY KEY, station TEXT, value REAL)")
        conn.executemany("INSERT INTO readings VALUES (?, ?, ?)", [(i, f"s{n}", i * 0.5) for i in range(40 + n)])
        conn.commit()
        conn.close()
        name = f"station-{n}"
        register(name, "sqlite", {"url": f"sqlite:///{db}"}, dept="environment", schedule="every 5m")
        names.append(name)
    with session_scope() as s:
        s.execute(update(System).values(next_run_at=utcnow() - timedelta(seconds=1)))
    return names


@pytest.mark.postgres
def test_two_worker_processes_sync_each_due_system_exactly_once(pg_db: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URBANBRAIN_DATABASE_URL", pg_db)
    get_settings.cache_clear()
    names = _systems(tmp_path, SYSTEMS)
    dispose_engines()
    exe = str(Path(sys.executable).with_name("urbanbrain"))
    env = {**os.environ, "URBANBRAIN_WORKER_CONCURRENCY": "2", "URBANBRAIN_LOG_FORMAT": "json"}
    workers = [subprocess.Popen([exe, "worker", "--once"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=180)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    for n, name in enumerate(names):
        runs = list_runs(name)
        assert [(r.trigger, r.status) for r in runs] == [("schedule", "succeeded")], (name, [r.error for r in runs])
        assert scalar(f"select count(*) c from environment.station_{n}.readings")["c"] == 40 + n
    assert leases.current() == []  # every lease was released
    logged = [json.loads(line) for out in outputs for line in out.splitlines() if line.strip()]  # JSON lines only
    finished = sorted(r["msg"].split()[2] for r in logged if r["msg"].startswith("sync of"))
    assert finished == sorted(names) and {r["logger"] for r in logged} >= {"urbanbrain.worker"}


def test_a_system_whose_lease_is_held_elsewhere_is_skipped(tmp_path: Path) -> None:
    first, second = _systems(tmp_path, 2)
    other = leases.new_owner()
    assert leases.try_acquire(f"sync:{first}", other, ttl=60)
    run_worker(once=True)
    assert list_runs(first) == []  # left to the holder
    assert [r.status for r in list_runs(second)] == ["succeeded"]
    leases.release(f"sync:{first}", other)
