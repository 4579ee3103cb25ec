"""Sources cannot be turned against the platform (issue 10): a `files` system on the warehouse, a
`sqlite` system on the metadata database, `..` and symlinks out of the file roots, a REST or database
system on loopback or link-local addresses. Refused when registered (even for platform admins, except
the demo's own folder) and again when the source is opened."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from urbanbrain.connect import systems
from urbanbrain.connect.guards import check_source
from urbanbrain.connect.systems import add_system, discover_system, update_system
from urbanbrain.core.errors import PermissionDeniedError
from urbanbrain.core.settings import get_settings
from urbanbrain.govern.principals import DEPT_ADMIN, SYSTEM, Principal
from urbanbrain.meta.departments import add_department
from urbanbrain.sync.service import sync_system
from urbanbrain.web.app import create_app

MARKET_ADMIN = Principal("user", "boss", frozenset({"market"}), frozenset({DEPT_ADMIN}))


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """market and police, and a data folder for market."""
    add_department("Market Regulation", "market")
    add_department("Public Security", "police")
    data = tmp_path / "market-data"
    data.mkdir()
    (data / "shops.csv").write_text("id,name\n1,a\n", encoding="utf-8")
    return data


@pytest.fixture
def synced(lake: Path, tmp_path: Path) -> Path:
    """...and police's residents synced into the warehouse."""
    db = tmp_path / "police.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE residents (id INTEGER PRIMARY KEY, id_number TEXT)")
    conn.executemany("INSERT INTO residents VALUES (?, ?)", [(i, f"43010419800101{i:04d}") for i in range(5)])
    conn.commit()
    conn.close()
    add_system("hukou", "police", "sqlite", {"url": f"sqlite:///{db}"})
    assert sync_system("hukou").status == "succeeded"
    return lake


@pytest.fixture
def client(lake: Path) -> Iterator[TestClient]:
    with TestClient(create_app()) as c:  # no users yet: the loopback operator, a platform admin
        yield c


def _refused(client: TestClient, kind: str, options: dict[str, object], name: str = "probe") -> str:
    answer = client.post("/api/systems", json={"name": name, "department": "market", "kind": kind, "options": options})
    assert answer.status_code == 403, answer.text
    return str(answer.json()["message"])


def test_files_on_the_warehouse_or_home_are_refused_even_to_a_platform_admin(client: TestClient,
                                                                              synced: Path) -> None:
    lake = synced
    settings = get_settings()
    police_files = next(settings.warehouse_path.rglob("*.parquet"))
    assert "own state" in _refused(client, "files", {"path": str(settings.warehouse_path)})
    _refused(client, "files", {"path": str(police_files)})
    _refused(client, "files", {"path": str(settings.warehouse_path / "**" / "*.parquet")})
    _refused(client, "files", {"path": str(lake / ".." / "ubhome" / "warehouse")})  # `..` out of a root
    (lake / "key.csv").symlink_to(settings.home_dir / "secret.key")
    _refused(client, "files", {"path": str(lake)})  # a folder is judged file by file, links resolved
    _refused(client, "files", {"path": str(settings.home_dir / "secret.key")})
    _refused(client, "files", {"path": "/etc/passwd"})  # outside every root
    assert client.get("/api/systems/probe").status_code == 404


def test_sqlite_on_the_metadata_database_is_refused(client: TestClient, lake: Path) -> None:
    meta = get_settings().home_dir / "metadata.db"
    assert meta.exists()
    assert "own state" in _refused(client, "sqlite", {"url": f"sqlite:///{meta}"})
    _refused(client, "sqlite", {"path": str(meta)})
    (lake / "meta.db").symlink_to(meta)
    _refused(client, "sqlite", {"path": str(lake / "meta.db")})  # a symlink inside a root is judged by its target


def test_a_symlink_swapped_after_registration_is_caught_when_the_source_opens(lake: Path) -> None:
    link = lake / "current"
    link.symlink_to(lake, target_is_directory=True)
    add_system("shops", "market", "files", {"path": str(link / "*.csv")}, by=MARKET_ADMIN)
    discover_system("shops", by=MARKET_ADMIN)
    link.unlink()
    link.symlink_to(get_settings().warehouse_path, target_is_directory=True)
    run = sync_system("shops", by=MARKET_ADMIN)
    assert run.status == "failed" and "own state" in (run.error or "")
    with pytest.raises(PermissionDeniedError):
        systems.test_system("shops", by=MARKET_ADMIN)


