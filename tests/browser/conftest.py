"""Browser tests: Playwright for Python driving Debian's Chromium against a real uvicorn server.

Never `playwright install`: the browser is `/usr/bin/chromium` (scripts/browser.sh installs it). The
server runs in a thread of the test process on 127.0.0.1 and an ephemeral port, with the test's own
URBANBRAIN_HOME (set by the suite's autouse `ub_home` fixture before the app is created).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from urbanbrain.connect.systems import add_system, discover_system
from urbanbrain.meta.departments import add_department
from urbanbrain.sync.runner import run_sync

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
MARKER = "browser: drives Debian's Chromium (/usr/bin/chromium) with Playwright; run scripts/browser.sh first"


def pytest_configure(config: pytest.Config) -> None:
    # until pyproject lists the marker (then this line is a harmless duplicate)
    config.addinivalue_line("markers", MARKER)


# (department code, department name, system, table, rows)
CITY = [
    ("citizen", "12345 市民热线中心", "hotline", "tickets", 1200),
    ("market", "市场监督管理局", "licences", "enterprises", 900),
    ("ecology", "生态环境局", "air", "stations", 300),
    ("transport", "交通运输局", "buses", "positions", 600),
]


def _source(path: Path, table: str, rows: int) -> Path:
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT, district TEXT, amount REAL)")
    conn.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?)",
                     [(i, f"{table}-{i}", ["芙蓉区", "岳麓区", "天心区", "开福区"][i % 4], i * 1.5)
                      for i in range(1, rows + 1)])
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def city(tmp_path: Path) -> list[tuple[str, str, str, str, int]]:
    """A small city: four departments, each with one synced SQLite system, and one broken system."""
    for code, name, system, table, rows in CITY:
        source = _source(tmp_path / f"{system}.db", table, rows)
        add_department(name, code)
        add_system(system, code, "sqlite", {"url": f"sqlite:///{source}"}, schedule="every 15m")
        discover_system(system)
        assert run_sync(system).status == "succeeded"
    # one system whose source went away after discovery: a failed run, an unhealthy system, an error to show
    gone = _source(tmp_path / "noise.db", "readings", 10)
    add_system("noise", "ecology", "sqlite", {"url": f"sqlite:///{gone}"}, schedule="manual")
    discover_system("noise")
    gone.unlink()
    assert run_sync("noise").status == "failed"
    return CITY


@pytest.fixture
def server(city: list[Any]) -> Iterator[str]:
    """A real uvicorn serving `create_app()` on 127.0.0.1 and a free port; yields the base URL."""
    import uvicorn

    from urbanbrain.web.app import create_app

    config = uvicorn.Config(create_app, factory=True, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, name="console-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120  # a hang guard
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start within 120 s")
        time.sleep(0.05)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/browser.sh (installs Debian's chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright for Python is missing: pip install -e '.[dev]' (never run `playwright install`)")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(base_url=server, viewport={"width": 1440, "height": 900}, locale="en-US")
    context.set_default_timeout(60_000)  # hang guard: a loaded machine renders slowly
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def shots(tmp_path: Path) -> Iterator[Path]:
    """Where screenshots go: the test's tmp dir; also copied to $UB_BROWSER_ARTIFACTS when set (CI artifacts)."""
    folder = tmp_path / "screenshots"
    folder.mkdir()
    yield folder
    target = os.environ.get("UB_BROWSER_ARTIFACTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for shot in folder.glob("*.png"):
            shutil.copy(shot, Path(target) / shot.name)
