"""A large object split into key-range parts that run as Ray tasks across a real local Ray cluster (a head
and two worker nodes, each its own `ray start`), with PostgreSQL metadata and one shared warehouse: the
worker node not running the sync itself is killed while parts run, and the table still equals what the
in-process, one-piece sync of the same source writes, in one commit (nothing lost, nothing doubled)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.sync.helpers import register
from urbanbrain.core.clock import utcnow
from urbanbrain.core.ray_local import LocalRayCluster
from urbanbrain.core.settings import get_settings
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.query import run_query
from urbanbrain.lake.catalog import get_catalog
from urbanbrain.meta.db import dispose_engines, session_scope
from urbanbrain.meta.models import System
from urbanbrain.sync.runs import list_runs
from urbanbrain.sync.service import sync_system

pytest.importorskip("ray")
ROWS = 160_000
SPLIT_ROWS = 20_000  # 8 parts


def _source(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE readings (id INTEGER PRIMARY KEY, station TEXT, value REAL)")
    conn.executemany("INSERT INTO readings VALUES (?, ?, ?)",
                     [(i, f"station-{i % 29}", round(i * 0.25, 2)) for i in range(ROWS)])
    conn.commit()
    conn.close()


def _lake(system: str) -> list[tuple[object, ...]]:
    table = run_query(f"SELECT id, station, value FROM environment.{system}.readings ORDER BY id",
                      principal=SYSTEM).table
    return [tuple(r.values()) for r in table.to_pylist()]


def _running_task(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::_call")  # a Ray worker running a task
    except OSError:
        return False


def _kill_other_node_while_parts_run(cluster: LocalRayCluster, worker: subprocess.Popen[str],
                                     deadline: float) -> str | None:
    """Once the sync runs on one node (it holds the system's lock) and a task runs on the other node (a
    part: only the sync and its parts are tasks here), kill that other node."""
    parent = None
    while time.monotonic() < deadline and worker.poll() is None:
        if parent is None:
            with session_scope() as s:
                owner = s.scalar(select(System.lock_owner).where(System.name == "big"))
            parent = cluster.node_of(int(owner.rpartition(":")[2])) if owner else None
        if parent:
            victim = "worker-1" if parent == "worker-0" else "worker-0"
            if any(_running_task(pid) for pid in cluster.pids(victim)):
                cluster.kill_node(victim)
                return victim
        time.sleep(0.02)
    return None


@pytest.mark.slow
@pytest.mark.postgres
def test_a_split_object_on_a_ray_cluster_equals_the_in_process_sync(pg_db: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = tmp_path / "shared-warehouse"
    monkeypatch.setenv("URBANBRAIN_DATABASE_URL", pg_db)
    monkeypatch.setenv("URBANBRAIN_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("URBANBRAIN_SYNC_SPLIT_ROWS", "0")
    get_settings.cache_clear()
    for name in ("whole", "big"):
        _source(tmp_path / f"{name}.db")
        register(name, "sqlite", {"url": f"sqlite:///{tmp_path / name}.db"}, dept="environment",
                 schedule="every 1h" if name == "big" else None)
    assert sync_system("whole", by=SYSTEM).status == "succeeded"  # in-process, in one piece
    with session_scope() as s:
        s.execute(update(System).where(System.name == "big").values(next_run_at=utcnow() - timedelta(seconds=1)))
    dispose_engines()
    exe = str(Path(sys.executable).with_name("urbanbrain"))
    env = {**os.environ, "URBANBRAIN_SYNC_SPLIT_ROWS": str(SPLIT_ROWS)}
    with LocalRayCluster(workers=2) as cluster:
        worker = subprocess.Popen([exe, "worker", "--once"], env={**env, **cluster.driver_env()},
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            killed = _kill_other_node_while_parts_run(cluster, worker, time.monotonic() + 300)
            output = worker.communicate(timeout=900)[0]
        finally:
            if worker.poll() is None:
                worker.kill()
    assert killed is not None, "no part was seen running on the other node: " + output[-3000:]
    assert worker.returncode == 0, output
    assert [r.status for r in list_runs("big")] == ["succeeded"], output[-3000:]
    assert _lake("big") == _lake("whole")  # every row once: a re-run part's files replace the lost ones
    snapshots = get_catalog().load_table(("environment", "big", "readings")).metadata.snapshots
    assert len(snapshots) == 1  # all parts and the cursor in one commit
