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
