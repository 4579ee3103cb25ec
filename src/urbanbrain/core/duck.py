"""The one DuckDB adapter: connections, offline extension loading, and safe defaults.

DuckDB downloads extensions at run time, which fails on an offline machine; the extensions ship as
PyPI wheels (`duckdb-extension-<name>`) pinned to DuckDB's version and are loaded from there.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Any

import duckdb

from urbanbrain.core.errors import ConfigurationError

_INSTALL_LOCK = threading.Lock()

EXTENSIONS = {
    "postgres": "postgres_scanner",
    "mysql": "mysql_scanner",
    "sqlite": "sqlite_scanner",
    "excel": "excel",
    "spatial": "spatial",
}


def connect(
    *, memory_limit: str | None = None, threads: int | None = None, config: dict[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with our defaults; every module gets its connections from here."""
    cfg: dict[str, Any] = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    if memory_limit:
        cfg["memory_limit"] = memory_limit
    if threads:
        cfg["threads"] = threads
    if config:
        cfg.update(config)
    return duckdb.connect(":memory:", config=cfg)


SMALL_SCAN_BYTES = 8 << 20  # below this a scan is a handful of row groups: one thread does it


def files_within(paths: Iterable[str], limit: int) -> bool:
    """Whether the files' sizes add up to at most `limit` bytes, reading sizes only until the sum passes
    it; a file that cannot be sized counts as too large (the caller then takes its safe path)."""
    total = 0
    for path in paths:
        try:
            total += os.path.getsize(path)
        except OSError:
            return False
        if total > limit:
            return False
    return True


def small_scan(paths: Iterable[str]) -> bool:
    """Whether the files a connection may read are too small for DuckDB's threads to pay off: it
    splits a Parquet scan by row group (~123 k rows, a few MB), so a few MB of files are one or two
    tasks, and a second thread only costs its wake-up — and each governed reader has its own DuckDB
    instance with its own pool, which refreshing many indicators wakes one after another. Measured on
    the demo's indicators (bench/ioc): one thread is cheaper in CPU and no slower in wall time. A file
    that cannot be sized counts as large."""
    return files_within(paths, SMALL_SCAN_BYTES - 1)


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Load a bundled extension by its short name (`postgres`, `mysql`, `sqlite`, `excel`, ...)."""
    ext = EXTENSIONS.get(name, name)
    try:
        con.execute(f"LOAD {ext}")
        return
    except duckdb.Error:
        pass
    try:
        import duckdb_extensions

        with _INSTALL_LOCK:
            duckdb_extensions.import_extension(ext, con=con)
    except Exception as exc:  # the wheel is missing or built for another DuckDB
        raise ConfigurationError(
            f"DuckDB extension {ext!r} is not available offline",
            hint=f"pip install 'duckdb-extension-{ext}=={duckdb.__version__}'",
        ) from exc
