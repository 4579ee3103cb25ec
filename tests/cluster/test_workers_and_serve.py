"""Two `urbanbrain worker` processes and two `urbanbrain serve` processes on one PostgreSQL metadata store
and one warehouse share the syncs: the workers run each due system's scheduled sync exactly once between
them (a scheduled run is skipped when an API sync holds the system just then), while API callers ask both
serve processes to sync the same systems; no two runs of a system ever overlap (the second asker gets
409), every run succeeds or is refused, and every table ends holding its source's rows exactly once."""

from __future__ import annotations

import itertools
import os
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from tests.sync.helpers import register
from urbanbrain.core.clock import utcnow
from urbanbrain.core.settings import get_settings
from urbanbrain.govern import users
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.query import run_query
from urbanbrain.meta import leases
from urbanbrain.meta.db import dispose_engines, session_scope
from urbanbrain.meta.models import System
from urbanbrain.sync.runs import list_runs

SYSTEMS = 6
ROWS = 3_000


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _systems(root: Path) -> list[str]:
    names = []
    for n in range(SYSTEMS):
        db = root / f"meters{n}.db"
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE readings (id INTEGER PRIMARY KEY, meter TEXT, kwh REAL)")
        conn.executemany("INSERT INTO readings VALUES (?, ?, ?)", [(i, f"m{n}-{i % 11}", i * 0.1) for i in range(ROWS)])
        conn.commit()
        conn.close()
        register(f"meters-{n}", "sqlite", {"url": f"sqlite:///{db}"}, dept="energy", schedule="every 1h")
        names.append(f"meters-{n}")
    with session_scope() as s:
        s.execute(update(System).values(next_run_at=utcnow() - timedelta(seconds=1)))
    return names


def _ready(port: int, proc: subprocess.Popen[str], deadline: float) -> None:
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"serve on port {port} did not answer")


@pytest.mark.slow
@pytest.mark.postgres
def test_two_workers_and_two_serve_processes_never_run_a_sync_twice(pg_db: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URBANBRAIN_DATABASE_URL", pg_db)
    monkeypatch.setenv("URBANBRAIN_WAREHOUSE", str(tmp_path / "shared-warehouse"))
    get_settings.cache_clear()
    names = _systems(tmp_path)
    users.add_user("root.admin", "a long enough password 1", roles=[("platform_admin", None)])
    token = users.create_token("root.admin", by=SYSTEM).token
    dispose_engines()
    exe = str(Path(sys.executable).with_name("urbanbrain"))
    env = {**os.environ, "URBANBRAIN_WORKER_CONCURRENCY": "2"}
    ports = [_port(), _port()]
    serves = [subprocess.Popen([exe, "serve", "--port", str(p), "--no-stream"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True) for p in ports]
    workers: list[subprocess.Popen[str]] = []
    try:
        for port, proc in zip(ports, serves, strict=True):
            _ready(port, proc, time.monotonic() + 180)
        workers = [subprocess.Popen([exe, "worker", "--once"], env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True) for _ in range(2)]

        def ask(job: tuple[int, str]) -> int:
            port, name = job
            return httpx.post(f"http://127.0.0.1:{port}/api/systems/{name}/sync", timeout=300,
                              headers={"Authorization": f"Bearer {token}"}).status_code

        with ThreadPoolExecutor(max_workers=4) as pool:  # both serve processes asked for every system at once
            codes = list(pool.map(ask, [(p, n) for n in names for p in ports]))
        outputs = [w.communicate(timeout=600)[0] for w in workers]
    finally:
        for proc in [*serves, *workers]:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    assert [w.returncode for w in workers] == [0, 0], outputs
    assert set(codes) <= {200, 409} and 200 in codes, codes
    for n, name in enumerate(names):
        runs = sorted(list_runs(name), key=lambda r: r.started_at)
        # claimed by one worker alone; skipped (not waited for) when an API sync held the system just then
        assert [r.trigger for r in runs].count("schedule") <= 1 and runs, (name, runs)
        assert all(r.status == "succeeded" for r in runs), [(r.trigger, r.status, r.error) for r in runs]
        for before, after in itertools.pairwise(runs):  # never two runs of one system at once
            assert before.finished_at is not None and before.finished_at <= after.started_at, (name, runs)
        got = run_query(f"SELECT count(*) AS c, count(DISTINCT id) AS d FROM energy.meters_{n}.readings",
                        principal=SYSTEM).table.to_pylist()[0]
        assert got == {"c": ROWS, "d": ROWS}, name
    assert leases.current("sync:") == []
