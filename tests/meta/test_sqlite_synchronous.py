"""`sqlite_synchronous`: what a commit to the embedded metadata store means (docs/operate.md, "Durability")."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from urbanbrain.core.settings import Settings, get_settings
from urbanbrain.meta.db import dispose_engines, get_engine


@pytest.mark.parametrize(("value", "level"), [(None, 2), ("full", 2), ("normal", 1)])
def test_every_connection_gets_the_configured_level(monkeypatch: pytest.MonkeyPatch, value: str | None,
                                                    level: int) -> None:
    if value is None:
        monkeypatch.delenv("URBANBRAIN_SQLITE_SYNCHRONOUS", raising=False)
    else:
        monkeypatch.setenv("URBANBRAIN_SQLITE_SYNCHRONOUS", value)
    get_settings.cache_clear()
    dispose_engines()
    try:
        with get_engine().connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == level  # FULL = 2, NORMAL = 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        dispose_engines()
        get_settings.cache_clear()


def test_only_the_two_levels_are_accepted() -> None:
    with pytest.raises(ValidationError):
        Settings(sqlite_synchronous="off")  # would lose committed cases on a process crash


def test_a_lax_unit_of_work_commits_without_waiting_and_leaves_the_connection_durable() -> None:
    """`session_scope(durable=False)` (an indicator's claim): committed and seen by others, the commit at
    `NORMAL`, and the pooled connection back at the configured level before anyone else can use it."""
    from sqlalchemy import text

    from urbanbrain.meta.db import session_scope

    get_settings.cache_clear()
    dispose_engines()
    try:
        with session_scope(durable=False) as s:
            assert s.execute(text("PRAGMA synchronous")).scalar() == 1  # this unit of work only
            s.execute(text("CREATE TABLE IF NOT EXISTS lax_probe (x INTEGER)"))
            s.execute(text("INSERT INTO lax_probe VALUES (1)"))
        with session_scope() as s:
            assert s.execute(text("SELECT count(*) FROM lax_probe")).scalar() == 1
            assert s.execute(text("PRAGMA synchronous")).scalar() == 2
        pool = get_engine().pool
        for _ in range(pool.size() if hasattr(pool, "size") else 1):
            with get_engine().connect() as conn:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
        with pytest.raises(RuntimeError), session_scope(durable=False) as s:  # a failure rolls back
            s.execute(text("INSERT INTO lax_probe VALUES (2)"))
            raise RuntimeError("boom")
        with session_scope() as s:
            assert s.execute(text("SELECT count(*) FROM lax_probe")).scalar() == 1
    finally:
        dispose_engines()
        get_settings.cache_clear()


def test_a_lax_unit_of_work_on_postgresql(pg_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import text

    from urbanbrain.meta.db import session_scope

    monkeypatch.setenv("URBANBRAIN_DATABASE_URL", pg_db)
    get_settings.cache_clear()
    try:
        with session_scope(durable=False) as s:
            assert s.execute(text("SHOW synchronous_commit")).scalar() == "off"
        with session_scope() as s:
            assert s.execute(text("SHOW synchronous_commit")).scalar() == "on"  # SET LOCAL: that transaction only
    finally:
        get_settings.cache_clear()
