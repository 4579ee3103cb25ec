"""PostgreSQL, MariaDB and SQLite sources against real servers and files, through the shared contract."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pymysql
import pytest

from tests.connect.contract import ContractCase, SourceContract
from urbanbrain.connect.base import Cursor, ReadRequest, open_source
from urbanbrain.core.errors import AuthenticationError, ObjectNotFoundError, SourceUnreachableError

ROWS = 7


def _pg_seed(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("""CREATE TABLE companies (id bigint PRIMARY KEY, name text, capital numeric(18,2),
                        founded date, updated_at timestamp, active boolean, note varchar(20))""")
        conn.execute("""INSERT INTO companies SELECT g, '企业' || g, g * 1.5, date '2020-01-01' + g,
                        timestamp '2024-01-01' + g * interval '1 hour', g % 2 = 0, NULL
                        FROM generate_series(1, 7) g""")
        conn.execute("CREATE SCHEMA archive")
        conn.execute("CREATE TABLE archive.old_companies (id int PRIMARY KEY)")


@pytest.mark.postgres
class TestPostgresContract(SourceContract):
    @pytest.fixture
    def case(self, pg_db: str) -> ContractCase:
        _pg_seed(pg_db)
        return ContractCase(
            kind="postgres", options={"url": pg_db}, object_name="companies", expected_rows=ROWS,
            id_column="id", cursor=Cursor("updated_at", "2024-01-01 03:00:00", "TIMESTAMP"), rows_after_cursor=4,
            broken_options={"url": "postgresql://postgres@127.0.0.1:1/test", "timeout": 2},
        )

    def test_discover_reports_keys_schemas_and_estimates(self, case: ContractCase) -> None:
        src = case.open()
        objects = {o.name: o for o in src.discover()}
        src.close()
        assert objects["companies"].primary_key == ["id"]
        assert "updated_at" in objects["companies"].cursor_candidates
        assert "archive.old_companies" in objects  # other schemas are qualified
        decimal = next(c for c in objects["companies"].columns if c.name == "capital")
        assert str(decimal.type) == "decimal128(18, 2)"

    def test_unknown_role_is_an_authentication_error(self, pg_db: str) -> None:
        url = pg_db.replace("postgres@", "no_such_role:hunter22@")
        src = open_source("postgres", {"url": url})
        with pytest.raises(AuthenticationError) as info:
            src.test()
        assert "hunter22" not in str(info.value)

    def test_closed_port_is_transient(self) -> None:
        src = open_source("postgres", {"url": "postgresql://postgres@127.0.0.1:1/test", "timeout": 2})
        with pytest.raises(SourceUnreachableError) as info:
            src.test()
        assert info.value.transient

    def test_missing_database_is_named(self) -> None:
        src = open_source("postgres", {"url": "postgresql://postgres@127.0.0.1/no_such_db_ub"})
        with pytest.raises(ObjectNotFoundError, match="no_such_db_ub"):
            src.test()


def _maria_seed(url: str) -> None:
    db = url.rsplit("/", 1)[1]
    conn = pymysql.connect(host="127.0.0.1", user="root", password="", database=db, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("""CREATE TABLE licences (id BIGINT UNSIGNED PRIMARY KEY, holder VARCHAR(50),
                       fee DECIMAL(10,2), issued DATETIME, flag TINYINT(1), score DOUBLE)""")
        for i in range(1, ROWS + 1):
            cur.execute("INSERT INTO licences VALUES (%s, %s, %s, %s, %s, %s)",
                        (i, f"持证人{i}", i * 2.5, f"2024-02-0{i} 08:00:00", i % 2, i / 3))
    conn.close()


@pytest.mark.mariadb
class TestMariaDBContract(SourceContract):
    @pytest.fixture
    def case(self, maria_db: str) -> ContractCase:
        _maria_seed(maria_db)
        return ContractCase(
            kind="mysql", options={"url": maria_db}, object_name="licences", expected_rows=ROWS, id_column="id",
            cursor=Cursor("id", "5", "BIGINT"), rows_after_cursor=2,
            broken_options={"url": "mysql://root@127.0.0.1:1/test", "timeout": 2},
        )

    def test_other_databases_on_the_server_are_not_listed(self, case: ContractCase, maria_db: str) -> None:
        conn = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS ub_test_neighbour")
            cur.execute("CREATE TABLE IF NOT EXISTS ub_test_neighbour.secrets (id INT)")
        conn.close()
        src = case.open()
        names = [o.name for o in src.discover()]
        src.close()
        assert names == ["licences"]

    def test_wrong_password_is_terminal_and_redacted(self, maria_db: str) -> None:
        conn = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)
        with conn.cursor() as cur:
            cur.execute("CREATE USER IF NOT EXISTS 'ub_steward'@'%' IDENTIFIED BY 'right-pass'")
            cur.execute("CREATE USER IF NOT EXISTS 'ub_steward'@'localhost' IDENTIFIED BY 'right-pass'")
        conn.close()
        db = maria_db.rsplit("/", 1)[1]
        src = open_source("mysql", {"url": f"mysql://ub_steward:WrongPass99@127.0.0.1:3306/{db}"})
        with pytest.raises(AuthenticationError) as info:
            src.test()
        assert not info.value.transient
        assert "WrongPass99" not in str(info.value)


def _sqlite_seed(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE tickets (id INTEGER PRIMARY KEY, title TEXT, opened TIMESTAMP, amount REAL)")
    conn.executemany("INSERT INTO tickets VALUES (?, ?, ?, ?)",
                     [(i, f"工单{i}", f"2024-03-0{i} 10:00:00", i * 1.25) for i in range(1, ROWS + 1)])
    conn.commit()
    conn.close()


class TestSQLiteContract(SourceContract):
    @pytest.fixture
    def case(self, tmp_path: Path) -> ContractCase:
        path = tmp_path / "hotline.db"
        _sqlite_seed(path)
        return ContractCase(
            kind="sqlite", options={"url": f"sqlite:///{path}"}, object_name="tickets", expected_rows=ROWS,
            id_column="id", cursor=Cursor("id", "3", "BIGINT"), rows_after_cursor=4,
            broken_options={"url": f"sqlite:///{tmp_path / 'missing.db'}"},
        )

    def test_batches_respect_batch_rows(self, case: ContractCase) -> None:
        src = case.open()
        sizes = [b.data.num_rows for b in src.read(ReadRequest(object="tickets", batch_rows=3)) if b.data]
        src.close()
        assert sum(sizes) == ROWS and max(sizes) <= 3
