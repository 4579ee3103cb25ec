"""`city_overview()`: exact figures on a seeded metadata store, and fast at city scale (400+ systems).

The store is seeded directly through the models (not by syncing 400 systems) so the test is about the
aggregates: health counts, data-only record totals, the 24 h window, the hourly and daily buckets.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import Dataset, Department, SyncRun, System
from urbanbrain.meta.overview import city_overview

NOW = datetime(2025, 3, 14, 15, 26, tzinfo=UTC)


def seed(systems: int, runs: int, rng: random.Random) -> dict[str, int]:
    """A city of 13 departments; returns the figures the overview should report."""
    expected = {"healthy": 0, "unhealthy": 0, "degraded": 0, "unknown": 0, "records": 0, "datasets": 0,
                "runs_24h": 0, "failed_24h": 0, "rows_24h": 0, "rows_last_hour": 0, "rows_today": 0}
    with session_scope() as s:
        depts = [Department(code=f"dept{i:02d}", name=f"部门{i:02d}") for i in range(13)]
        s.add_all(depts)
        s.flush()
        rows: list[System] = []
        for i in range(systems):
            health = rng.choice(["healthy", "healthy", "healthy", "unhealthy", "degraded", "unknown"])
            expected[health] += 1
            rows.append(System(name=f"sys{i:03d}", department_id=depts[i % 13].id, kind="sqlite", options_secret="x",
                               health=health))
        s.add_all(rows)
        s.flush()
        for system in rows:
            for role in ("data", "quarantine"):
                count = rng.randint(0, 1_000_000)
                if role == "data":
                    expected["records"] += count
                    expected["datasets"] += 1
                s.add(Dataset(name=f"{system.name}.t.{role}", role=role, system_id=system.id, object_name="t",
                              table_identifier=f"x.{system.name}.{role}", row_count=count))
        for _ in range(runs):
            started = NOW - timedelta(seconds=rng.randint(0, 20 * 86400))
            status = rng.choice(["succeeded", "succeeded", "failed", "partial"])
            written = rng.randint(0, 10_000)
            s.add(SyncRun(system_id=rng.choice(rows).id, status=status, started_at=started, rows_written=written,
                          finished_at=started + timedelta(seconds=5), error="boom" if status != "succeeded" else None))
            if started >= NOW - timedelta(hours=24):
                expected["runs_24h"] += 1
                expected["failed_24h"] += status == "failed"
                expected["rows_24h"] += written
            if started >= NOW.replace(minute=0, second=0, microsecond=0):
                expected["rows_last_hour"] += written
            if started >= NOW.replace(hour=0, minute=0, second=0, microsecond=0):
                expected["rows_today"] += written
    return expected


def test_figures_are_exact() -> None:
    expected = seed(systems=40, runs=600, rng=random.Random(7))
    ov = city_overview(NOW)
    assert ov.departments == 13
    assert ov.systems.total == 40
    assert (ov.systems.healthy, ov.systems.unhealthy, ov.systems.degraded, ov.systems.unknown) == (
        expected["healthy"], expected["unhealthy"], expected["degraded"], expected["unknown"])
    assert ov.datasets == expected["datasets"] == ov.quarantine_datasets
    assert ov.records == expected["records"] == sum(d.records for d in ov.by_department)
    assert ov.syncs_24h.total == expected["runs_24h"] and ov.syncs_24h.failed == expected["failed_24h"]
    assert ov.syncs_24h.rows_written == expected["rows_24h"]
    assert len(ov.ingest_hourly) == 24 and len(ov.ingest_daily) == 14
    assert ov.ingest_hourly[-1].start == datetime(2025, 3, 14, 15, tzinfo=UTC)
    assert ov.ingest_hourly[-1].rows_written == expected["rows_last_hour"]
    assert ov.ingest_daily[-1].start == datetime(2025, 3, 14, tzinfo=UTC)
    assert ov.ingest_daily[-1].rows_written == expected["rows_today"]
    first_day = datetime(2025, 3, 1, tzinfo=UTC)
    assert [b.start for b in ov.ingest_daily] == [first_day + timedelta(days=i) for i in range(14)]
    assert ov.by_department == sorted(ov.by_department, key=lambda d: (-d.records, d.code))
    assert len(ov.recent_failures) == 5 and all(f.status in ("failed", "partial") for f in ov.recent_failures)


def test_empty_store() -> None:
    ov = city_overview(NOW)
    assert ov.departments == 0 and ov.systems.total == 0 and ov.records == 0 and ov.by_department == []
    assert sum(b.runs for b in ov.ingest_hourly) == 0 and ov.recent_failures == []


def test_fast_with_a_city_of_systems_and_runs() -> None:
    seed(systems=420, runs=6000, rng=random.Random(1))
    city_overview(NOW)  # warm: migrations and connection
    started = time.perf_counter()
    ov = city_overview(NOW)
    elapsed = time.perf_counter() - started
    assert ov.systems.total == 420
    # a hang guard, not a speed target: a per-system query loop would take minutes here, a slow machine seconds
    assert elapsed < 30, f"city_overview took {elapsed:.3f} s with 420 systems and 6,000 runs"
