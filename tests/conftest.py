"""Every test gets its own URBANBRAIN_HOME, so state never leaks between tests or into the checkout."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from urbanbrain.capability.base import BUILTINS
from urbanbrain.core.jobs import JOBS
from urbanbrain.core.settings import get_settings
from urbanbrain.govern import kept
from urbanbrain.operate.indicator_functions import FUNCTIONS

# Real public files copied (trimmed) into the repository, so a bare clone runs every test (see tests/data/README.md).
TEST_DATA = Path(__file__).resolve().parent / "data"
# Test runs from two checkouts at once must not share the demo's PostgreSQL/MariaDB databases.
DB_SUFFIX = os.environ.get("UB_TEST_DB_SUFFIX", "")


@pytest.fixture(scope="session", autouse=True)
def source_guards(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests read files they write under pytest's temp folder and the shared data, and connect to the
    loopback services: say so explicitly, as an operator would (urbanbrain/connect/guards.py)."""
    saved = {k: os.environ.get(k) for k in ("URBANBRAIN_FILE_ROOTS", "URBANBRAIN_SOURCE_HOSTS")}
    os.environ["URBANBRAIN_FILE_ROOTS"] = os.pathsep.join([str(tmp_path_factory.getbasetemp()), str(TEST_DATA)])
    os.environ["URBANBRAIN_SOURCE_HOSTS"] = "*,127.0.0.1,localhost,::1"
    get_settings.cache_clear()
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def ub_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "ubhome"
    monkeypatch.setenv("URBANBRAIN_HOME", str(home))
    monkeypatch.delenv("URBANBRAIN_DATABASE_URL", raising=False)
    monkeypatch.setenv("URBANBRAIN_RETRY_BASE_SECONDS", "0.01")
    monkeypatch.setenv("URBANBRAIN_DEMO_DB_PREFIX", "ub_demotest" + DB_SUFFIX)  # never clobber a developer's demo
    monkeypatch.setenv("URBANBRAIN_WARMUP", "false")  # no background warm-up per app (tests/web/test_warmup.py)
    get_settings.cache_clear()
    root = logging.getLogger()
    level = root.level
    builtins = BUILTINS.snapshot()  # a built-in a test adds in code must not be published by a later demo run
    functions = FUNCTIONS.snapshot()  # likewise an indicator function
    jobs = JOBS.snapshot()  # and a periodic job
    yield home
    BUILTINS.restore(builtins)
    FUNCTIONS.restore(functions)
    JOBS.restore(jobs)
    kept.clear()  # sealed connections kept for the next indicator run belong to this test's home
    get_settings.cache_clear()
    # `serve`, `worker` and `stream` configure the process's logging (core/logs.py), which is right for a
    # process of their own; run in-process by a test, that handler (on a captured stream) and the INFO level
    # would leak into the next tests' output
    for handler in [h for h in root.handlers if getattr(h, "_urbanbrain", False)]:
        root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def shared_data() -> Path:
    """The real-data folder inside the repository (tests/data), never ../shared beside the clone."""
    return TEST_DATA


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("URBANBRAIN_WORKER_CONCURRENCY", "2")


def _unique(prefix: str) -> str:
    import uuid

    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def pg_db() -> Iterator[str]:
    """A fresh PostgreSQL database on the local server; dropped afterwards. Fails if the server is down."""
    import psycopg

    name = _unique("ub_test")
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is required (run scripts/services.sh): {exc}")
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    from urbanbrain.meta.db import dispose_engines

    dispose_engines()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def maria_db() -> Iterator[str]:
    """A fresh MariaDB database on the local server; dropped afterwards. Fails if the server is down."""
    import pymysql

    name = _unique("ub_test")
    try:
        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", connect_timeout=5,
                               autocommit=True)
    except pymysql.Error as exc:
        pytest.fail(f"MariaDB on 127.0.0.1:3306 is required (run scripts/services.sh): {exc}")
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    yield f"mysql://root@127.0.0.1:3306/{name}"
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()
