"""Indicator time series in the lake: `indicators` and `indicator_values` as governed datasets of the
operations centre, so trends and year-on-year comparisons are SQL queries.

The same way the case tables are published (`operate.publish`): the metadata store is registered as a
system of the operations centre limited to the two indicator tables and synced like any other system —
`indicator_values` incrementally (append-only, by its integer id), `indicators` (definitions, current
light) in full. Then, under governance:

    SELECT i.name, date_trunc('month', v.at) AS month, avg(v.value) AS value
    FROM hotline.indicators.indicator_values v JOIN hotline.indicators.indicators i ON i.id = v.indicator_id
    WHERE v.key = '' GROUP BY ALL ORDER BY 1, 2
"""

from __future__ import annotations

from urbanbrain.core.errors import NotFoundError, SyncError
from urbanbrain.core.naming import sql_identifier
from urbanbrain.core.settings import get_settings
from urbanbrain.govern.authz import authorize, record
from urbanbrain.govern.principals import SYSTEM, Principal
from urbanbrain.operate.states import ops_department

SYSTEM_NAME = "indicators"
TABLES = ["indicators", "indicator_values"]


def dataset_names() -> list[str]:
    return [f"{ops_department()}.{SYSTEM_NAME}.{t}" for t in TABLES]


def publish_indicators(by: Principal, *, schedule: str = "every 1h") -> list[str]:
    """Register (once) and sync the indicator tables into the lake; returns the dataset names."""
    from urbanbrain.connect.systems import add_system, configure_object, discover_system, list_systems
    from urbanbrain.sync.runner import run_sync

    authorize("indicator.publish", by, department=ops_department())
    record(by, "indicator.publish", f"system:{SYSTEM_NAME}", {"tables": TABLES})
    url = get_settings().metadata_url
    kind = "sqlite" if url.startswith("sqlite") else "postgres"
    if not any(s.name == SYSTEM_NAME for s in list_systems(ops_department())):
        try:
            add_system(SYSTEM_NAME, ops_department(), kind, {"url": url, "tables": TABLES}, schedule=schedule,
                       description="the city's vital signs and their time series (urbanbrain.operate)", by=SYSTEM)
        except NotFoundError as exc:
            raise NotFoundError(f"the operations centre's department {ops_department()!r} is not registered",
                                hint="add it with `urbanbrain dept add`, or set URBANBRAIN_OPS_DEPARTMENT") from exc
        for obj in discover_system(SYSTEM_NAME, by=SYSTEM):
            table = sql_identifier(obj.name.split(".")[-1])
            if table == "indicators":  # small and mutable: a full refresh each time
                configure_object(SYSTEM_NAME, obj.name, clear_cursor=True, by=SYSTEM)
            elif table == "indicator_values":  # append-only: incremental by id
                configure_object(SYSTEM_NAME, obj.name, cursor_column="id", by=SYSTEM)
    run = run_sync(SYSTEM_NAME)
    if run.status != "succeeded":
        raise SyncError(f"publishing the indicator tables failed: {run.error}", hint="see `urbanbrain runs show`")
    return dataset_names()
