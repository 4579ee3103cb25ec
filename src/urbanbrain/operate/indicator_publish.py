"""Indicator time series in the lake: `indicators` and `indicator_values` as governed datasets of the
operations centre, so trends and year-on-year comparisons are SQL queries.

The platform writes them itself, through the lake writer (one atomic Iceberg commit per table), and
registers them as datasets of the operations centre's system `indicators` — as `urbanbrain link` writes
the base registries. It does NOT register the metadata store as a SQL source and sync it: a source
reads the store through DuckDB's own SQLite, and two SQLite libraries on one live WAL database in one
process lose each other's locks (seen here: a bus error while the audit thread committed). The rows
are read with the platform's own connection instead. `indicator_values` is append-only: each publish
appends the points with an id above the lake's highest; `indicators` (definitions, current light) is
replaced. Then, under governance:

    SELECT i.name, date_trunc('month', v.at) AS month, avg(v.value) AS value
    FROM hotline.indicators.indicator_values v JOIN hotline.indicators.indicators i ON i.id = v.indicator_id
    WHERE v.key = '' GROUP BY ALL ORDER BY 1, 2
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select

from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.core.errors import ConfigurationError, NotFoundError
from urbanbrain.govern.authz import authorize, record
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import Dataset, Department, Indicator, IndicatorValue, System
from urbanbrain.operate.states import ops_department

SYSTEM_NAME = "indicators"
TABLES = ["indicators", "indicator_values"]
BATCH = 50_000
TS = pa.timestamp("us", tz="UTC")
INDICATORS = pa.schema([
    ("id", pa.string()), ("name", pa.string()), ("title_zh", pa.string()), ("title_en", pa.string()),
    ("unit", pa.string()), ("theme", pa.string()), ("direction", pa.string()), ("breakdown", pa.string()),
    ("target", pa.string()), ("warn", pa.string()), ("alarm", pa.string()), ("department", pa.string()),
    ("iso_code", pa.string()), ("state", pa.string()), ("value", pa.float64()), ("computed_at", TS),
    ("stale", pa.bool_()), ("sql", pa.string())])
VALUES = pa.schema([("id", pa.int64()), ("indicator_id", pa.string()), ("at", TS), ("key", pa.string()),
                    ("value", pa.float64())])


def dataset_names() -> list[str]:
    return [f"{ops_department()}.{SYSTEM_NAME}.{t}" for t in TABLES]


def _ident(table: str) -> tuple[str, str, str]:
    return (ops_department(), SYSTEM_NAME, table)


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def _system(s: Any) -> System:
    """The operations centre's system `indicators` (created on first publish)."""
    from urbanbrain.core.secrets import encrypt

    dept = s.scalar(select(Department).where(Department.code == ops_department()))
    if dept is None:
        raise NotFoundError(f"the operations centre's department {ops_department()!r} is not registered",
                            hint="add it with `urbanbrain dept add`, or set URBANBRAIN_OPS_DEPARTMENT")
    system = s.scalar(select(System).where(System.name == SYSTEM_NAME))
    if system is None:
        system = System(name=SYSTEM_NAME, department_id=dept.id, kind="platform", options_secret=encrypt({}),
                        display_url="urbanbrain indicator publish", schedule="manual",
                        description="the city's vital signs and their time series (urbanbrain.operate)")
        s.add(system)
        s.flush()
    elif system.department_id != dept.id:
        raise ConfigurationError(f"a system named {SYSTEM_NAME!r} already belongs to department "
                                 f"{system.department.code!r}", hint="rename that system, then publish again")
    return system


def _lake_max_id() -> int:
    from urbanbrain.lake.catalog import get_catalog

    catalog = get_catalog()
    if not catalog.table_exists(_ident("indicator_values")):
        return 0
    ids = catalog.load_table(_ident("indicator_values")).scan(selected_fields=("id",)).to_arrow().column("id")
    top = pc.max(ids).as_py() if len(ids) else None
    return int(top or 0)


def _write(table: str, data: pa.Table, mode: str, key: str) -> None:
    from urbanbrain.lake.writer import TableWriter

    with session_scope() as s:
        _system(s)  # refuse before touching the lake if the name is another department's
    writer = TableWriter(_ident(table), data.schema, mode=mode)
    target = writer.open()
    writer.write(data.select(target.names).cast(target))
    result = writer.commit(summary={"urbanbrain.indicators": table})
    name = ".".join(_ident(table))
    with session_scope() as s:
        system = _system(s)
        system.health, system.health_reason, system.health_checked_at = "healthy", None, utcnow()
        ds = s.scalar(select(Dataset).where(Dataset.name == name))
        if ds is None:
            ds = Dataset(name=name, system_id=system.id, object_name=table, table_identifier=name, role="data")
            s.add(ds)
        ds.schema_json = [{"name": f.name, "type": str(f.type)} for f in writer.target_schema]
        ds.primary_key = [key]
        ds.row_count = result.total_rows
        ds.last_synced_at = utcnow()
        ds.snapshot_id = result.snapshot_id


def publish_indicators(by: Principal) -> list[str]:
    """Write the indicator definitions (replaced) and the new points (appended) to the lake; returns the
    dataset names."""
    authorize("indicator.publish", by, department=ops_department())
    record(by, "indicator.publish", f"system:{SYSTEM_NAME}", {"tables": TABLES})
    with session_scope() as s:
        rows = [{**{f.name: getattr(r, f.name) for f in INDICATORS}, "computed_at": _utc(r.computed_at)}
                for r in s.scalars(select(Indicator).order_by(Indicator.name))]
    _write("indicators", pa.Table.from_pylist(rows, schema=INDICATORS), "replace", "id")
    after = _lake_max_id()
    while True:
        with session_scope() as s:
            points = [{"id": p.id, "indicator_id": p.indicator_id, "at": _utc(p.at), "key": p.key, "value": p.value}
                      for p in s.scalars(select(IndicatorValue).where(IndicatorValue.id > after)
                                         .order_by(IndicatorValue.id).limit(BATCH))]
        if not points and after:
            break
        _write("indicator_values", pa.Table.from_pylist(points, schema=VALUES), "append", "id")
        if len(points) < BATCH:
            break
        after = int(points[-1]["id"])  # type: ignore[arg-type]
    return dataset_names()
