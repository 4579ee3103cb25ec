"""A tiny lake for built-in tests: rows → SQLite file → department system → discover → sync."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from urbanbrain.connect.systems import add_system, discover_system
from urbanbrain.core.errors import AlreadyExistsError
from urbanbrain.meta.departments import add_department
from urbanbrain.sync.runner import run_sync


def sqlite_dataset(tmp: Path, dept: str, system: str, table: str, rows: list[dict[str, Any]]) -> str:
    """Write `rows` to a SQLite table, register and sync it; returns the dataset name."""
    path = tmp / f"{system}.db"
    conn = sqlite3.connect(path)
    cols = list(rows[0])
    kinds = {int: "INTEGER", float: "REAL", str: "TEXT"}
    conn.execute(f"CREATE TABLE {table} ({', '.join(f'{c} {kinds[type(rows[0][c])]}' for c in cols)})")
    conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' for _ in cols)})",
                     [tuple(r[c] for c in cols) for r in rows])
    conn.commit()
    conn.close()
    with contextlib.suppress(AlreadyExistsError):
        add_department(dept.title(), dept)
    add_system(system, dept, "sqlite", {"url": f"sqlite:///{path}"})
    discover_system(system)
    run = run_sync(system)
    assert run.status == "succeeded", run.error
    return f"{dept}.{system.replace('-', '_')}.{table}"
