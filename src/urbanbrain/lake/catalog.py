"""The Iceberg catalog: pyiceberg's SQL catalog in the metadata database (SQLite or PostgreSQL)."""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table

from urbanbrain.core.errors import NotFoundError
from urbanbrain.core.settings import get_settings

_CATALOGS: dict[tuple[str, str], SqlCatalog] = {}
_LOCK = threading.Lock()

Identifier = tuple[str, ...]


def get_catalog() -> SqlCatalog:
    """One catalog per (database, warehouse); the same database holds our metadata tables."""
    settings = get_settings()
    key = (settings.metadata_url, f"file://{settings.warehouse_path}")
    with _LOCK:
        catalog = _CATALOGS.get(key)
        if catalog is None:
            props: dict[str, Any] = {"uri": key[0], "warehouse": key[1]}
            if key[0].startswith("sqlite"):
                props["echo"] = False
            catalog = _open(props)
            if key[0].startswith("sqlite"):
                _wait_for_writers(catalog)
            _CATALOGS[key] = catalog
    return catalog


def _open(props: dict[str, Any]) -> SqlCatalog:
    """pyiceberg creates its catalog tables on first use, checking first; two processes starting at once
    on a fresh database (two workers, say) can both pass the check, and the loser's CREATE fails. Its
    tables exist by then: opening again finds them."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    try:
        return SqlCatalog("urbanbrain", **props)
    except (IntegrityError, ProgrammingError):
        return SqlCatalog("urbanbrain", **props)


def _wait_for_writers(catalog: SqlCatalog) -> None:
    """pyiceberg's own SQLite engine waits 5 s for a lock; the metadata store shares the file, and intake
    committing reports back to back (group commit) can hold the lock that long on a busy machine, so a
    lake commit failed with "database is locked". It waits as long as the metadata engine does."""
    from sqlalchemy import event

    from urbanbrain.meta.db import BUSY_TIMEOUT_S

    def busy_timeout(dbapi_con: Any, _record: Any) -> None:
        dbapi_con.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")

    event.listen(catalog.engine, "connect", busy_timeout)
    catalog.engine.dispose()  # connections opened while creating the catalog's tables get it too


def reset_catalogs() -> None:
    with _LOCK:
        _CATALOGS.clear()


def load_table(identifier: Identifier) -> Table:
    try:
        return get_catalog().load_table(identifier)
    except NoSuchTableError:
        raise NotFoundError(f"lake table {'.'.join(identifier)} does not exist",
                            hint="sync its system first with `urbanbrain sync`") from None


def table_exists(identifier: Identifier) -> bool:
    return bool(get_catalog().table_exists(identifier))


def create_table_if_missing(identifier: Identifier, schema: Any, partition_spec: Any) -> Table:
    """The table, created with `schema` and `partition_spec` when it does not exist yet. Two processes
    starting the same feed may both try to create it: the loser's error is dropped once the table exists."""
    catalog = get_catalog()
    if not catalog.table_exists(identifier):
        ensure_namespace(identifier[:-1])
        try:
            catalog.create_table(identifier, schema=schema, partition_spec=partition_spec)
        except Exception:
            if not catalog.table_exists(identifier):
                raise
    return catalog.load_table(identifier)


def ensure_namespace(namespace: Identifier) -> None:
    """Create the namespace levels; two first syncs of one department may race here, and both win."""
    catalog = get_catalog()
    for depth in range(1, len(namespace) + 1):
        level = namespace[:depth]
        try:
            catalog.create_namespace_if_not_exists(level)
        except Exception:
            if not catalog.namespace_exists(level):
                raise


@lru_cache(maxsize=1)
def _locations_query() -> Any:
    """`metadata_locations`' select, the (namespace, name) pairs bound at execution: built once (an IN
    of fifty literal pairs cost more to build than to run)."""
    from pyiceberg.catalog.sql import IcebergTables
    from sqlalchemy import bindparam, select, tuple_

    return (select(IcebergTables.table_namespace, IcebergTables.table_name, IcebergTables.metadata_location)
            .where(IcebergTables.catalog_name == bindparam("catalog"),
                   tuple_(IcebergTables.table_namespace, IcebergTables.table_name)
                   .in_(bindparam("keys", expanding=True))))


def metadata_locations(identifiers: list[Identifier]) -> dict[Identifier, str | None]:
    """The current metadata location of each table (None when it is gone), in ONE catalog query.

    A location names a table's snapshot: callers that keep something built from a table (a sealed
    connection's views, say) compare locations to know whether it still shows the current data, for
    the price of one indexed select instead of loading each table's metadata file."""
    from sqlalchemy.orm import Session

    catalog = get_catalog()
    wanted = {(".".join(i[:-1]), i[-1]): i for i in identifiers}
    found: dict[Identifier, str | None] = dict.fromkeys(identifiers)
    if not wanted:
        return found
    with Session(catalog.engine) as s:
        rows = s.execute(_locations_query(), {"catalog": catalog.name, "keys": list(wanted)})
        for namespace, name, location in rows:
            ident = wanted.get((namespace, name))
            if ident is not None:
                found[ident] = location
    return found
