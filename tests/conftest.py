"""Every test gets its own URBANBRAIN_HOME, so state never leaks between tests or into the checkout."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from urbanbrain.core.settings import get_settings

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def ub_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "ubhome"
    monkeypatch.setenv("URBANBRAIN_HOME", str(home))
    monkeypatch.delenv("URBANBRAIN_DATABASE_URL", raising=False)
    monkeypatch.setenv("URBANBRAIN_RETRY_BASE_SECONDS", "0.01")
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"../shared/data is missing (looked in {SHARED_DATA}); CI runs with shared/ beside the clone")
    return SHARED_DATA


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("URBANBRAIN_WORKER_CONCURRENCY", "2")
