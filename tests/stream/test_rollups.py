"""Rollups kept as history is written: values checked by hand on a small known series, a second
batch rewriting only the buckets it touches, and SQL over the rollups under the history's policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from urbanbrain.govern.principals import ANALYST, SYSTEM, Principal
from urbanbrain.stream import service
from urbanbrain.stream.feeds.http import HttpFeed, push
from urbanbrain.stream.pipeline import FeedRunner
from urbanbrain.stream.rollups import merge, partials

from .helpers import BASE, air, ensure_dept, unique


def _rows(feed: str, grain: str, by: Principal = SYSTEM) -> dict[tuple[str, str], tuple[Any, ...]]:
    res = service.history(by, feed, attribute="pm25", grain=grain)
    return {(r["device_id"], r["bucket"].strftime("%H:%M")): (r["min"], r["max"], round(r["avg"], 6), r["count"],
                                                              r["last"]) for r in res.table.to_pylist()}


def test_partials_and_merge_by_hand() -> None:
    import pyarrow as pa

    ts = pa.timestamp("us", tz="UTC")
    at = [BASE.replace(second=s) for s in (0, 20, 40)] + [BASE.replace(minute=1, second=10)]
    data = pa.table({"device_id": ["a"] * 4, "observed_at": pa.array(at, ts), "ingested_at": pa.array(at, ts),
                     "pm25": [10.0, 30.0, 20.0, 7.0], "note": ["x"] * 4})
    one = {(r["grain"], r["bucket"].strftime("%H:%M")): r for r in partials(data).to_pylist()}
    m0 = one[("1m", "08:00")]
    assert (m0["min"], m0["max"], m0["sum"], m0["count"], m0["avg"], m0["last"]) == (10.0, 30.0, 60.0, 3, 20.0, 20.0)
    h = one[("1h", "08:00")]
    assert (h["min"], h["max"], h["count"], h["last"]) == (7.0, 30.0, 4, 7.0) and h["avg"] == pytest.approx(16.75)
    assert {k[0] for k in one} == {"1m", "1h", "1d"} and all(r["attribute"] == "pm25" for r in one.values())
    later = data.slice(0, 1).set_column(1, "observed_at", pa.array([BASE.replace(second=50)], ts)) \
        .set_column(3, "pm25", pa.array([2.0]))
    both = {(r["grain"], r["bucket"].strftime("%H:%M")): r for r in merge(partials(data), partials(later)).to_pylist()}
    m0 = both[("1m", "08:00")]
    assert (m0["min"], m0["max"], m0["count"], m0["avg"], m0["last"]) == (2.0, 30.0, 4, 15.5, 2.0)
    assert both[("1m", "08:01")]["count"] == 1


def test_second_batch_updates_only_its_buckets_and_sql_follows_the_history_policy(tmp_path: Path) -> None:
    from urbanbrain.govern.classification import set_default_level, set_field
    from urbanbrain.govern.query import run_query

    ensure_dept("ecology")
    ensure_dept("transport")
    name = unique("roll")
    service.create_feed(SYSTEM, name, "ecology", "http", {}, model="AirQualityObserved")
    runner = FeedRunner(service.feed_config(name), tmp_path / "j", feed=HttpFeed(name, {}))
    runner.start()
    try:
        # minute 0: 4, 8; minute 1: 6 (device s1); minute 0: 1 (device s2)
        first = [air("s1", 0, pm25=4.0), air("s1", 0, pm25=8.0, dateObserved=BASE.replace(second=30).isoformat()),
                 air("s1", 1, pm25=6.0), air("s2", 0, pm25=1.0)]
        push(name, json.dumps(first).encode())
        runner.flush()
        table = runner.rollups._table
        files_before = {t.file.file_path for t in table.scan(row_filter="grain = '1m'").plan_files()}
        minute = _rows(name, "1m")
        assert minute[("s1", "08:00")] == (4.0, 8.0, 6.0, 2, 8.0)
        assert minute[("s1", "08:01")] == (6.0, 6.0, 6.0, 1, 6.0)
        assert minute[("s2", "08:00")] == (1.0, 1.0, 1.0, 1, 1.0)
        assert _rows(name, "1h")[("s1", "08:00")] == (4.0, 8.0, 6.0, 3, 6.0)

        push(name, json.dumps([air("s1", 5, pm25=20.0)]).encode())  # touches only 08:05 (and the hour, the day)
        runner.flush()
        minute2 = _rows(name, "1m")
        assert minute2[("s1", "08:05")] == (20.0, 20.0, 20.0, 1, 20.0)
        assert {k: v for k, v in minute2.items() if k[1] != "08:05"} == minute  # untouched buckets unchanged
        assert _rows(name, "1h")[("s1", "08:00")] == (4.0, 20.0, 9.5, 4, 20.0)
        table = runner.rollups._table
        files_after = {t.file.file_path for t in table.scan(row_filter="grain = '1m'").plan_files()}
        assert files_before <= files_after  # the first batch's minute buckets were not rewritten
    finally:
        runner.stop()

    history = f"ecology.{name.replace('-', '_')}.observations"
    sql = f"SELECT attribute, count(*) AS n FROM ecology.{name.replace('-', '_')}.rollups GROUP BY 1 ORDER BY 1"
    mine = dict(tuple(r.values()) for r in run_query(sql, principal=SYSTEM).table.to_pylist())
    assert mine["pm25"] == 4 + 2 + 2  # 1m: s1 08:00, 08:01, 08:05, s2 08:00; 1h and 1d: s1, s2
    other = Principal("user", "t", frozenset({"transport"}), frozenset({ANALYST}))
    assert run_query(sql, principal=other).table.num_rows == 0  # conditional history: no rollups either
    set_default_level(history, "open")
    set_field(history, "pm25", level="closed")
    seen = dict(tuple(r.values()) for r in run_query(sql, principal=other).table.to_pylist())
    assert "pm25" not in seen and seen.get("temperature", 0) > 0  # open attributes only


def test_rollups_catch_up_after_a_stop_between_the_two_commits(tmp_path: Path) -> None:
    ensure_dept("ecology")
    name = unique("rollcu")
    service.create_feed(SYSTEM, name, "ecology", "http", {}, model="AirQualityObserved")
    runner = FeedRunner(service.feed_config(name), tmp_path / "j", feed=HttpFeed(name, {}))
    runner.start()
    push(name, json.dumps([air("s1", 0, pm25=3.0)]).encode())
    runner.flush()  # history and rollups written

    def lost(*_: Any, **__: Any) -> int:
        raise OSError("the process died before its rollup commit")

    runner.rollups.add = lost  # type: ignore[method-assign]
    half = BASE.replace(second=30).isoformat()
    push(name, json.dumps([air("s1", 0, pm25=9.0, dateObserved=half), air("s1", 2, pm25=1.0)]).encode())
    runner.stop()  # history has all three readings; the rollups only the first
    assert _rows(name, "1m")[("s1", "08:00")] == (3.0, 3.0, 3.0, 1, 3.0)

    again = FeedRunner(service.feed_config(name), tmp_path / "j", feed=HttpFeed(name, {}))
    again.start()  # catches up from the history rows ingested after what the rollups cover
    again.stop()
    minute = _rows(name, "1m")
    assert minute[("s1", "08:00")] == (3.0, 9.0, 6.0, 2, 9.0) and minute[("s1", "08:02")] == (1.0, 1.0, 1.0, 1, 1.0)
    assert _rows(name, "1h")[("s1", "08:00")][3] == 3  # each reading counted once

    from urbanbrain.lake.catalog import get_catalog

    ident = ("ecology", name.replace("-", "_"), "rollups")
    assert get_catalog().table_exists(ident)
    service.delete_feed(SYSTEM, name, purge=True)  # the rollups go with the history
    assert not get_catalog().table_exists(ident)
