"""Sync semantics on a real SQLite source: full, incremental append, primary-key merge, schema evolution,
quarantine, lineage, and datasets registered with row counts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.sync.helpers import register, scalar
from urbanbrain.connect.systems import configure_object
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.query import run_query
from urbanbrain.lake.datasets import get_dataset, lineage, list_datasets
from urbanbrain.sync.runner import run_sync


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "src.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, updated_at TIMESTAMP)")
    conn.executemany("INSERT INTO people VALUES (?, ?, ?)",
                     [(i, f"居民{i}", f"2024-01-01 00:00:{i:02d}") for i in range(1, 21)])
    conn.execute("CREATE TABLE events (seq INTEGER, kind TEXT)")
    conn.executemany("INSERT INTO events VALUES (?, ?)", [(i, "open") for i in range(1, 11)])
    conn.commit()
    conn.close()
    return path


def _exec(path: Path, *sql: str) -> None:
    conn = sqlite3.connect(path)
    for statement in sql:
        conn.execute(statement)
    conn.commit()
    conn.close()


def test_full_then_incremental_merge_and_append(db: Path) -> None:
    register("civil-registry", "sqlite", {"url": f"sqlite:///{db}"})
    configure_object("civil-registry", "events", cursor_column="seq")
    first = run_sync("civil-registry")
    assert first.status == "succeeded", first.error
    assert first.rows_written == 30
    assert {o.mode for o in first.objects} == {"replace"}
    assert scalar("select count(*) c from market.civil_registry.people")["c"] == 20

    _exec(db, "UPDATE people SET name = '改名', updated_at = '2024-02-01 00:00:00' WHERE id IN (3, 4)",
          "INSERT INTO people VALUES (21, '新居民', '2024-02-01 00:00:00')",
          "INSERT INTO events VALUES (11, 'close'), (12, 'close')")
    second = run_sync("civil-registry")
    assert second.status == "succeeded", second.error
    modes = {o.object_name: o.mode for o in second.objects}
    assert modes == {"people": "merge", "events": "append"}
    people = next(o for o in second.objects if o.object_name == "people")
    assert people.rows_read < 10  # only the changed rows (plus the boundary row) were read
    row = scalar("select count(*) c, count(distinct id) d, count(*) filter (where name = '改名') r "
                 "from market.civil_registry.people")
    assert row == {"c": 21, "d": 21, "r": 2}
    assert scalar("select count(*) c from market.civil_registry.events")["c"] == 12

    third = run_sync("civil-registry")  # nothing changed: nothing doubled
    assert third.status == "succeeded"
    assert scalar("select count(*) c from market.civil_registry.people")["c"] == 21
    assert scalar("select count(*) c from market.civil_registry.events")["c"] == 12


def test_lineage_columns_and_dataset_metadata(db: Path) -> None:
    register("civil-registry", "sqlite", {"url": f"sqlite:///{db}"})
    run = run_sync("civil-registry")
    rows = run_query("select distinct _ub_system, _ub_run_id from market.civil_registry.people",
                     principal=SYSTEM).table.to_pylist()
    assert rows == [{"_ub_system": "civil-registry", "_ub_run_id": run.id}]
    ds = get_dataset("market.civil_registry.people")
    assert ds.row_count == 20 and ds.primary_key == ["id"] and ds.last_run_id == run.id
    assert {c["name"] for c in ds.columns} >= {"id", "name", "updated_at", "_ub_synced_at"}
    lin = lineage("market.civil_registry.people")
    assert (lin.system, lin.source_object, lin.department) == ("civil-registry", "people", "market")
    assert [d.name for d in list_datasets(search="updated_at")] == ["market.civil_registry.people"]


def test_new_source_column_is_added(db: Path) -> None:
    register("civil-registry", "sqlite", {"url": f"sqlite:///{db}"})
    run_sync("civil-registry")
    _exec(db, "ALTER TABLE events ADD COLUMN district TEXT", "UPDATE events SET district = '芙蓉区'")
    run = run_sync("civil-registry")
    assert run.status == "succeeded", run.error
    assert scalar("select count(*) filter (where district = '芙蓉区') n from market.civil_registry.events")["n"] == 10


def test_incompatible_type_change_stops_only_that_object(db: Path) -> None:
    register("civil-registry", "sqlite", {"url": f"sqlite:///{db}"})
    run_sync("civil-registry")
    _exec(db, "DROP TABLE events", "CREATE TABLE events (seq TEXT, kind TEXT)", "INSERT INTO events VALUES ('x', 'y')")
    run = run_sync("civil-registry")
    assert run.status == "partial"
    failed = next(o for o in run.objects if o.object_name == "events")
    assert failed.status == "failed"
    assert "seq" in (failed.error or "") and "int64" in (failed.error or "") and "string" in (failed.error or "")
    # what was synced before stays intact
    assert scalar("select count(*) c from market.civil_registry.events")["c"] == 10
    assert scalar("select count(*) c from market.civil_registry.people")["c"] == 20


def test_missing_table_fails_the_object_with_its_name(db: Path) -> None:
    register("civil-registry", "sqlite", {"url": f"sqlite:///{db}"})
    _exec(db, "DROP TABLE events")
    run = run_sync("civil-registry")
    assert run.status == "partial"
    failed = next(o for o in run.objects if o.object_name == "events")
    assert "events" in (failed.error or "") and "not found" in (failed.error or "")


def test_deleted_source_file_fails_the_run_and_marks_the_system(db: Path) -> None:
    from urbanbrain.connect.systems import get_system

    register("civil-registry", "sqlite", {"url": f"sqlite:///{db}"})
    assert run_sync("civil-registry").status == "succeeded"
    db.unlink()
    run = run_sync("civil-registry")
    assert run.status == "failed" and "src.db" in (run.error or "")
    assert get_system("civil-registry").health == "unhealthy"
    assert scalar("select count(*) c from market.civil_registry.people")["c"] == 20  # synced data stays


def test_unknown_object_is_refused_before_a_run_starts(db: Path) -> None:
    from urbanbrain.core.errors import NotFoundError
    from urbanbrain.sync.runs import list_runs

    register("civil-registry", "sqlite", {"url": f"sqlite:///{db}"})
    with pytest.raises(NotFoundError, match="nope"):
        run_sync("civil-registry", objects=["nope"])
    assert list_runs("civil-registry") == []


def test_removing_a_system_with_data_needs_purge(db: Path) -> None:
    from urbanbrain.connect.systems import remove_system
    from urbanbrain.core.errors import ValidationError
    from urbanbrain.lake.catalog import get_catalog

    register("civil-registry", "sqlite", {"url": f"sqlite:///{db}"})
    run_sync("civil-registry")
    with pytest.raises(ValidationError, match="purge"):
        remove_system("civil-registry")
    assert get_dataset("market.civil_registry.people").row_count == 20
    remove_system("civil-registry", purge=True)
    assert list_datasets() == []
    assert not get_catalog().table_exists(("market", "civil_registry", "people"))
