"""Metadata tables the platform publishes into its own lake: read with the platform's connection, written
through the lake writer, registered as datasets of an operations-centre system of kind `platform`.

Used by `operate.publish` (the case tables) and `operate.indicator_publish` (vital signs). Neither
registers the metadata store as a SQL source to sync: a source reads it through DuckDB's own SQLite,
and two SQLite libraries on one live WAL database in one process lose each other's locks (a bus error
was seen while the audit thread committed). Here the rows are read through SQLAlchemy, the same
SQLite library and connection pool as every other writer in the process.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import BigInteger, Boolean, DateTime, Float, Integer, Numeric, select
from sqlalchemy.orm import Session

from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.core.errors import ConfigurationError, NotFoundError
from urbanbrain.meta.dataset_rows import record_dataset
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import Department, System
from urbanbrain.operate.states import ops_department

TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class PlatformSystem:
    """The operations-centre system a group of published tables belongs to."""

    name: str
    display_url: str
    description: str

    def ident(self, table: str) -> tuple[str, str, str]:
        return (ops_department(), self.name, table)

    def dataset(self, table: str) -> str:
        return ".".join(self.ident(table))

    def row(self, s: Session) -> tuple[System, bool]:
        """The system (created on first publish); `converted` when it was a synced SQL source before
        (the case tables were published that way until 0.x): it becomes a platform system that no worker
        syncs, and the caller rewrites its tables in full."""
        from urbanbrain.core.secrets import encrypt

        dept = s.scalar(select(Department).where(Department.code == ops_department()))
        if dept is None:
            raise NotFoundError(f"the operations centre's department {ops_department()!r} is not registered",
                                hint="add it with `urbanbrain dept add`, or set URBANBRAIN_OPS_DEPARTMENT")
        system = s.scalar(select(System).where(System.name == self.name))
        converted = False
        if system is None:
            system = System(name=self.name, department_id=dept.id, kind="platform", options_secret=encrypt({}),
                            display_url=self.display_url, schedule="manual", description=self.description)
            s.add(system)
            s.flush()
        elif system.department_id != dept.id:
            raise ConfigurationError(f"a system named {self.name!r} already belongs to department "
                                     f"{system.department.code!r}", hint="rename that system, then publish again")
        elif system.kind != "platform":
            system.kind, system.options_secret, system.schedule = "platform", encrypt({}), "manual"
            system.display_url, system.next_run_at, converted = self.display_url, None, True
        return system, converted


def arrow_type(column: Any) -> pa.DataType:
    """The lake type of a metadata column: JSON as its text, times as UTC microseconds."""
    kind = column.type
    if isinstance(kind, DateTime):
        return TS
    if isinstance(kind, Boolean):
        return pa.bool_()
    if isinstance(kind, Integer | BigInteger):
        return pa.int64()
    if isinstance(kind, Float | Numeric):
        return pa.float64()
    return pa.string()


def arrow_rows(rows: Iterable[Any], schema: pa.Schema) -> pa.Table:
    """Rows as read from the metadata store, as an Arrow table of `schema` (JSON values dumped)."""
    out: list[dict[str, Any]] = []
    json_cols = [f.name for f in schema if pa.types.is_string(f.type)]
    for row in rows:
        values = dict(row)
        for name in json_cols:
            v = values.get(name)
            if v is not None and not isinstance(v, str):
                values[name] = json.dumps(v, ensure_ascii=False, default=str)
        for name, v in values.items():
            if isinstance(v, datetime):
                values[name] = as_utc(v)
        out.append(values)
    return pa.Table.from_pylist(out, schema=schema)


def schema_of(columns: Sequence[Any]) -> pa.Schema:
    return pa.schema([(c.name, arrow_type(c)) for c in columns])


def lake_max(system: PlatformSystem, table: str, column: str = "id") -> int:
    """The highest `column` already in the lake table (0 when the table does not exist yet)."""
    from urbanbrain.lake.catalog import get_catalog

    catalog = get_catalog()
    if not catalog.table_exists(system.ident(table)):
        return 0
    ids = catalog.load_table(system.ident(table)).scan(selected_fields=(column,)).to_arrow().column(column)
    top = pc.max(ids).as_py() if len(ids) else None
    return int(top or 0)


def write(system: PlatformSystem, table: str, batches: Iterable[pa.Table], schema: pa.Schema, mode: str,
          key: str, *, propose_pii: bool = False) -> int:
    """Write `batches` to the lake table in one atomic commit and register the dataset; returns its rows.
    `propose_pii`: sample new columns for PII proposals afterwards, as a sync does."""
    from urbanbrain.lake.writer import TableWriter

    with session_scope() as s:
        system.row(s)  # refuse before touching the lake if the name is another department's
    writer = TableWriter(system.ident(table), schema, mode=mode)
    target = writer.open()
    for data in batches:
        writer.write(data.select(target.names).cast(target))
    result = writer.commit(summary={f"urbanbrain.{system.name}": table})
    name = system.dataset(table)
    with session_scope() as s:
        row, _ = system.row(s)
        row.health, row.health_reason, row.health_checked_at = "healthy", None, utcnow()
        record_dataset(s, name, system_id=row.id, object_name=table, fields=writer.target_schema, primary_key=[key],
                       rows=result.total_rows, snapshot_id=result.snapshot_id)
    if propose_pii:
        _propose_pii(name)
    return int(result.total_rows)


def _propose_pii(name: str) -> None:
    """As after a sync: a failure never fails the publish; unclassified columns keep the default level."""
    import logging

    from urbanbrain.govern.classification import propose_new_columns

    try:
        propose_new_columns(name)
    except Exception:
        logging.getLogger(__name__).warning("PII proposals for %s failed; its new columns keep the default level",
                                            name, exc_info=True)


def purge(system: PlatformSystem, tables: Sequence[str]) -> None:
    """Drop the lake tables before a full rewrite (a converted system's tables were typed by the old
    sync: times as text, which the lake writer refuses to change in place)."""
    from urbanbrain.lake.catalog import get_catalog

    catalog = get_catalog()
    for table in tables:
        if catalog.table_exists(system.ident(table)):
            catalog.purge_table(system.ident(table))


def ensure_system(system: PlatformSystem) -> bool:
    """Create (or convert) the system; True when it was converted from a synced source."""
    with session_scope() as s:
        return system.row(s)[1]

