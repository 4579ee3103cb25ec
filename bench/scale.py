"""Scale benchmark (issue 17): a generated city sensor table onboarded and queried under governance.

1. **Generate** `--rows` sensor readings (station, district, time over one year in time order, 8
   measures) as one Parquet file with DuckDB, and a 2,000-station registry.
2. **Onboard** it twice through `run_sync` (what `urbanbrain sync` runs): registered in place
   (`--register-in-place`: Iceberg `add_files`, no copy) and copied (the files connector, the lake
   writer, partitioned by month of `time` as chosen at creation). Reference: DuckDB copying the
   same file to Parquet (`COPY ... TO`) in the same run. Target: copy >= 0.8x DuckDB's rows/s;
   in place: seconds, whatever the size.
3. **Query**: ten analytic queries through the governed query layer (`govern.query.run_query`, what
   `urbanbrain sql` calls) as an analyst of another department (station names masked, so every
   dataset is read through its materialised masked view), against raw DuckDB over the generated
   files. The first governed pass masks the table once (timed on its own); then each query's time
   is the best of `--repeat`. Target: geomean ratio <= 1.2x, the one-day filter <= 1.2x too.

    .venv/bin/python bench/scale.py --rows 10000000
    .venv/bin/python bench/run.py scale --rows 1000000
    .venv/bin/python bench/scale.py --rows 10000000 --reuse-home   # queries only, on a --keep run's lake

`--reuse-home` skips generating and onboarding: it runs the query phase again, with the code checked
out now, against the lake home and generated files an earlier `--keep` run of the same `--rows` left
(a billion-row lake built once can be re-queried after a change), and keeps them.

Prints the load average with the figures; writes bench/.work/scale.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
WORK = BENCH_DIR / ".work"
TARGET_COPY = 0.8
TARGET_QUERY = 1.2
DAY = ("time >= TIMESTAMP '2024-06-01' AND time < TIMESTAMP '2024-06-02'")

QUERIES: dict[str, str] = {
    "count_by_district": "SELECT district, count(*) AS n FROM {t} GROUP BY 1 ORDER BY 1",
    "count_by_district_day": "SELECT district, CAST(time AS DATE) AS day, count(*) AS n FROM {t} "
                             "GROUP BY 1, 2 ORDER BY 1, 2",
    "avg_pm25_by_day": "SELECT CAST(time AS DATE) AS day, avg(pm25) AS pm25 FROM {t} GROUP BY 1 ORDER BY 1",
    "top10_stations_pm25": "SELECT station, max(pm25) AS worst FROM {t} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
    "percentiles_no2": "SELECT quantile_cont(no2, [0.5, 0.9, 0.99]) AS q FROM {t}",
    "join_registry": "SELECT r.kind, count(*) AS n, avg(s.o3) AS o3 FROM {t} s JOIN {r} r "
                     "ON s.station_id = r.station_id GROUP BY 1 ORDER BY 1",
    "one_day_filter": f"SELECT district, count(*) AS n, avg(pm25) AS pm25 FROM {{t}} WHERE {DAY} "
                      "GROUP BY 1 ORDER BY 1",
    "hourly_profile": "SELECT hour(time) AS h, avg(noise_db) AS noise FROM {t} GROUP BY 1 ORDER BY 1",
    "stations_per_district": "SELECT district, count(DISTINCT station) AS stations FROM {t} GROUP BY 1 ORDER BY 1",
    "monthly_temperature": "SELECT month(time) AS m, avg(temperature) AS t, stddev_samp(temperature) AS sd "
                           "FROM {t} GROUP BY 1 ORDER BY 1",
}


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def generate(folder: Path, rows: int) -> tuple[Path, Path, float]:
    """The sensor file (time order, one year) and the station registry; returns seconds."""
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    data, registry = folder / "sensors" / "readings.parquet", folder / "registry" / "stations.parquet"
    data.parent.mkdir(exist_ok=True)
    registry.parent.mkdir(exist_ok=True)
    if data.exists() and registry.exists() and \
            duckdb.sql(f"SELECT count(*) FROM '{data}'").fetchone() == (rows,):  # type: ignore[union-attr]
        return data, registry, 0.0
    step = max(1, 365 * 86400 // rows) if rows < 365 * 86400 else 0
    per_second = max(1, rows // (365 * 86400))
    offset = f"i * {step}" if step else f"i // {per_second}"
    start = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")  # time order: row groups cover narrow time ranges
    con.execute(f"""COPY (SELECT i % 2000 AS station_id, 'S' || lpad(CAST(i % 2000 AS VARCHAR), 4, '0') AS station,
        '4301' || lpad(CAST(2 + (i % 2000) % 9 AS VARCHAR), 2, '0') AS district,
        TIMESTAMP '2024-01-01' + to_seconds({offset}) AS time,
        round(5 + random() * 300, 1) AS pm25, round(random() * 200, 1) AS no2, round(random() * 240, 1) AS o3,
        round(random() * 10, 2) AS co, round(random() * 100, 1) AS so2, round(-5 + random() * 45, 1) AS temperature,
        round(20 + random() * 80, 1) AS humidity, round(35 + random() * 60, 1) AS noise_db
        FROM range({rows}) t(i)) TO '{data}' (FORMAT parquet, ROW_GROUP_SIZE 500000, COMPRESSION zstd)""")
    con.execute(f"""COPY (SELECT i AS station_id, 'S' || lpad(CAST(i AS VARCHAR), 4, '0') AS code,
        ['roadside', 'urban', 'suburban', 'industrial'][1 + i % 4] AS kind FROM range(2000) t(i))
        TO '{registry}' (FORMAT parquet)""")
    con.close()
    return data, registry, time.perf_counter() - start


def _cpu() -> float:
    """CPU seconds of this process, all threads: on a shared machine a step with more threads gets more
    of the CPU, so the copy is also compared by CPU time per row, which load does not skew."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def duckdb_copy(data: Path, out: Path) -> tuple[float, float]:
    """DuckDB copying the file to Parquet: (wall seconds, CPU seconds)."""
    import duckdb

    out.unlink(missing_ok=True)
    start, cpu = time.perf_counter(), _cpu()
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_parquet('{data}')) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
    con.close()
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    out.unlink(missing_ok=True)  # before the copy onboarding: at 1 B rows the disk holds one less copy
    return seconds, cpu


