"""Parquet exports registered in place: the table points at the owner's file, nothing is copied,
and nothing in the lake ever deletes it; a file whose schema does not allow it is copied instead."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.sync.helpers import register
from urbanbrain.core.settings import get_settings
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.query import run_query
from urbanbrain.lake.catalog import get_catalog
from urbanbrain.sync import lakeops
from urbanbrain.sync.inplace import REFUSED_PROPERTY
from urbanbrain.sync.runner import run_sync

N = 3000


def _sensors(time_type: pa.DataType) -> pa.Table:
    start = datetime(2024, 1, 1)
    return pa.table({
        "station": [f"s{i % 40}" for i in range(N)],
        "district": [f"4301{i % 9:02d}" for i in range(N)],
        "time": pa.array([start + timedelta(minutes=i) for i in range(N)], pa.timestamp("us")).cast(time_type),
        "pm25": [i * 0.5 for i in range(N)],
    })


def test_parquet_is_registered_in_place_and_never_deleted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    pq.write_table(_sensors(pa.timestamp("us")), folder / "sensors.parquet")
    pq.write_table(_sensors(pa.timestamp("ns")), folder / "nanos.parquet")
    register("exports", "files", {"path": str(folder / "*.parquet"), "register_in_place": True}, dept="env")
    run = run_sync("exports")
    assert run.status == "succeeded"
    table = get_catalog().load_table(("env", "exports", "sensors"))
    [task] = list(table.scan().plan_files())
    assert task.file.file_path.removeprefix("file://") == str((folder / "sensors.parquet").resolve())  # no copy
    got = run_query("SELECT count(*) AS n, max(pm25) AS m, count(_ub_system) AS lineage "
                    "FROM env.exports.sensors WHERE district = '430103'", principal=SYSTEM).table.to_pylist()
    assert got == [{"n": N // 9, "m": max(i for i in range(N) if i % 9 == 3) * 0.5, "lineage": 0}]
    snapshot = table.current_snapshot()
    assert run_sync("exports").status == "succeeded"  # unchanged file: nothing registered again
    assert get_catalog().load_table(("env", "exports", "sensors")).current_snapshot() == snapshot

    nanos = get_catalog().load_table(("env", "exports", "nanos"))  # ns times: copied, and it says why
    assert "timestamp[ns]" in nanos.properties[REFUSED_PROPERTY]
    assert all(str(get_settings().warehouse_path) in t.file.file_path for t in nanos.scan().plan_files())
    assert run_query("SELECT count(*) AS n FROM env.exports.nanos", principal=SYSTEM).table.to_pylist() == [{"n": N}]

    monkeypatch.setenv("URBANBRAIN_LAKE_ORPHAN_GRACE_HOURS", "0")
    monkeypatch.setenv("URBANBRAIN_LAKE_SNAPSHOT_RETENTION_HOURS", "0")
    monkeypatch.setenv("URBANBRAIN_LAKE_SNAPSHOT_KEEP", "1")
    get_settings.cache_clear()
    [stats] = lakeops.lake_stats("env.exports.sensors", by=SYSTEM)
    assert stats.in_place_files == 1 and stats.compact_files == 0
    lakeops.maintain_lake(None, by=SYSTEM)
    assert (folder / "sensors.parquet").exists()
    assert run_query("SELECT count(*) AS n FROM env.exports.sensors", principal=SYSTEM).table.to_pylist() == [{"n": N}]
