"""SQL over the lake is read-only and confined to the warehouse, whatever the statement tries."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.sync.helpers import register
from urbanbrain.core.errors import QueryError, ReadOnlyViolationError
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.query import run_query, stream_query
from urbanbrain.sync.runner import run_sync


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    db = tmp_path / "src.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE hospitals (id INTEGER PRIMARY KEY, name TEXT, beds INTEGER)")
    conn.executemany("INSERT INTO hospitals VALUES (?, ?, ?)", [(i, f"医院{i}", i * 10) for i in range(1, 101)])
    conn.commit()
    conn.close()
    register("hospital-registry", "sqlite", {"url": f"sqlite:///{db}"}, dept="health")
    assert run_sync("hospital-registry").status == "succeeded"
    return db


def test_select_join_cte_and_truncation(lake: Path) -> None:
    result = run_query("""WITH h AS (SELECT * FROM health.hospital_registry.hospitals)
                          SELECT a.id, b.beds FROM h a JOIN health.hospital_registry.hospitals b USING (id)
                          ORDER BY a.id""", max_rows=7, principal=SYSTEM)
    assert result.truncated and result.table.num_rows == 7
    assert sum(b.num_rows for b in stream_query("select * from health.hospital_registry.hospitals",
                                                principal=SYSTEM)) == 100


WRITES = [
    "CREATE TABLE x AS SELECT 1",
    "INSERT INTO health.hospital_registry.hospitals (id) VALUES (1)",
    "DELETE FROM health.hospital_registry.hospitals",
    "COPY (SELECT 1) TO '/tmp/ub_leak.csv'",
    "EXPORT DATABASE '/tmp/ub_export'",
    "ATTACH '/tmp/ub_other.db' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "PRAGMA enable_profiling",
    "SELECT 1; SELECT 2",
    "CALL pragma_version()",
]


@pytest.mark.parametrize("sql", WRITES)
def test_statements_that_write_or_configure_are_refused(lake: Path, sql: str) -> None:
    with pytest.raises((ReadOnlyViolationError, QueryError)):
        run_query(sql, principal=SYSTEM)


OUTSIDE = [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM read_parquet('/tmp/*.parquet')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM sqlite_scan('{db}', 'hospitals')",
]


@pytest.mark.parametrize("sql", OUTSIDE)
def test_files_outside_the_lake_are_unreachable(lake: Path, sql: str) -> None:
    with pytest.raises((ReadOnlyViolationError, QueryError)):
        run_query(sql.format(db=lake), principal=SYSTEM)


def test_unknown_dataset_names_the_problem(lake: Path) -> None:
    with pytest.raises(QueryError, match="nope"):
        run_query("select * from health.hospital_registry.nope", principal=SYSTEM)
