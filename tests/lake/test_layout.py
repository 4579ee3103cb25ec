"""Large-table layout and upkeep on a small real table: partitions, merges that touch only the files
holding changed keys, `lake maintain` (compaction, expiry, orphans), `lake stats`, pruning under
governance, and who may do each."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.sync.helpers import register
from urbanbrain.cli.main import app
from urbanbrain.core.errors import PermissionDeniedError, ValidationError
from urbanbrain.core.settings import get_settings
from urbanbrain.govern import classification as cls
from urbanbrain.govern.principals import ANALYST, DEPT_ADMIN, STEWARD, SYSTEM, Principal
from urbanbrain.govern.query import open_sealed, run_query
from urbanbrain.lake import maskcache
from urbanbrain.lake.catalog import get_catalog
from urbanbrain.sync import lakeops
from urbanbrain.sync.runner import run_sync

DATASET = "env.air.readings"
IDENT = ("env", "air", "readings")
START = datetime(2024, 3, 1)
ENV_ADMIN = Principal("user", "ada", frozenset({"env"}), frozenset({DEPT_ADMIN}))
ENV_STEWARD = Principal("user", "sue", frozenset({"env"}), frozenset({STEWARD}))
ENV_ANALYST = Principal("user", "ann", frozenset({"env"}), frozenset({ANALYST}))
OTHER_ADMIN = Principal("user", "bob", frozenset({"transport"}), frozenset({DEPT_ADMIN}))
OTHER_ANALYST = Principal("user", "tia", frozenset({"transport"}), frozenset({ANALYST}))


def _setting(monkeypatch: pytest.MonkeyPatch, name: str, value: object) -> None:
    monkeypatch.setenv(f"URBANBRAIN_{name.upper()}", str(value))
    get_settings.cache_clear()


def _write(db: Path, rows: list[tuple[int, str, str, str, float]]) -> None:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE IF NOT EXISTS readings (id INTEGER PRIMARY KEY, station TEXT, district TEXT, "
                 "observed_at TIMESTAMP, pm25 REAL)")
    conn.executemany("INSERT OR REPLACE INTO readings VALUES (?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()


def _rows(ids: range, value: float = 1.0) -> list[tuple[int, str, str, str, float]]:
    """One reading an hour: 2000 rows span 84 days (March to May)."""
    return [(i, f"监测站{i % 7}", f"4301{i % 4:02d}", (START + timedelta(hours=i)).isoformat(sep=" "), value + i)
            for i in ids]


def _files() -> list[str]:
    table = get_catalog().load_table(IDENT)
    return [t.file.file_path for t in table.scan().plan_files()]


@pytest.fixture
def air(tmp_path: Path) -> Path:
    db = tmp_path / "air.db"
    _write(db, _rows(range(2000)))
    register("air", "sqlite", {"url": f"sqlite:///{db}"}, dept="env")
    from urbanbrain.connect.systems import configure_object

    configure_object("air", "readings", cursor_column="observed_at")
    assert lakeops.set_partitioning(DATASET, ["month(observed_at)"], by=ENV_STEWARD) == ["month(observed_at)"]
    assert run_sync("air").status == "succeeded"
    return db


def test_steward_spec_partitions_the_new_table_and_sorted_files(air: Path) -> None:
    table = get_catalog().load_table(IDENT)
    assert [str(f.transform) for f in table.spec().fields] == ["month"]
    files = _files()
    assert len(files) == 3 and all("observed_at_month=2024-0" in f for f in files)  # March..May
    import pyarrow.parquet as pq

    times = pq.read_table(files[0].removeprefix("file://")).column("observed_at").to_pylist()
    assert times == sorted(times)  # written sorted by the cursor column
    with pytest.raises(ValidationError):
        lakeops.set_partitioning(DATASET, ["day(pm25)"], by=ENV_STEWARD)
    with pytest.raises(PermissionDeniedError):
        lakeops.set_partitioning(DATASET, ["identity(district)"], by=ENV_ANALYST)


def test_a_merge_rewrites_only_files_holding_changed_keys_and_a_tie_is_not_merged_again(air: Path) -> None:
    before = set(_files())
    again = run_sync("air")  # nothing changed: the rows at the stored cursor value are recognised
    assert again.rows_written == 0
    assert set(_files()) == before
    conn = sqlite3.connect(air)  # change two readings of March (the cursor moves: they are re-read)
    conn.execute("UPDATE readings SET pm25 = -1, observed_at = '2024-07-01 00:00:00' WHERE id IN (3, 5)")
    conn.commit()
    conn.close()
    assert run_sync("air").rows_written == 2
    after = set(_files())
    assert len(before & after) == 2  # April and May untouched and still referenced
    rows = run_query(f"SELECT id, pm25 FROM {DATASET} WHERE id IN (3, 5, 6) ORDER BY id", principal=SYSTEM)
    assert rows.table.to_pylist() == [{"id": 3, "pm25": -1.0}, {"id": 5, "pm25": -1.0}, {"id": 6, "pm25": 7.0}]
    assert run_query(f"SELECT count(*) AS n FROM {DATASET}", principal=SYSTEM).table.to_pylist() == [{"n": 2000}]


def test_maintain_compacts_atomically_expires_and_removes_orphans(air: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    for k in range(3):  # three small appends into the last month
        _write(air, _rows(range(2000 + 10 * k, 2010 + 10 * k)))
        assert run_sync("air").status == "succeeded"
    orphan = Path(_files()[0].removeprefix("file://")).parent / "killed-write.parquet"
    orphan.write_bytes(b"PAR1")
    old = os.path.getmtime(orphan) - 7200
    os.utime(orphan, (old, old))
    want = run_query(f"SELECT * EXCLUDE (_ub_run_id, _ub_synced_at) FROM {DATASET} ORDER BY id",
                     principal=SYSTEM).table
    stats = lakeops.lake_stats(DATASET, by=ENV_ADMIN)[0]
    assert stats.files == 6 and stats.snapshots == 4 and stats.partitions == 3 and stats.rows == 2030
    assert stats.compact_files == 4 and stats.orphan_files == 0  # the orphan is within its grace period
    dry = lakeops.maintain_lake(DATASET, dry_run=True, by=ENV_ADMIN)[0]
    assert dry.compacted_files == 0 and len(_files()) == 6

    _setting(monkeypatch, "lake_orphan_grace_hours", 1)
    _setting(monkeypatch, "lake_snapshot_retention_hours", 0)
    _setting(monkeypatch, "lake_snapshot_keep", 2)
    previous = get_catalog().load_table(IDENT).current_snapshot()
    result = lakeops.maintain_lake(DATASET, by=ENV_ADMIN)[0]
    assert (result.compacted_files, result.written_files) == (4, 1)
    assert result.expired == 3 and not orphan.exists()
    table = get_catalog().load_table(IDENT)
    assert len(table.metadata.snapshots) == 2
    assert previous is not None and table.metadata.snapshot_by_id(previous.snapshot_id) is not None
    # the snapshot before compaction still reads in full (its files are kept until it expires)
    assert table.scan(snapshot_id=previous.snapshot_id).to_arrow().num_rows == 2030
    got = run_query(f"SELECT * EXCLUDE (_ub_run_id, _ub_synced_at) FROM {DATASET} ORDER BY id",
                    principal=SYSTEM).table
    assert got.equals(want) and len(_files()) == 3
    assert lakeops.lake_stats(DATASET, by=ENV_ADMIN)[0].compact_files == 0

    from urbanbrain.govern.audit import flush, list_entries

    flush()
    assert any(e.target == f"dataset:{DATASET}" for e in list_entries(action="lake.maintain"))


def test_only_the_owning_admin_maintains_and_the_commands_and_schedule_call_the_same(air: Path) -> None:
    with pytest.raises(PermissionDeniedError):
        lakeops.set_partitioning(DATASET, ["day(observed_at)"], by=OTHER_ADMIN)  # a foreign department
    for who in (ENV_ANALYST, ENV_STEWARD, OTHER_ADMIN):
        with pytest.raises(PermissionDeniedError):
            lakeops.maintain_lake(DATASET, by=who)
        with pytest.raises(PermissionDeniedError):
            lakeops.lake_stats(DATASET, by=who)
    assert lakeops.maintain_lake(None, by=OTHER_ADMIN) == []  # --all covers only one's own tables
    assert lakeops.lake_stats(None, by=OTHER_ADMIN) == []
    assert [p.dataset for p in lakeops.lake_stats(None, by=ENV_ADMIN)] == [DATASET]
    # the CLI calls the same functions
    runner = CliRunner()
    stats = runner.invoke(app, ["lake", "stats", DATASET, "--format", "json"])
    assert stats.exit_code == 0, stats.output
    [row] = json.loads(stats.output)
    assert row["dataset"] == DATASET and row["files"] == 3 and row["spec"] == ["month(observed_at)"]
    assert runner.invoke(app, ["lake", "maintain"]).exit_code != 0  # a dataset or --all, not nothing
    done = runner.invoke(app, ["lake", "maintain", "--all", "--format", "json"])
    assert done.exit_code == 0 and json.loads(done.output)[0]["dataset"] == DATASET
    assert runner.invoke(app, ["lake", "partition", DATASET]).exit_code != 0  # --by or --none
    # the worker's schedule: once the interval has passed since it first saw the table
    assert lakeops.maintain_due([DATASET], now=1000.0) == []  # first seen now
    assert lakeops.maintain_due([DATASET], now=1000.0 + 3600) == []
    [due] = lakeops.maintain_due([DATASET], now=1000.0 + 25 * 3600)
    assert due.plan.dataset == DATASET


def test_a_one_day_filter_masks_and_reads_only_that_days_files(air: Path) -> None:
    lakeops.set_partitioning(DATASET, ["day(observed_at)"], by=ENV_STEWARD)
    lakeops.maintain_lake(DATASET, by=ENV_ADMIN)  # old month files are rewritten into days
    assert len(_files()) == 84
    cls.set_default_level(DATASET, "open", by=ENV_STEWARD)
    cls.set_field(DATASET, "station", level="open", pii_type="person_name", by=ENV_STEWARD)  # masked view
    maskcache.clear()
    day = (f"SELECT count(*) AS n, min(station) AS s FROM {DATASET} "
           "WHERE observed_at >= TIMESTAMP '2024-03-05' AND observed_at < '2024-03-06'")
    sealed = open_sealed(day, OTHER_ANALYST)
    try:
        assert len(sealed.scratch) + len(list(maskcache.cache_dir().glob("*.parquet"))) == 1
        n, station = sealed.con.execute(day).fetchone()  # type: ignore[misc]
        plan = "\n".join(str(r[-1]) for r in sealed.con.execute("EXPLAIN ANALYZE " + day).fetchall())
    finally:
        sealed.close()
    assert [line.split(":")[-1].strip(" │") for line in plan.splitlines() if "Total Files Read" in line] == ["1"]
    assert n == 24 and not station.startswith("监测站")  # one day's readings, masked
    cast_day = f"SELECT count(*) AS n FROM {DATASET} WHERE CAST(observed_at AS DATE) = '2024-03-05'"
    assert run_query(cast_day, principal=OTHER_ANALYST).table.to_pylist() == [{"n": 24}]
    assert len(list(maskcache.cache_dir().glob("*.parquet"))) == 1  # the same day's twin, reused
    # a filter on another reference, or an OR, does not prune: all rows stay reachable
    whole = f"SELECT count(*) AS n FROM (SELECT * FROM {DATASET}) s WHERE observed_at < '2024-03-02'"
    assert run_query(whole, principal=OTHER_ANALYST).table.to_pylist() == [{"n": 24}]
    # the whole table is masked in groups of files (`maskcache.groups`), besides the one day's twin
    groups = maskcache.groups([f.removeprefix("file://") for f in _files()])
    day_alone = any(len(g) == 1 and "2024-03-05" in g[0] for g in groups)
    assert len(list(maskcache.cache_dir().glob("*.parquet"))) == len(groups) + (0 if day_alone else 1)


def test_grouped_twins_read_as_one_view_hold_the_same_rows_and_nothing_closed_or_clear(
        air: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several data files' masked rows share one twin and the caller's view is a UNION ALL of one scan
    per twin: the same rows as a twin per file or one twin for all, and no closed column or clear
    value in the view or in any twin, under any of these groupings."""
    import pyarrow.parquet as pq

    from urbanbrain.core.errors import QueryError

    lakeops.set_partitioning(DATASET, ["day(observed_at)"], by=ENV_STEWARD)
    lakeops.maintain_lake(DATASET, by=ENV_ADMIN)
    files = [f.removeprefix("file://") for f in _files()]
    assert len(files) == 84
    cls.set_default_level(DATASET, "open", by=ENV_STEWARD)
    cls.set_field(DATASET, "station", level="open", pii_type="person_name", by=ENV_STEWARD)  # masked
    cls.set_field(DATASET, "district", level="closed", by=ENV_STEWARD)  # not shown at all
    maskcache.clear()
    q = f"SELECT * FROM {DATASET} ORDER BY id"
    grouped = run_query(q, principal=OTHER_ANALYST).table
    groups = maskcache.groups(files)
    assert 1 < len(groups) < len(files) and sorted(f for g in groups for f in g) == sorted(files)
    assert len(list(maskcache.cache_dir().glob("*.parquet"))) == len(groups)
    sealed = open_sealed(q, OTHER_ANALYST)
    try:  # one single-file scan per twin (each keeps its statistics), not one multi-file scan
        plan = str(sealed.con.execute("EXPLAIN (ANALYZE, FORMAT json) " + q).fetchall())
    finally:
        sealed.close()
    assert re.findall(r'Total Files Read": "(\d+)"', plan) == ["1"] * len(groups)
    assert grouped.num_rows == 2000 and "district" not in grouped.column_names
    per_file, one = {"GROUP_CUT": 1}, {"GROUP_CUT": 1 << 40, "GROUP_FILES": 10_000}
    for layout in (per_file, one):
        for name, value in layout.items():
            monkeypatch.setattr(maskcache, name, value)
        assert run_query(q, principal=OTHER_ANALYST).table.equals(grouped)
    twins = list(maskcache.cache_dir().glob("*.parquet"))
    distinct = {tuple(g) for g in groups} | {(f,) for f in files} | {tuple(sorted(files))}
    assert len(twins) == len(distinct)  # a twin per group of files: a one-file group is that file's twin
    for twin in twins:
        stored = pq.read_table(twin)
        assert "district" not in stored.column_names
        assert not any(str(s).startswith("监测站") for s in stored.column("station").to_pylist())
    assert not any(s.startswith("监测站") for s in grouped.column("station").to_pylist())
    # attacks: the closed column by name, the twins by path, a join of the view with itself
    for sql in (f"SELECT district FROM {DATASET}", f"SELECT * FROM read_parquet('{twins[0]}')",
                f"SELECT * FROM '{twins[0]}'"):
        with pytest.raises(QueryError):
            run_query(sql, principal=OTHER_ANALYST)
    self_join = (f"SELECT a.station FROM {DATASET} a JOIN {DATASET} b ON a.id = b.id "
                 "WHERE a.station LIKE '监测站%'")
    assert run_query(self_join, principal=OTHER_ANALYST).table.num_rows == 0
    assert run_query(f"SELECT count(DISTINCT district) AS n FROM {DATASET}",  # its owner still sees it
                     principal=ENV_ANALYST).table.to_pylist() == [{"n": 4}]


