"""The metadata store and the Iceberg catalog on SQLite (embedded) and on PostgreSQL, same code.

Each test runs once per backend; only `URBANBRAIN_DATABASE_URL` differs."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.sync.helpers import register, scalar
from urbanbrain.connect.systems import get_system, list_systems
from urbanbrain.core.errors import AlreadyExistsError, ConfigurationError, NotFoundError
from urbanbrain.core.settings import get_settings
from urbanbrain.lake.catalog import reset_catalogs
from urbanbrain.meta.db import dispose_engines
from urbanbrain.meta.departments import add_department, list_departments
from urbanbrain.sync.runner import run_sync
from urbanbrain.sync.runs import list_runs


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "postgres":
        url = request.getfixturevalue("pg_db")
        monkeypatch.setenv("URBANBRAIN_DATABASE_URL", url)
    get_settings.cache_clear()
    reset_catalogs()
    yield request.param
    dispose_engines()
    reset_catalogs()


def test_departments_systems_runs_and_catalog(backend: str, tmp_path: Path) -> None:
    db = tmp_path / "src.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE schools (id INTEGER PRIMARY KEY, name TEXT)")
    conn.executemany("INSERT INTO schools VALUES (?, ?)", [(i, f"学校{i}") for i in range(5)])
    conn.commit()
    conn.close()
    register("school-roll", "sqlite", {"url": f"sqlite:///{db}"}, dept="education", schedule="every 10m")
    assert [d.code for d in list_departments()] == ["education"]
    with pytest.raises(AlreadyExistsError):
        add_department("Education again", "education")
    run = run_sync("school-roll")
    assert run.status == "succeeded", run.error
    assert scalar("select count(*) c from education.school_roll.schools")["c"] == 5
    assert [r.id for r in list_runs("school-roll")] == [run.id]
    system = get_system("school-roll")
    assert system.health == "healthy" and system.next_run_at is not None
    assert [s.name for s in list_systems("education")] == ["school-roll"]
    with pytest.raises(NotFoundError):
        get_system("nope")
    if backend == "postgres":
        url = get_settings().database_url
        assert url
        with psycopg.connect(url) as pg:
            tables = {r[0] for r in pg.execute("select tablename from pg_tables where schemaname='public'")}
            assert {"departments", "systems", "datasets", "sync_runs", "alembic_version", "iceberg_tables"} <= tables
            idents = pg.execute("select table_namespace, table_name from iceberg_tables").fetchall()
            assert ("education.school_roll", "schools") in idents
    else:
        assert (get_settings().home_dir / "metadata.db").exists()


def test_unreachable_metadata_database_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URBANBRAIN_DATABASE_URL", "postgresql://postgres:pw@127.0.0.1:1/nowhere")
    get_settings.cache_clear()
    with pytest.raises(ConfigurationError) as info:
        list_departments()
    assert "pw@" not in str(info.value) and "URBANBRAIN_DATABASE_URL" in str(info.value)