def onboard(data: Path, registry: Path, save: Any = None, steps: tuple[str, ...] = ("inplace", "registry", "copy"),
            out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Register in place, then the registry, then the copy (slowest last, so a cut-short run keeps the rest)."""
    from urbanbrain.connect.systems import add_system, discover_system
    from urbanbrain.govern import classification as cls
    from urbanbrain.meta.departments import add_department
    from urbanbrain.sync.runner import run_sync

    if "inplace" in steps:
        add_department("Ecology and Environment", "env")
        add_department("Transport", "transport")
    out = {} if out is None else out
    for name, folder, in_place in (("inplace", data.parent, True), ("registry", registry.parent, True),
                                   ("copy", data.parent, False)):
        if name not in steps:
            continue
        add_system(name, "env", "files", {"path": str(folder / "*.parquet"), "register_in_place": in_place})
        discover_system(name)
        start, cpu = time.perf_counter(), _cpu()
        run = run_sync(name)
        out[name] = {"seconds": time.perf_counter() - start, "cpu_s": _cpu() - cpu, "status": run.status,
                     "rows": run.rows_written, "mode": run.objects[0].mode if run.objects else "", "load": _load()}
        if run.status != "succeeded":
            raise SystemExit(f"sync of {name} failed: {run.error}")
        print(f"onboarded {name}: {out[name]}", flush=True)
        if save:
            save({"onboard": out})
    for ds in (f"env.{s}.{'stations' if s == 'registry' else 'readings'}" for s in steps):
        cls.set_default_level(ds, "open")
        if not ds.endswith("stations"):
            cls.set_field(ds, "station", level="open", pii_type="person_name")  # masked for other departments
    return out


def _raw_con(data: Path, registry: Path) -> Any:
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{data}')")
    con.execute(f"CREATE VIEW r AS SELECT * FROM read_parquet('{registry}')")
    return con


def _best(fn: Any, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def queries(data: Path, registry: Path, table: str, repeat: int, save: Any = None) -> dict[str, Any]:
    from urbanbrain.govern.principals import ANALYST, Principal
    from urbanbrain.govern.query import open_sealed, run_query

    analyst = Principal("user", "bench-analyst", frozenset({"transport"}), frozenset({ANALYST}))
    names = {"t": table, "r": "env.registry.stations"}
    rows: dict[str, Any] = {}
    out: dict[str, Any] = {"queries": rows}

    def one(name: str) -> None:
        sql = QUERIES[name]
        governed = sql.format(**names)
        raw_sql = sql.format(t="t", r="r")

        def raw(raw_sql: str = raw_sql) -> None:
            con = _raw_con(data, registry)
            con.execute(raw_sql).to_arrow_table()
            con.close()

        raw_s = _best(raw, repeat)
        gov_s = _best(lambda g=governed: run_query(g, principal=analyst), repeat)
        rows[name] = {"raw_s": raw_s, "governed_s": gov_s, "ratio": gov_s / raw_s, "load": _load()}
        print(f"{name:<26}{raw_s:>9.3f}{gov_s:>12.3f}{gov_s / raw_s:>8.2f}  load {_load()}", flush=True)
        if save:
            save(out)

    # the one-day filter first, on a table nobody masked yet: pruning means it masks one day's files
    start = time.perf_counter()
    run_query(QUERIES["one_day_filter"].format(**names), principal=analyst)
    out["one_day_cold_s"] = time.perf_counter() - start
    one("one_day_filter")
    sealed = open_sealed(QUERIES["one_day_filter"].format(**names), analyst)
    try:  # files the one-day query could read: its masked twins (pruned) vs the table's data files
        plan = sealed.con.execute("EXPLAIN ANALYZE " + QUERIES["one_day_filter"].format(**names)).fetchall()
        text = "\n".join(str(r[-1]) for r in plan)
    finally:
        sealed.close()
    from urbanbrain.lake.engine import table_files

    files, _ = table_files(tuple(table.split(".")))
    read = [line for line in text.splitlines() if "Total Files Read" in line]
    out.update(table_files=len(files), one_day_files_read=read[0].split(":")[-1].strip(" │") if read else "?")
    start = time.perf_counter()
    for sql in QUERIES.values():  # the first pass masks the tables once (twins per data file)
        run_query(sql.format(**names), principal=analyst)
    out["first_pass_s"] = time.perf_counter() - start
    print(f"first governed pass (masks the table once): {out['first_pass_s']:.1f}s", flush=True)
    for name in QUERIES:
        if name != "one_day_filter":
            one(name)
    out["geomean"] = math.exp(sum(math.log(r["ratio"]) for r in rows.values()) / len(rows))
    return out


def _disk_guard(min_free: int, folders: list[Path]) -> None:
    """Stop the run (and remove its data) if the disk the bench writes to runs low: others share it."""
    import threading

    def watch() -> None:
        while True:
            free = shutil.disk_usage(WORK).free
            if free < min_free:
                print(f"ABORT: {free / 1024 ** 3:.1f} GB free < {min_free / 1024 ** 3:.0f} GB; removing "
                      f"{', '.join(map(str, folders))}", flush=True)
                for folder in folders:
                    shutil.rmtree(folder, ignore_errors=True)
                os._exit(3)
            time.sleep(15)

    threading.Thread(target=watch, daemon=True).start()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the lakehouse (and the generated files)")
    parser.add_argument("--drop-data", action="store_true",
                        help="also remove the generated files at the end (they are reused by the next run otherwise)")
    parser.add_argument("--reuse-home", action="store_true",
                        help="skip generate and onboard: query the lake an earlier --keep run of these --rows left")
    parser.add_argument("--min-free-gb", type=float, default=15.0,
                        help="stop and remove the run's data when the disk has less free space than this")
    args = parser.parse_args(argv)
    home = WORK / f"scale-home-{args.rows}"
    gen = WORK / f"scale-data-{args.rows}"
    ref_out = WORK / "scale-duckdb-copy.parquet"
    if args.reuse_home:
        if not (home / "warehouse").is_dir() or not (gen / "sensors" / "readings.parquet").is_file():
            raise SystemExit(f"--reuse-home: no lake home {home} with generated files {gen} (run --keep first)")
        args.keep = True  # a lake worth reusing is worth keeping
    else:
        shutil.rmtree(home, ignore_errors=True)
    WORK.mkdir(exist_ok=True)
    os.environ["URBANBRAIN_HOME"] = str(home)
    os.environ["URBANBRAIN_FILE_ROOTS"] = str(gen)
    os.environ.setdefault("URBANBRAIN_MASK_CACHE_TOTAL_BYTES", str(64 * 1024 ** 3))
    # a reused lake (a billion rows built once) is not removed when the disk runs low: only what the
    # query phase writes (masked twins, spill files) is
    _disk_guard(int(args.min_free_gb * 1024 ** 3),
                [home / "cache" / "masked", home / "tmp"] if args.reuse_home else [home, gen, ref_out])
    out_json = WORK / f"scale-{args.rows}{'-reuse' if args.reuse_home else ''}.json"
    result: dict[str, Any] = {"rows": args.rows, "load_before": _load(), "reuse_home": args.reuse_home}

    def save(part: dict[str, Any]) -> None:
        result.update(part)
        used = sum(f.stat().st_size for d in (home, gen) if d.exists() for f in d.rglob("*") if f.is_file())
        result.update(load=_load(), bytes_used=used, free_bytes=shutil.disk_usage(WORK).free)
        out_json.write_text(json.dumps(result, indent=2, default=str))
        (WORK / "scale.json").write_text(json.dumps(result, indent=2, default=str))

    print(f"load before: {_load()}  rows: {args.rows:,}", flush=True)
    if args.reuse_home:
        try:
            return _requery(home, gen, args.repeat, result, save)
        finally:
            ref_out.unlink(missing_ok=True)
    try:
        data, registry, gen_s = generate(gen, args.rows)
        gen_bytes = sum(f.stat().st_size for f in gen.rglob("*") if f.is_file())
        print(f"generated {gen_bytes / 1024 ** 2:.0f} MB in {gen_s:.1f}s  load {_load()}", flush=True)
        save({"generate_s": gen_s, "generated_bytes": gen_bytes})
        synced = onboard(data, registry, save, ("inplace", "registry"))  # seconds: first, whatever happens next
        ref_s, ref_cpu = duckdb_copy(data, ref_out)
        print(f"DuckDB COPY: {args.rows / ref_s:,.0f} rows/s ({ref_s:.1f}s, {ref_cpu:.1f} CPU s)  load {_load()}",
              flush=True)
        save({"duckdb_copy_s": ref_s, "duckdb_copy_cpu_s": ref_cpu})
        onboard(data, registry, save, ("copy",), synced)
        copy_rate, ref_rate = args.rows / synced["copy"]["seconds"], args.rows / ref_s
        cpu_ratio = ref_cpu / synced["copy"]["cpu_s"]
        print(f"onboard in place: {synced['inplace']['seconds']:.2f}s ({synced['inplace']['mode']}); "
              f"copy: {copy_rate:,.0f} rows/s; DuckDB COPY: {ref_rate:,.0f} rows/s -> {copy_rate / ref_rate:.2f}x; "
              f"by CPU time per row {cpu_ratio:.2f}x", flush=True)
        save({"copy_ratio": copy_rate / ref_rate, "copy_cpu_ratio": cpu_ratio, "home_bytes_after_copy": _bytes(home)})
        result_q = queries(data, registry, "env.copy.readings", args.repeat, lambda part: save(part))
        day = result_q["queries"]["one_day_filter"]["ratio"]
        print(f"geomean {result_q['geomean']:.2f}x; one-day filter {day:.2f}x; files: table "
              f"{result_q['table_files']}, one-day query read {result_q['one_day_files_read']}")
        disk = _bytes(home)
        print(f"disk: generated {_bytes(gen) / 1024 ** 3:.2f} GB, lake home {disk / 1024 ** 3:.2f} GB; "
              f"load after: {_load()}")
        save({**result_q, "home_bytes": disk, "targets": {
            "copy_met": copy_rate / ref_rate >= TARGET_COPY, "query_met": result_q["geomean"] <= TARGET_QUERY,
            "one_day_met": day <= TARGET_QUERY}})
    finally:
        ref_out.unlink(missing_ok=True)
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
            if args.drop_data:
                shutil.rmtree(gen, ignore_errors=True)
    return result


def _requery(home: Path, gen: Path, repeat: int, result: dict[str, Any], save: Any) -> dict[str, Any]:
    """The query phase alone, on a lake an earlier `--keep` run built (`--reuse-home`)."""
    data, registry = gen / "sensors" / "readings.parquet", gen / "registry" / "stations.parquet"
    result_q = queries(data, registry, "env.copy.readings", repeat, lambda part: save(part))
    day = result_q["queries"]["one_day_filter"]["ratio"]
    print(f"geomean {result_q['geomean']:.2f}x; one-day filter {day:.2f}x; files: table "
          f"{result_q['table_files']}, one-day query read {result_q['one_day_files_read']}; load after: {_load()}")
    save({**result_q, "home_bytes": _bytes(home), "targets": {
        "query_met": result_q["geomean"] <= TARGET_QUERY, "one_day_met": day <= TARGET_QUERY}})
    return result


def _bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.exists() else 0


if __name__ == "__main__":
    main(sys.argv[1:])
