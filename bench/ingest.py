"""Ingest benchmark: PostgreSQL table -> lakehouse, against `psql \\copy ... binary` in the same run.

Builds (or reuses) a table of mixed types in its own database, then measures

1. the reference: `psql \\copy (SELECT * FROM bench_mixed) TO '/dev/null' BINARY` (best of 2 runs);
2. `run_sync` of that table into a fresh lakehouse, in a child process under `/usr/bin/time -v`
   so its peak resident memory is known;

prints rows/s for both, the ratio sync/psql (target >= 1.0x) and the sync's peak memory (target
< 1.5 GB), checks the lake table's row count and checksums against PostgreSQL, and writes the
results to bench/.work/ingest.json.

    .venv/bin/python bench/ingest.py                 # 5,000,000 rows
    .venv/bin/python bench/ingest.py --rows 500000   # quick
    .venv/bin/python bench/ingest.py --fresh         # rebuild the source table
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORK = BENCH_DIR / ".work"
DEFAULT_URL = "postgresql://postgres@127.0.0.1/ub_bench"
TABLE = "bench_mixed"
DEPT, SYSTEM = "bench", "pg"
DATASET = f"{DEPT}.{SYSTEM}.{TABLE}"

TARGET_RATIO = 1.0
TARGET_PEAK_BYTES = 1.5 * 1024**3

# Mixed types; deterministic values (so checksums are reproducible) with some NULLs.
CREATE_SQL = f"""
CREATE TABLE {TABLE} (
    id          bigint PRIMARY KEY,
    qty         integer,
    price       double precision,
    amount      numeric(12, 2),
    name        text,
    created_at  timestamp,
    day         date,
    active      boolean
)"""

INSERT_SQL = f"""
INSERT INTO {TABLE}
SELECT g,
       (g % 100000)::int,
       (g % 10007) * 0.37,
       ((g * 7919) % 100000000) / 100.0,
       CASE WHEN g % 50 = 0 THEN NULL ELSE 'citizen-' || g || '-' || (g % 977) || '-district-' || (g % 17) END,
       timestamp '2020-01-01' + g * interval '7 seconds',
       date '2000-01-01' + (g % 9000)::int,
       CASE WHEN g % 97 = 0 THEN NULL ELSE g % 3 = 0 END