def test_roots_narrowed_later_hold_at_connect_time(lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    add_system("shops", "market", "files", {"path": str(lake)}, by=MARKET_ADMIN)
    monkeypatch.setenv("URBANBRAIN_FILE_ROOTS", str(lake.parent / "elsewhere"))
    get_settings.cache_clear()
    with pytest.raises(PermissionDeniedError, match=r"only read files under"):
        discover_system("shops", by=MARKET_ADMIN)
    with pytest.raises(PermissionDeniedError):
        update_system("shops", options={"path": str(lake / "shops.csv")}, by=MARKET_ADMIN)


def test_the_demo_folder_is_for_platform_admins_only(lake: Path) -> None:
    demo = get_settings().home_dir / "demo" / "police"
    demo.mkdir(parents=True)
    (demo / "residents.csv").write_text("id\n1\n", encoding="utf-8")
    with pytest.raises(PermissionDeniedError):
        add_system("peek", "market", "files", {"path": str(demo)}, by=MARKET_ADMIN)
    add_system("demo-residents", "police", "files", {"path": str(demo)}, by=SYSTEM)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/api/users", "http://localhost/", "http://[::1]:9000/", "http://0.0.0.0/",
    "http://169.254.169.254/latest/meta-data/", "http://127.1/", "http://[::ffff:127.0.0.1]/",
])
def test_internal_addresses_are_refused_unless_listed(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("URBANBRAIN_SOURCE_HOSTS", raising=False)
    get_settings.cache_clear()
    with pytest.raises(PermissionDeniedError, match="this machine or a link-local"):
        check_source("rest", {"url": url}, MARKET_ADMIN)
    with pytest.raises(PermissionDeniedError):
        check_source("postgres", {"url": url.replace("http", "postgresql", 1)}, SYSTEM)
    check_source("rest", {"url": "https://api.example.org/v1"}, MARKET_ADMIN)  # a public host, no list set


def test_the_host_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URBANBRAIN_SOURCE_HOSTS", "db.city.gov, 10.0.0.0/8, 127.0.0.1")
    get_settings.cache_clear()
    check_source("postgres", {"url": "postgresql://u@db.city.gov/x"})
    check_source("mysql", {"url": "mysql://u@10.2.3.4:3306/x"})
    check_source("rest", {"url": "http://127.0.0.1:9000/"})  # loopback, explicitly listed
    with pytest.raises(PermissionDeniedError, match="not in URBANBRAIN_SOURCE_HOSTS"):
        check_source("rest", {"url": "https://api.example.org/"})
    with pytest.raises(PermissionDeniedError):
        check_source("rest", {"url": "http://127.0.0.2:9000/"})  # another loopback address: not listed


def test_the_metadata_postgres_database_is_never_a_source(pg_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URBANBRAIN_DATABASE_URL", pg_db)
    get_settings.cache_clear()
    with pytest.raises(PermissionDeniedError, match="metadata database"):
        check_source("postgres", {"url": pg_db.replace("127.0.0.1", "localhost")}, SYSTEM)
    check_source("postgres", {"url": pg_db.rsplit("/", 1)[0] + "/some_department_db"}, SYSTEM)


def test_only_the_platform_may_publish_metadata_tables_and_only_the_case_tables() -> None:
    """`case publish` registers the store's case tables as the platform; nobody may widen that."""
    from urbanbrain.connect.guards import check_source
    from urbanbrain.govern.principals import SYSTEM

    meta = get_settings().home_dir / "metadata.db"
    check_source("sqlite", {"path": str(meta), "tables": ["cases", "case_events"]}, SYSTEM)
    with pytest.raises(PermissionDeniedError, match="own state"):
        check_source("sqlite", {"path": str(meta), "tables": ["cases", "users"]}, SYSTEM)
    with pytest.raises(PermissionDeniedError, match="own state"):
        check_source("sqlite", {"path": str(meta)}, SYSTEM)  # no table list: every table
    with pytest.raises(PermissionDeniedError, match="own state"):
        check_source("sqlite", {"path": str(meta), "tables": ["cases"]}, MARKET_ADMIN)


def test_a_rest_source_cannot_be_redirected_onto_an_internal_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registered host is listed; where it redirects (or its next-page links point) is checked
    again on every request, so a listed API cannot bounce the platform onto a metadata endpoint."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from urbanbrain.connect.rest import RestSource

    class Bounce(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Bounce)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("URBANBRAIN_SOURCE_HOSTS", "127.0.0.1")
    get_settings.cache_clear()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        check_source("rest", {"url": url}, MARKET_ADMIN)  # the registered host itself is listed
        source = RestSource({"url": url, "endpoints": [{"name": "items", "path": "/items"}]})
        with pytest.raises(PermissionDeniedError, match=r"169\.254\.169\.254"):
            source.test()
        source.close()
    finally:
        server.shutdown()
