"""Where a department system's rows land: database tables, export files, or the simulator's API store.

One small writer per medium, all with the same three calls (`open`, `append`, `close`) so the
builder can stream any object chunk by chunk. Database writers create the table with its primary
key (so discovery finds keys and cursors as it would on a real system) and bulk-load: COPY on
PostgreSQL, multi-row INSERT on MariaDB, executemany on SQLite.
"""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MYSQL_HOST = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}


def pg_url(db: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{db}"


def mysql_url(db: str) -> str:
    return f"mysql://root@127.0.0.1:3306/{db}"


def reachable(kind: str) -> bool:
    """Is the local PostgreSQL/MariaDB up? A 1 s connect timeout, so an absent server costs one second."""
    try:
        if kind == "postgres":
            import psycopg

            psycopg.connect(PG_ADMIN, connect_timeout=1, autocommit=True).close()
        else:
            import pymysql

            pymysql.connect(**MYSQL_HOST, connect_timeout=1).close()  # type: ignore[arg-type]
        return True
    except Exception:
        return False


class Writer(Protocol):
    def append(self, table: pa.Table) -> None: ...

    def close(self) -> None: ...


def _sql_type(t: pa.DataType, dialect: str, key: bool) -> str:
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_floating(t):
        return "DOUBLE PRECISION" if dialect == "postgres" else "DOUBLE" if dialect == "mysql" else "REAL"
    if pa.types.is_timestamp(t):
        return "DATETIME" if dialect == "mysql" else "TIMESTAMP"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    return "VARCHAR(64)" if dialect == "mysql" and key else "TEXT"


def _ddl(table: str, schema: pa.Schema, key: str, dialect: str, qualified: str) -> str:
    q = (lambda s: f"`{s}`") if dialect == "mysql" else (lambda s: f'"{s}"')
    cols = [f"{q(f.name)} {_sql_type(f.type, dialect, f.name == key)}" + (" NOT NULL" if f.name == key else "")
            for f in schema]
    return f"CREATE TABLE {qualified} ({', '.join(cols)}, PRIMARY KEY ({q(key)}))"


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    cols = [c.to_pylist() for c in table.columns]
    return list(zip(*cols, strict=True)) if cols else []


class SQLiteWriter:
    def __init__(self, path: Path, table: str, schema: pa.Schema, key: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.con = sqlite3.connect(path)
        self.con.execute(f'DROP TABLE IF EXISTS "{table}"')
        self.con.execute(_ddl(table, schema, key, "sqlite", f'"{table}"'))
        self.sql = f'INSERT INTO "{table}" VALUES ({", ".join("?" for _ in schema)})'

    def append(self, table: pa.Table) -> None:
        self.con.executemany(self.sql, [tuple(str(v) if hasattr(v, "isoformat") else v for v in row)
                                        for row in _rows(table)])

    def close(self) -> None:
        self.con.commit()
        self.con.close()


class PostgresWriter:
    def __init__(self, db: str, pg_schema: str, table: str, schema: pa.Schema, key: str) -> None:
        import psycopg

        self.con = psycopg.connect(pg_url(db), autocommit=True)
        self.con.execute(f'CREATE SCHEMA IF NOT EXISTS "{pg_schema}"')
        self.qualified = f'"{pg_schema}"."{table}"'
        self.con.execute(f"DROP TABLE IF EXISTS {self.qualified}")
        self.con.execute(_ddl(table, schema, key, "postgres", self.qualified))

    def append(self, table: pa.Table) -> None:
        with self.con.cursor() as cur, cur.copy(f"COPY {self.qualified} FROM STDIN") as copy:
            for row in _rows(table):
                copy.write_row(row)

    def close(self) -> None:
        self.con.close()


class MySQLWriter:
    def __init__(self, db: str, table: str, schema: pa.Schema, key: str) -> None:
        import pymysql

        self.con = pymysql.connect(**MYSQL_HOST, database=db, charset="utf8mb4", autocommit=False)  # type: ignore[arg-type]
        with self.con.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS `{table}`")
            cur.execute(_ddl(table, schema, key, "mysql", f"`{table}`") + " DEFAULT CHARSET=utf8mb4")
        cols = ", ".join(f"`{f.name}`" for f in schema)
        self.sql = f"INSERT INTO `{table}` ({cols}) VALUES ({', '.join('%s' for _ in schema)})"

    def append(self, table: pa.Table) -> None:
        rows = _rows(table)
        with self.con.cursor() as cur:
            for i in range(0, len(rows), 5000):
                cur.executemany(self.sql, rows[i:i + 5000])  # pymysql turns this into multi-row INSERTs
        self.con.commit()

    def close(self) -> None:
        self.con.close()


class CSVWriter:
    """CSV exports; `gbk` writes what Chinese office software still produces (with replacement of
    the rare characters GBK lacks, as exporting tools do)."""

    def __init__(self, path: Path, encoding: str = "utf-8") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = path.open("wb")
        self.encoding = encoding
        self.header = True

    def append(self, table: pa.Table) -> None:
        buf = io.BytesIO()
        pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=self.header))
        self.header = False
        data = buf.getvalue()
        self.fh.write(data if self.encoding == "utf-8" else data.decode("utf-8").encode(self.encoding, "replace"))

    def close(self) -> None:
        self.fh.close()


class XLSXWriter:
    def __init__(self, path: Path) -> None:
        try:
            import openpyxl
        except ImportError as exc:  # pragma: no cover - openpyxl is a declared dependency of the demo
            from urbanbrain.core.errors import ConfigurationError

            raise ConfigurationError("the demo writes spreadsheet exports with openpyxl",
                                     hint="pip install openpyxl") from exc
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.book = openpyxl.Workbook(write_only=True)
        self.sheet = self.book.create_sheet("Sheet1")
        self.header = True

    def append(self, table: pa.Table) -> None:
        if self.header:
            self.sheet.append(table.column_names)
            self.header = False
        for row in _rows(table):
            self.sheet.append(list(row))

    def close(self) -> None:
        self.book.save(self.path)


class ParquetWriter:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.writer: pq.ParquetWriter | None = None

    def append(self, table: pa.Table) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table.cast(self.writer.schema))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class NDJSONWriter:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = path.open("w", encoding="utf-8")

    def append(self, table: pa.Table) -> None:
        for row in table.to_pylist():
            self.fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")

    def close(self) -> None:
        self.fh.close()


def create_databases(kind: str, names: list[str]) -> None:
    """(Re)create `ub_demo_<dept>` databases; a fresh build must not see last run's tables."""
    if kind == "postgres":
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as con:
            for name in names:
                con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                con.execute(f'CREATE DATABASE "{name}"')
    else:
        import pymysql

        con = pymysql.connect(**MYSQL_HOST, autocommit=True)  # type: ignore[arg-type]
        with con.cursor() as cur:
            for name in names:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        con.close()
