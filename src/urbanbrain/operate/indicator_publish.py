"""Indicator time series in the lake: `indicators` and `indicator_values` as governed datasets of the
operations centre, so trends and year-on-year comparisons are SQL queries.

The platform writes them itself, through the lake writer (one atomic Iceberg commit per table), and
registers them as datasets of the operations centre's system `indicators` (`operate.lake_publish`, as
for the case tables; why not as a synced SQL source is told there). `indicator_values` is append-only: each publish
appends the points with an id above the lake's highest; `indicators` (definitions, current light) is
replaced. Then, under governance:

    SELECT i.name, date_trunc('month', v.at) AS month, avg(v.value) AS value
    FROM hotline.indicators.indicator_values v JOIN hotline.indicators.indicators i ON i.id = v.indicator_id
    WHERE v.key = '' GROUP BY ALL ORDER BY 1, 2
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
from sqlalchemy import select

from urbanbrain.core.clock import as_utc
from urbanbrain.govern.authz import authorize, record
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import Indicator, IndicatorValue
from urbanbrain.operate.lake_publish import PlatformSystem, lake_max, write
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


SYSTEM = PlatformSystem(SYSTEM_NAME, "urbanbrain indicator publish",
                        "the city's vital signs and their time series (urbanbrain.operate)")


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def _write(table: str, data: pa.Table, mode: str, key: str) -> None:
    write(SYSTEM, table, [data], data.schema, mode, key)


def publish_indicators(by: Principal) -> list[str]:
    """Write the indicator definitions (replaced) and the new points (appended) to the lake; returns the
    dataset names."""
    authorize("indicator.publish", by, department=ops_department())
    record(by, "indicator.publish", f"system:{SYSTEM_NAME}", {"tables": TABLES})
    with session_scope() as s:
        rows = [{**{f.name: getattr(r, f.name) for f in INDICATORS}, "computed_at": _utc(r.computed_at)}
                for r in s.scalars(select(Indicator).order_by(Indicator.name))]
    _write("indicators", pa.Table.from_pylist(rows, schema=INDICATORS), "replace", "id")
    after = lake_max(SYSTEM, "indicator_values")
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