FROM generate_series({{lo}}::bigint, {{hi}}::bigint) AS g"""

CHECKSUM_PG = f"""
SELECT count(*), sum(id), sum(qty), sum(amount), count(name), count(*) FILTER (WHERE active),
       min(created_at), max(created_at), sum(price) FROM {TABLE}"""

CHECKSUM_LAKE = f"""
SELECT count(*), sum(id), sum(qty), sum(amount), count(name), count(*) FILTER (WHERE active),
       min(created_at), max(created_at), sum(price) FROM {DATASET}"""

CHECK_NAMES = ["count", "sum_id", "sum_qty", "sum_amount", "count_name", "count_active",
               "min_created_at", "max_created_at", "sum_price"]


# -- the source table --------------------------------------------------------------------------------
def _admin_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres"))


def ensure_database(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def ensure_table(url: str, rows: int, fresh: bool) -> dict[str, Any]:
    """Create and fill the table unless it already holds exactly `rows` rows; returns build info."""
    import psycopg

    ensure_database(url)
    with psycopg.connect(url, autocommit=True) as conn:
        present = _one(conn, "SELECT to_regclass(%s)", [TABLE])[0]
        if present and not fresh:
            count = _one(conn, f"SELECT count(*) FROM {TABLE}")[0]
            if count == rows:
                print(f"reusing {TABLE} ({rows:,} rows)")
                return {"built": False, "seconds": 0.0}
            print(f"{TABLE} holds {count:,} rows, want {rows:,}: rebuilding")
        start = time.perf_counter()
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(CREATE_SQL)
        step = 1_000_000
        for lo in range(1, rows + 1, step):
            hi = min(rows, lo + step - 1)
            conn.execute(INSERT_SQL.format(lo=int(lo), hi=int(hi)))
            if sys.stdout.isatty():
                print(f"  inserted {hi:,}/{rows:,} rows", end="\r", flush=True)
        if sys.stdout.isatty():
            print()
        conn.execute(f"VACUUM (FREEZE, ANALYZE) {TABLE}")  # set hint bits now, not during the first read
        seconds = time.perf_counter() - start
        size = _one(conn, "SELECT pg_total_relation_size(%s)", [TABLE])[0]
        print(f"built {TABLE}: {rows:,} rows, {size / 1e6:.0f} MB in {seconds:.1f}s")
        return {"built": True, "seconds": seconds}


def _one(conn: Any, sql: str, params: list[Any] | None = None) -> tuple[Any, ...]:
    """The single row an aggregate query returns."""
    row = conn.execute(sql, params).fetchone()
    if row is None:
        raise SystemExit(f"no row from {sql!r}")
    return tuple(row)


def pg_checksums(url: str) -> list[Any]:
    import psycopg

    with psycopg.connect(url) as conn:
        return list(_one(conn, CHECKSUM_PG))


def table_bytes(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return int(_one(conn, "SELECT pg_relation_size(%s)", [TABLE])[0])


# -- the reference -----------------------------------------------------------------------------------
def psql_reference(url: str, repeats: int = 2) -> dict[str, Any]:
    parts = urlsplit(url)
    cmd = ["psql", "-X", "-q", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432),
           "-U", parts.username or "postgres", parts.path.lstrip("/"),
           "-c", f"\\copy (SELECT * FROM {TABLE}) to '/dev/null' binary"]
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = parts.password
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, env=env)
        times.append(time.perf_counter() - start)
    return {"seconds": min(times), "all_seconds": times}


# -- the sync, in a child process ----------------------------------------------------------------------
def child_sync(home: str, url: str) -> None:
    """Runs inside the measured child: set up a system, discover, sync; print one JSON line."""
    os.environ["URBANBRAIN_HOME"] = home
    t0 = time.perf_counter()
    from urbanbrain.connect.systems import add_system, discover_system
    from urbanbrain.meta.departments import add_department
    from urbanbrain.sync.runner import run_sync

    t1 = time.perf_counter()
    add_department("Benchmark", DEPT)
    add_system(SYSTEM, DEPT, "postgres", {"url": url, "tables": [TABLE]})
    discover_system(SYSTEM)
    t2 = time.perf_counter()
    run = run_sync(SYSTEM)
    t3 = time.perf_counter()
    print("RESULT " + json.dumps({
        "import_seconds": t1 - t0, "setup_seconds": t2 - t1, "sync_seconds": t3 - t2,
        "status": run.status, "error": run.error, "rows_read": run.rows_read,
        "rows_written": run.rows_written, "rows_rejected": run.rows_rejected,
        "bytes_written": run.bytes_written,
    }), flush=True)


def measure_sync(url: str, home: Path, profile: str | None = None) -> dict[str, Any]:
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    python = sys.executable
    inner = [python, str(Path(__file__).resolve()), "--child-sync", str(home), "--url", url]
    if profile:
        inner = [str(Path(python).with_name("py-spy")), "record", "--rate", "100", "--format", "speedscope",
                 "-o", profile, "--", *inner]
    time_file = home / "time.txt"
    time_bin = "/usr/bin/time"
    use_time = Path(time_bin).exists()
    cmd = [time_bin, "-v", "-o", str(time_file), *inner] if use_time else inner
    env = dict(os.environ, URBANBRAIN_HOME=str(home), PYTHONUNBUFFERED="1")
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"the sync child failed with exit code {proc.returncode}")
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit("the sync child printed no result")
    result: dict[str, Any] = json.loads(line[len("RESULT "):])
    result["process_seconds"] = wall
    if use_time:
        text = time_file.read_text()
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        result["peak_rss_bytes"] = int(match.group(1)) * 1024 if match else None
        cpu = [float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", text)]
        result["cpu_seconds"] = sum(cpu)
    else:  # pragma: no cover - fallback without GNU time
        import resource

        result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return result


def lake_checksums(home: Path) -> list[Any]:
    os.environ["URBANBRAIN_HOME"] = str(home)
    from urbanbrain.core.settings import get_settings

    get_settings.cache_clear() if hasattr(get_settings, "cache_clear") else None
    from urbanbrain.govern.principals import SYSTEM
    from urbanbrain.govern.query import run_query

    return list(run_query(CHECKSUM_LAKE, principal=SYSTEM).table.to_pylist()[0].values())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        a, b = float(a), float(b)
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return Decimal(str(a)) == Decimal(str(b))
    if hasattr(a, "tzinfo") and hasattr(b, "tzinfo") and (a.tzinfo is None) != (b.tzinfo is None):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None)
    return bool(a == b)


# -- report --------------------------------------------------------------------------------------------
def _fmt_bytes(n: float | None) -> str:
    return "n/a" if n is None else f"{n / 1024**2:,.0f} MiB"


def report(res: dict[str, Any]) -> None:
    rows = res["rows"]
    ref, sync = res["reference"], res["sync"]
    print()
    print(f"ingest benchmark: {rows:,} rows of {TABLE} (8 mixed-type columns), "
          f"PostgreSQL {res['pg_table_mb']:.0f} MB heap")
    header = f"{'':<34}{'rows':>12}{'seconds':>10}{'rows/s':>14}{'peak RSS':>12}"
    print(header)
    print("-" * len(header))
    label = "psql \\copy binary (reference)"
    print(f"{label:<34}{rows:>12,}{ref['seconds']:>10.2f}"
          f"{ref['rows_per_second']:>14,.0f}{'':>12}")
    print(f"{'urbanbrain sync (run_sync)':<34}{sync['rows_written']:>12,}{sync['sync_seconds']:>10.2f}"
          f"{sync['rows_per_second']:>14,.0f}{_fmt_bytes(sync['peak_rss_bytes']):>12}")
    print(f"{'  whole child process':<34}{'':>12}{sync['process_seconds']:>10.2f}"
          f"{rows / sync['process_seconds']:>14,.0f}")
    print()
    t = res["targets"]
    ok = {True: "MET", False: "NOT MET"}
    print(f"ratio sync/psql   {t['ratio']:.2f}x   (target >= {TARGET_RATIO:.1f}x)   {ok[t['ratio_met']]}")
    print(f"peak memory       {_fmt_bytes(sync['peak_rss_bytes'])}   (target < 1.5 GB)   {ok[t['memory_met']]}")
    print(f"correctness       row count and checksums vs PostgreSQL   {ok[t['correct']]}")
    for name, pg, lake, same in res["checks"]:
        if not same:
            print(f"   MISMATCH {name}: postgres={pg!r} lake={lake!r}")
    print(f"runs (s): psql {' '.join(f'{x:.2f}' for x in ref['all_seconds'])}; "
          f"sync {' '.join(f'{x:.2f}' for x in sync['all_sync_seconds'])} (fastest reported; "
          f"load average before {res['load_average_before']:.1f})")
    print(f"sync CPU {sync.get('cpu_seconds', 0):.1f}s over {sync['sync_seconds']:.1f}s wall "
          f"(setup {sync['setup_seconds']:.1f}s, imports {sync['import_seconds']:.1f}s), "
          f"{sync['bytes_written'] / 1e6:.0f} MB of Parquet written")


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows in the source table (default 5,000,000)")
    parser.add_argument("--fresh", action="store_true", help="rebuild the source table even if it exists")
    parser.add_argument("--url", default=os.environ.get("UB_BENCH_PG_URL", DEFAULT_URL), help="PostgreSQL URL")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the sync N times (fresh lakehouse each) and report the fastest; the "
                             "reference runs max(2, N) times")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark lakehouse afterwards")
    parser.add_argument("--profile", metavar="FILE", help="run the sync under py-spy, speedscope output to FILE")
    parser.add_argument("--child-sync", metavar="HOME", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child_sync:
        child_sync(args.child_sync, args.url)
        return None

    WORK.mkdir(parents=True, exist_ok=True)
    build = ensure_table(args.url, args.rows, args.fresh)
    heap = table_bytes(args.url)

    print("reference: psql \\copy binary ...", flush=True)
    load_before = os.getloadavg()[0]
    if load_before > 1.0:
        print(f"warning: load average {load_before:.1f} on {os.cpu_count()} CPUs; timings will be noisy "
              "(use --repeat 3)", flush=True)
    ref = psql_reference(args.url, repeats=max(2, args.repeat))
    ref["rows_per_second"] = args.rows / ref["seconds"]

    home = WORK / "ingest-home"
    print("urbanbrain sync ...", flush=True)
    runs = []
    for _ in range(max(1, args.repeat)):
        run = measure_sync(args.url, home, profile=args.profile)
        if run["status"] != "succeeded":
            raise SystemExit(f"sync {run['status']}: {run['error']}")
        runs.append(run)
    sync = dict(min(runs, key=lambda r: r["sync_seconds"]))
    sync["all_sync_seconds"] = [r["sync_seconds"] for r in runs]
    sync["peak_rss_bytes"] = max((r.get("peak_rss_bytes") or 0) for r in runs) or None
    sync["rows_per_second"] = sync["rows_written"] / sync["sync_seconds"]

    print("checking the lake table against PostgreSQL ...", flush=True)
    pg = pg_checksums(args.url)
    lake = lake_checksums(home)
    checks = [(n, p, q, _same(p, q)) for n, p, q in zip(CHECK_NAMES, pg, lake, strict=True)]
    correct = all(c[3] for c in checks) and pg[0] == args.rows and sync["rows_written"] == args.rows

    ratio = sync["rows_per_second"] / ref["rows_per_second"]
    peak = sync.get("peak_rss_bytes")
    res: dict[str, Any] = {
        "benchmark": "ingest",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "rows": args.rows,
        "load_average_before": load_before,
        "pg_table_mb": heap / 1e6,
        "source_build": build,
        "reference": ref,
        "sync": sync,
        "checks": [(n, str(p), str(q), s) for n, p, q, s in checks],
        "targets": {
            "ratio": ratio, "ratio_target": TARGET_RATIO, "ratio_met": ratio >= TARGET_RATIO,
            "peak_rss_bytes": peak, "peak_target_bytes": TARGET_PEAK_BYTES,
            "memory_met": peak is not None and peak < TARGET_PEAK_BYTES,
            "correct": correct,
        },
    }
    report(res)
    out = WORK / "ingest.json"
    out.write_text(json.dumps(res, indent=2, default=str) + "\n")
    print(f"\nresults written to {out.relative_to(REPO)}")
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    return res


if __name__ == "__main__":
    main()