def test_only_filters_that_bind_every_row_prune() -> None:
    import pyarrow as pa

    from urbanbrain.lake.engine import parse_tree
    from urbanbrain.lake.prune import row_filter

    cols = [(1, "t", pa.timestamp("us")), (2, "tz", pa.timestamp("us", tz="UTC")), (3, "name", pa.string()),
            (4, "v", pa.float64())]
    ident = ("a", "b", "c")

    def f(where: str, raw: set[str] | None = None) -> str:
        tree = parse_tree(f"SELECT count(*) FROM a.b.c x WHERE {where}")
        return str(row_filter(tree, ident, cols, raw if raw is not None else {"t", "tz", "name", "v"}))

    assert "2024-06-01T00:00:00" in f("x.t >= '2024-06-01'") and "GreaterThanOrEqual" in f("t >= '2024-06-01'")
    assert "LessThan" in f("'2024-06-01' > t")  # constant on the left: the comparison flips
    assert "2024-06-02T00:00:00" in f("CAST(t AS DATE) = DATE '2024-06-01'")
    assert "+00:00" in f("tz < '2024-06-01 08:00'")  # read in the session's time zone, as DuckDB does
    assert f("t >= '2024-06-01' OR v > 1") == "None"
    assert f("name = 'x'", raw={"t"}) == "None"  # a masked column compares masked values: never pruned
    assert f("v > 1") == "None"  # doubles vs literals may round: not used
    assert f("t < now()") == "None"
    for sample in ("SELECT count(*) FROM a.b.c TABLESAMPLE 10 ROWS WHERE t > '2024-01-01'",
                   "SELECT count(*) FROM a.b.c WHERE t > '2024-01-01' USING SAMPLE 10 ROWS"):
        assert row_filter(parse_tree(sample), ident, cols, {"t"}) is None
    twice = parse_tree("SELECT * FROM a.b.c WHERE t > '2024-01-01' UNION ALL SELECT * FROM a.b.c")
    assert row_filter(twice, ident, cols, {"t"}) is None


