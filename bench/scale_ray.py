"""scale_ray: `--systems` systems (default 50) synced by `urbanbrain worker --once` in-process and on a local
Ray cluster (a head and `--workers` worker nodes, each its own `ray start`), in the same run.

Each system is a SQLite database of one table of `--rows` sensor readings. Both runs start from an
empty PostgreSQL metadata store and an empty warehouse, register the same systems and run one worker
process: the reference with `--engine inprocess --concurrency <cluster CPUs>`, the measured one with
`--engine ray://auto` (a Ray task per system). Reported: wall time of each worker process (start-up
included), the cluster's start-up apart, the speed-up, and whether every table holds the same rows in
both (count, sum and distinct ids per table). Writes bench/.work/scale_ray.json. `--split-rows` measures
one large object instead: synced in one piece in process, and as key-range parts (Ray tasks) on Ray.

On this 2-core machine the speed-up is bounded by the two cores the in-process threads already use
(syncs of small tables are mostly Python: GIL-bound in threads, but parallel in Ray's worker processes),
against Ray's per-task cost (a worker process per node importing urbanbrain, pyiceberg and DuckDB,
scheduling, object transfer) and the catalog commits all runs share in PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

WORK = Path(__file__).resolve().parent / ".work" / "scale_ray"
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _fresh_db(name: str) -> str:
    import psycopg

    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def _drop_db(name: str) -> None:
    import psycopg

    from urbanbrain.meta.db import dispose_engines

    dispose_engines()
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_sources(root: Path, systems: int, rows: int) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(systems):
        db = root / f"sensors{n}.db"
        if not db.exists():
            conn = sqlite3.connect(db)
            conn.execute("CREATE TABLE readings (id INTEGER PRIMARY KEY, station TEXT, district TEXT, "
                         "at TEXT, pm25 REAL, no2 REAL, temp REAL)")
            conn.executemany("INSERT INTO readings VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [(i, f"s{n}-{i % 40}", f"4301{i % 9:02d}", f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:00",
                               (i * 7 % 300) / 2, (i * 3 % 200) / 3, (i % 40) - 5.5) for i in range(rows)])
            conn.commit()
            conn.close()
        paths.append(db)
    return paths


def _use(env: dict[str, str]) -> None:
    from urbanbrain.core.settings import get_settings
    from urbanbrain.meta.db import dispose_engines

    os.environ.update(env)
    get_settings.cache_clear()
    dispose_engines()


def register_all(env: dict[str, str], sources: list[Path]) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from urbanbrain.connect.systems import add_system, discover_system
    from urbanbrain.core.clock import utcnow
    from urbanbrain.meta.db import session_scope
    from urbanbrain.meta.departments import add_department
    from urbanbrain.meta.models import System

    _use(env)
    add_department("Ecology and Environment", "environment")
    for n, db in enumerate(sources):
        add_system(f"sensors-{n}", "environment", "sqlite", {"url": f"sqlite:///{db}"}, schedule="every 1h")
        discover_system(f"sensors-{n}")
    with session_scope() as s:
        s.execute(update(System).values(next_run_at=utcnow() - timedelta(seconds=1)))


def fingerprint(env: dict[str, str], systems: int) -> dict[str, list[Any]]:
    from urbanbrain.govern.principals import SYSTEM
    from urbanbrain.govern.query import run_query

    _use(env)
    out = {}
    for n in range(systems):
        sql = ("SELECT count(*) AS n, count(DISTINCT id) AS ids, sum(id) AS s, "
               f"sum(CAST(pm25 * 2 AS BIGINT)) AS p FROM environment.sensors_{n}.readings")
        row = run_query(sql, principal=SYSTEM).table.to_pylist()[0]
        out[f"sensors-{n}"] = [row["n"], row["ids"], row["s"], row["p"]]
    return out


def run_worker(env: dict[str, str], args: list[str]) -> tuple[float, str]:
    exe = str(Path(sys.executable).with_name("urbanbrain"))
    start = time.perf_counter()
    done = subprocess.run([exe, "worker", "--once", *args], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=3600)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"worker {args} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds, done.stderr


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", type=int, default=50)
    parser.add_argument("--rows", type=int, default=20_000, help="rows per system")
    parser.add_argument("--workers", type=int, default=2, help="Ray worker nodes")
    parser.add_argument("--cpus-per-worker", type=int, default=1)
    parser.add_argument("--split-rows", type=int, default=0,
                        help="on Ray, sync each table as key-range parts of this many rows (Ray tasks); the "
                             "in-process reference syncs each in one piece (e.g. --systems 1 --rows 2000000 "
                             "--split-rows 250000: one large object)")
    args, _ = parser.parse_known_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from urbanbrain.core.ray_local import LocalRayCluster

    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs", flush=True)
    sources = make_sources(WORK / f"sources-{args.rows}", args.systems, args.rows)
    suffix = os.environ.get("UB_TEST_DB_SUFFIX", "")
    cpus = args.workers * args.cpus_per_worker
    runs: dict[str, dict[str, str]] = {}
    for name in ("inprocess", "ray"):
        home = WORK / f"home-{name}"
        shutil.rmtree(home, ignore_errors=True)
        runs[name] = {"URBANBRAIN_HOME": str(home), "URBANBRAIN_WAREHOUSE": str(home / "warehouse"),
                      "URBANBRAIN_DATABASE_URL": _fresh_db(f"ub_bench_ray_{name}{suffix}"),
                      "URBANBRAIN_FILE_ROOTS": str(WORK)}
        register_all(runs[name], sources)
    try:
        inproc_s, _ = run_worker({**runs["inprocess"], "URBANBRAIN_SYNC_SPLIT_ROWS": "0"},
                                 ["--engine", "inprocess", "--concurrency", str(cpus)])
        print(f"in-process: {args.systems} systems in {inproc_s:.1f} s", flush=True)
        start = time.perf_counter()
        with LocalRayCluster(workers=args.workers, cpus_per_worker=args.cpus_per_worker) as cluster:
            cluster_s = time.perf_counter() - start
            print(f"ray cluster of {args.workers} worker nodes up in {cluster_s:.1f} s", flush=True)
            split = {"URBANBRAIN_SYNC_SPLIT_ROWS": str(args.split_rows)} if args.split_rows else {}
            ray_s, _ = run_worker({**runs["ray"], **cluster.driver_env(), **split}, [])
        print(f"ray: {args.systems} systems in {ray_s:.1f} s", flush=True)
        reference = fingerprint(runs["inprocess"], args.systems)
        measured = fingerprint(runs["ray"], args.systems)
        expected = {f"sensors-{n}": [args.rows, args.rows, args.rows * (args.rows - 1) // 2]
                    for n in range(args.systems)}
        wrong = sorted(k for k, v in measured.items() if v != reference.get(k) or v[:3] != expected[k])
        correct = not wrong
    finally:
        for name in runs:
            _drop_db(f"ub_bench_ray_{name}{suffix}")
    load_after = os.getloadavg()
    result = {
        "systems": args.systems, "rows_per_system": args.rows, "split_rows_on_ray": args.split_rows,
        "worker_nodes": args.workers, "cluster_cpus": cpus,
        "load_before": load, "load_after": load_after,
        "inprocess_seconds": round(inproc_s, 2), "ray_seconds": round(ray_s, 2),
        "ray_cluster_start_seconds": round(cluster_s, 2),
        "speedup": round(inproc_s / ray_s, 3),
        "rows_per_second_inprocess": round(args.systems * args.rows / inproc_s),
        "rows_per_second_ray": round(args.systems * args.rows / ray_s),
        "wrong_tables": wrong[:10],
        "targets": {"correct": correct},
    }
    print(json.dumps(result, indent=2))
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK.parent / "scale_ray.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
