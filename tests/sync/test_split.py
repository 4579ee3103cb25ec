"""A large object synced as key-range parts (sync/split.py) lands exactly what the one-piece sync
lands: the same rows, once each, with the same cursor, in one snapshot per sync - for a first full
load, an incremental merge with rows tied at the stored cursor value, and an append-only object split
by its cursor. (On a Ray cluster the parts are Ray tasks: tests/cluster/test_ray_split.py.)"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from tests.sync.helpers import register
from urbanbrain.connect.systems import configure_object
from urbanbrain.core.settings import get_settings
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.query import run_query
from urbanbrain.lake.catalog import get_catalog
from urbanbrain.lake.writer import CURSOR_PROPERTY
from urbanbrain.sync import split
from urbanbrain.sync.service import sync_system

ROWS = 1_500
BASE = dt.datetime(2026, 1, 1)


def _rows(start: int, stop: int, stamp: dt.datetime | None = None) -> list[tuple[int, str, float, str]]:
    return [(i, f"station-{i % 13}", i * 0.5, (stamp or BASE + dt.timedelta(minutes=i)).isoformat(sep=" "))
            for i in range(start, stop)]


def _source(path: Path, pk: bool) -> None:
    conn = sqlite3.connect(path)
    key = "INTEGER PRIMARY KEY" if pk else "INTEGER"
    conn.execute(f"CREATE TABLE readings (id {key}, station TEXT, value REAL, updated_at TIMESTAMP)")
    conn.executemany("INSERT INTO readings VALUES (?, ?, ?, ?)", _rows(0, ROWS))
    conn.commit()
    conn.close()


def _add(path: Path, rows: list[tuple[int, str, float, str]], replace: bool = False) -> None:
    conn = sqlite3.connect(path)
    conn.executemany(f"INSERT {'OR REPLACE ' if replace else ''}INTO readings VALUES (?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()


def _lake(system: str) -> list[tuple[object, ...]]:
    table = run_query(f"SELECT id, station, value, updated_at FROM market.{system}.readings ORDER BY id, value",
                      principal=SYSTEM).table
    return [tuple(r.values()) for r in table.to_pylist()]


def _state(system: str) -> tuple[str | None, int]:
    table = get_catalog().load_table(("market", system, "readings"))
    return table.properties.get(CURSOR_PROPERTY), len(table.metadata.snapshots)


def _sync(system: str, split_rows: int, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("URBANBRAIN_SYNC_SPLIT_ROWS", str(split_rows))
    get_settings.cache_clear()
    run = sync_system(system, by=SYSTEM)
    assert run.status == "succeeded", run.error
    return run.status


@pytest.mark.parametrize("pk", [True, False], ids=["merge-by-key", "append-by-cursor"])
def test_split_sync_equals_the_one_piece_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pk: bool) -> None:
    whole, parts = tmp_path / "whole.db", tmp_path / "parts.db"
    for path in (whole, parts):
        _source(path, pk)
    register("whole", "sqlite", {"url": f"sqlite:///{whole}"})
    register("parts", "sqlite", {"url": f"sqlite:///{parts}"})
    for name in ("whole", "parts"):
        configure_object(name, "readings", cursor_column="updated_at")
    _sync("whole", 0, monkeypatch)
    _sync("parts", 350, monkeypatch)  # 1,500 rows: 5 key ranges
    assert _lake("parts") == _lake("whole") and len(_lake("parts")) == ROWS
    assert _state("parts") == _state("whole")

    # new rows, some tied at the stored cursor's value, and (with a key) changed rows
    last = BASE + dt.timedelta(minutes=ROWS - 1)
    more = _rows(ROWS, ROWS + 600) + _rows(ROWS + 600, ROWS + 603, stamp=last)
    if pk:
        more += [(i, "moved", -1.0, (last + dt.timedelta(hours=1)).isoformat(sep=" ")) for i in range(0, 300, 7)]
    for path in (whole, parts):
        _add(path, more, replace=pk)
    _sync("whole", 0, monkeypatch)
    _sync("parts", 350, monkeypatch)
    assert _lake("parts") == _lake("whole")
    assert len(_lake("parts")) == ROWS + 603  # nothing doubled, nothing lost
    assert _state("parts") == _state("whole")  # the same cursor; one snapshot per sync (one commit)


def test_key_ranges_cover_every_value_once() -> None:
    ranges = split.ranges("id", 0, 99, 4)
    assert [(r.low, r.high, r.nulls) for r in ranges] == [(None, 25, True), (25, 50, False), (50, 75, False),
                                                          (75, None, False)]
    assert len(split.ranges("id", 5, 5, 8)) == 1  # one value: nothing to cut
    days = split.cuts(dt.date(2026, 1, 1), dt.date(2026, 1, 31), 3)
    assert days == [dt.date(2026, 1, 11), dt.date(2026, 1, 21)]
    assert split.cuts("a", "z", 3) == []  # text is not cut by value
