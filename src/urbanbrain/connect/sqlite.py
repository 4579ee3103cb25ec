"""SQLite files: read through DuckDB's sqlite scanner; the path comes from `sqlite:///...` or `path`."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import ClassVar

from urbanbrain.connect.sqlsource import SQLSource
from urbanbrain.core.errors import ObjectNotFoundError, SourceFormatError


class SQLiteSource(SQLSource):
    kind: ClassVar[str] = "sqlite"
    extension: ClassVar[str] = "sqlite"

    @property
    def path(self) -> Path:
        raw = str(self.options.get("path") or self.options["url"])
        if raw.startswith("sqlite:///"):
            raw = raw[len("sqlite:///"):]
            raw = "/" + raw.lstrip("/") if not raw.startswith(".") else raw
        return Path(raw)

    def default_schema(self) -> str:
        return "main"

    def attach_target(self) -> str:
        return str(self.path)

    def ping(self) -> None:
        if not self.path.is_file():
            raise ObjectNotFoundError(f"SQLite file {self.path} does not exist",
                                      hint="check the path in --url (sqlite:////absolute/path.db)")
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            conn.close()
        except sqlite3.DatabaseError as exc:
            raise SourceFormatError(f"{self.path} is not a readable SQLite database: {exc}") from None

    def catalog(self) -> tuple[dict[str, list[str]], dict[str, int | None]]:
        keys: dict[str, list[str]] = {}
        estimates: dict[str, int | None] = {}
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        try:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for table in tables:
                quoted = '"' + table.replace('"', '""') + '"'
                info = conn.execute(f"PRAGMA table_info({quoted})").fetchall()
                pk = [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5]]
                if pk:
                    keys[f"main.{table}"] = pk
                stat = conn.execute(f"SELECT max(rowid) FROM {quoted}").fetchone()
                estimates[f"main.{table}"] = int(stat[0]) if stat and stat[0] is not None else 0
        except sqlite3.DatabaseError:
            pass
        finally:
            conn.close()
        return keys, estimates
