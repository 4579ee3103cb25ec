"""The metadata database: one engine per URL, migrated to head on first use.

SQLite (embedded) gets WAL and a busy timeout so the worker, the API and the CLI can share it, and the
`sqlite_synchronous` setting: `full` (default; a commit is fsynced before it returns) or `normal` (a commit
survives a crash of the process, not a power loss; see docs/operate.md, "Durability of a commit").
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from urbanbrain.core.clock import as_utc
from urbanbrain.core.errors import ConfigurationError
from urbanbrain.core.secrets import redact_url
from urbanbrain.core.settings import get_settings

_ENGINES: dict[str, Engine] = {}
_FACTORIES: dict[str, sessionmaker[Session]] = {}
_LOCK = threading.Lock()
_URL: tuple[object, str] | None = None


def metadata_url() -> str:
    """The settings' metadata URL, remembered per settings object: resolving it creates and resolves the
    home folder, ~50 us a call, on every session of every request otherwise (bench/cases)."""
    global _URL
    settings = get_settings()
    current = _URL
    if current is None or current[0] is not settings:
        current = _URL = (settings, settings.metadata_url)
    return current[1]


BUSY_TIMEOUT_S = 30  # how long a SQLite connection waits for another's write lock (the lake catalog's too)
_SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}  # the setting's values, mapped: no text reaches SQL unchecked


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA synchronous={_SYNCHRONOUS[get_settings().sqlite_synchronous]}")
    cur.close()


def get_engine(url: str | None = None) -> Engine:
    url = url or metadata_url()
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S})
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
            _migrate(engine, url)
            _ENGINES[url] = engine
    return engine


_REVISION = re.compile(r"^(down_)?revision\s*(?::[^=]*)?=\s*(.+)$", re.M)


def _head_revisions() -> set[str]:
    """The migration heads, read from the version files' `revision`/`down_revision` lines (no Alembic)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in Path(__file__).with_name("migrations").joinpath("versions").glob("*.py"):
        for down, value in _REVISION.findall(path.read_text(encoding="utf-8")):
            names = set(re.findall(r"['\"]([^'\"]+)['\"]", value))
            (parents if down else revisions).update(names)
    return revisions - parents


def _at_head(engine: Engine) -> bool:
    """True when the database already records exactly the current heads: then Alembic need not load."""
    try:
        with engine.connect() as conn:
            current = {row[0] for row in conn.exec_driver_sql("SELECT version_num FROM alembic_version")}
    except Exception:  # no table yet, or no database: let Alembic create it and report clearly
        return False
    heads = _head_revisions()
    return bool(heads) and current == heads


def _migrate(engine: Engine, url: str) -> None:
    if _at_head(engine):  # the common case; importing Alembic costs a CLI command ~0.3 s
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(Path(__file__).with_name("alembic.ini")))
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise ConfigurationError(
            f"cannot open the metadata database {redact_url(url)}: {exc.orig}",
            hint="check URBANBRAIN_DATABASE_URL, or unset it to use SQLite under URBANBRAIN_HOME",
        ) from None


def dispose_engines() -> None:
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
        _FACTORIES.clear()


@contextmanager
def session_scope(*, durable: bool = True) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error.

    `durable=False` is for work whose loss in a power cut is harmless because it lapses anyway (an
    indicator's "running since" claim: a computation that died with the machine must not hold it): its
    commit does not wait for the disk (PostgreSQL `synchronous_commit = off` for this transaction, SQLite
    `synchronous=NORMAL` for this commit). It is still atomic and seen by everyone at once, and becomes
    durable with the next durable commit."""
    url = metadata_url()
    if not durable and url.startswith("sqlite"):
        with _sqlite_lax_scope(url) as session:
            yield session
        return
    factory = _FACTORIES.get(url)
    if factory is None:  # one factory per store: a new sessionmaker is a new class, ~0.5 ms of event set-up
        factory = _FACTORIES[url] = sessionmaker(bind=get_engine(url), expire_on_commit=False)
    session = factory()
    with _unit_of_work(session):
        if not durable and url.startswith("postgresql"):
            session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        yield session


@contextmanager
def _unit_of_work(session: Session) -> Iterator[Session]:
    """Commit what the block did, or roll it all back if it raised; the session is closed either way."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def _sqlite_lax_scope(url: str) -> Iterator[Session]:
    """A session on a connection held until its `synchronous` setting is restored, so no other unit of
    work ever commits on it with the lax setting."""
    with get_engine(url).connect() as conn:
        conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
        conn.commit()
        try:
            with _unit_of_work(Session(bind=conn, expire_on_commit=False)) as session:
                yield session
        finally:
            conn.rollback()
            conn.exec_driver_sql(f"PRAGMA synchronous={_SYNCHRONOUS[get_settings().sqlite_synchronous]}")
            conn.commit()


def insert_many(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Append `rows` in one statement, skipping SQLAlchemy's per-row parameter processing.

    For the write-behind buffers (metering, audit) that insert hundreds of rows a second from a
    background thread of a serving process. SQLAlchemy's per-row processing held the GIL for ~30 us a
    row; and even the driver's executemany releases and retakes the GIL around every row's step, so
    the serving thread and the writer handed the GIL back and forth hundreds of times a flush -- on
    bench/gateway that cost ~95 us per call (5,456 calls/s without metering and audit, 3,589 with).
    On SQLite the whole batch is therefore one JSON parameter expanded by `json_each` inside one
    statement: one step, one GIL release. Values must be JSON scalars in the driver's terms: times
    through `driver_time`.
    """
    if not rows:
        return
    names = ", ".join(columns)
    if conn.dialect.name == "sqlite" and sqlite3.sqlite_version_info >= (3, 38, 0):  # JSON built in since 3.38
        picks = ", ".join(f"value ->> {k}" for k in range(len(columns)))
        raw = driver_cursor(conn)  # the driver's cursor: exec_driver_sql's result set-up cost ~40 us
        assert raw is not None
        raw.execute(f"INSERT INTO {table} ({names}) SELECT {picks} FROM json_each(?)",
                    (json.dumps([list(r) for r in rows], ensure_ascii=False),))
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({', '.join([mark] * len(columns))})", list(rows))


def driver_cursor(conn: Connection) -> DriverCursor | None:
    """A DB-API cursor on `conn`'s own connection (so inside its transaction) on SQLite, else None.

    For the intake's hot statements (bench/cases): SQLAlchemy's Core execution path (parameter
    processing, result set-up) costs ~40 us a statement, several times SQLite's own work for an indexed
    look-up or a one-row INSERT. Parameters go in the driver's terms (times through `driver_time`, JSON
    as text)."""
    if conn.dialect.name != "sqlite":
        return None
    return DriverCursor(conn.connection.driver_connection.cursor())  # type: ignore[union-attr]


class DriverCursor:
    """The driver's cursor, raising SQLAlchemy's exception classes as a Core statement would: callers
    tell a uniqueness race (`IntegrityError`) and a failing store (`DBAPIError`) from a report's own
    error by them (`operate.intake.batch`)."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self._cursor.execute(sql, params)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> sqlite3.Cursor:
        try:
            return self._cursor.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, rows, exc, sqlite3.Error, ismulti=True) from exc


def driver_time(conn: Connection, value: datetime) -> Any:
    """A UTC time as `insert_many` must pass it: SQLite keeps SQLAlchemy's text form
    (`YYYY-MM-DD HH:MM:SS.ffffff`), PostgreSQL the datetime. `isoformat` writes that form several times
    faster than `strftime` (nine times per Open311 report)."""
    if conn.dialect.name != "sqlite":
        return value
    return as_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")