def test_a_feed_history_keeps_committing_while_maintain_compacts_it(air: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC

    from sqlalchemy import select

    from urbanbrain.meta.db import session_scope
    from urbanbrain.meta.models import System
    from urbanbrain.stream.history import History
    from urbanbrain.stream.payloads import Reading

    with session_scope() as s:
        system_id = s.scalar(select(System.id).where(System.name == "air"))
    history = History("env", "airfeed", str(system_id))
    history.open()
    now = datetime(2024, 6, 1, tzinfo=UTC)
    for batch in range(3):  # three micro-batches of one day: three small files
        rows = [Reading(f"d{i}", "AirQualityObserved", now + timedelta(minutes=10 * batch + i), {"pm25": 1.0})
                for i in range(5)]
        history.commit_rows(rows, [now] * len(rows), f"pos-{batch}")
    [result] = lakeops.maintain_lake(history.name, by=SYSTEM)
    assert (result.compacted_files, result.written_files) == (3, 1)
    late = [Reading("d9", "AirQualityObserved", now + timedelta(hours=1), {"pm25": 2.0})]
    assert history.commit_rows(late, [now], "pos-3") == 1  # its table object predates the compaction
    got = run_query(f"SELECT count(*) AS n FROM {history.name}", principal=SYSTEM).table.to_pylist()
    assert got == [{"n": 16}]


def test_a_large_write_spreads_over_parallel_lanes_and_keeps_every_row_in_its_partition(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past `LANE_MIN_ROWS`, batches go round-robin to lanes (one thread and one open file per partition
    each): every row lands once, in a file of its own month; a compaction afterwards writes one lane."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from urbanbrain.lake import datafiles
    from urbanbrain.lake.writer import TableWriter

    monkeypatch.setattr(datafiles, "LANE_MIN_ROWS", 100)
    monkeypatch.setenv("URBANBRAIN_LAKE_WRITE_LANES", "3")
    schema = pa.schema([pa.field("id", pa.int64()), pa.field("observed_at", pa.timestamp("us"))])
    writer = TableWriter(("env", "lanes", "t"), schema, mode="append", partition_by=["month(observed_at)"])
    writer.open()
    for k in range(12):  # 12 batches of 100 rows, 8 hours apart: March into mid-April
        ids = range(k * 100, (k + 1) * 100)
        writer.write(pa.table({"id": pa.array(ids, pa.int64()),
                               "observed_at": pa.array([START + timedelta(hours=8 * i) for i in ids],
                                                       pa.timestamp("us"))}))
    assert writer.commit().rows_written == 1200
    table = get_catalog().load_table(("env", "lanes", "t"))
    files = [t.file for t in table.scan().plan_files()]
    assert len(files) > 2  # more than one file for a month: the lanes wrote in parallel
    seen = []
    for f in files:
        rows = pq.read_table(f.file_path.removeprefix("file://"))
        months = {(t.year, t.month) for t in rows.column("observed_at").to_pylist()}
        assert len(months) == 1 and f.record_count == rows.num_rows
        seen += rows.column("id").to_pylist()
    assert sorted(seen) == list(range(1200))


def test_dictionaries_for_few_distinct_numbers_and_times_not_for_unique_ones() -> None:
    import pyarrow as pa

    from urbanbrain.lake.datafiles import dictionary_columns

    n = 1000
    batch = pa.table({
        "id": pa.array(range(n), pa.int64()),                                  # unique: plain
        "reading": pa.array([round((i % 50) / 10, 1) for i in range(n)]),     # 50 values: dictionary
        "amount": pa.array([i * 1.37 for i in range(n)]),                      # unique: plain
        "at": pa.array([START + timedelta(hours=i % 24) for i in range(n)], pa.timestamp("us")),  # 24 values
        "district": pa.array([f"4301{i % 9:02d}" for i in range(n)]),
        "flag": pa.array([i % 2 == 0 for i in range(n)]),
    })
    assert dictionary_columns(batch) == ["reading", "at", "district", "flag"]
