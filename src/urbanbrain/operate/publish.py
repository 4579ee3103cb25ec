"""Cases are data: the case tables synced into the lake as governed datasets of the operations centre.

Rather than a second writer, the metadata database is registered as a department system of the
operations centre (kind `sqlite` or `postgres`, limited by the connectors' `tables` option to the case
tables, so no other metadata table is ever discovered) and synced like any other system: incremental
by `updated_at`/`id`, PII proposals for the reporter's columns, and reads through the one policy.
`urbanbrain case publish` (or the worker, on the system's schedule) refreshes it; then e.g.
`SELECT category, count(*) FROM hotline.cases.cases GROUP BY 1` works under governance.
"""

from __future__ import annotations

from urbanbrain.core.errors import NotFoundError
from urbanbrain.core.naming import sql_identifier
from urbanbrain.core.settings import get_settings
from urbanbrain.govern.authz import authorize, record
from urbanbrain.govern.principals import SYSTEM, Principal
from urbanbrain.operate.states import ops_department

SYSTEM_NAME = "cases"
TABLES = ["cases", "case_events", "dispatch_rules", "sla_policies"]


def dataset_names() -> list[str]:
    return [f"{ops_department()}.{SYSTEM_NAME}.{t}" for t in TABLES]


def publish(by: Principal, *, schedule: str = "every 15m") -> list[str]:
    """Register (once) and sync the case tables; returns the dataset names."""
    from urbanbrain.connect.systems import add_system, configure_object, discover_system, list_systems
    from urbanbrain.sync.runner import run_sync

    authorize("case.publish", by, department=ops_department())
    # the platform registers and syncs its own tables once the caller may publish them: the source
    # guards accept the metadata store only from the platform, and only for these tables
    record(by, "case.publish", f"system:{SYSTEM_NAME}", {"tables": TABLES})
    url = get_settings().metadata_url
    kind = "sqlite" if url.startswith("sqlite") else "postgres"
    if not any(s.name == SYSTEM_NAME for s in list_systems(ops_department())):
        try:
            add_system(SYSTEM_NAME, ops_department(), kind, {"url": url, "tables": TABLES}, schedule=schedule,
                       description="the event closed loop's case tables (urbanbrain.operate)", by=SYSTEM)
        except NotFoundError as exc:
            raise NotFoundError(f"the operations centre's department {ops_department()!r} is not registered",
                                hint="add it with `urbanbrain dept add`, or set URBANBRAIN_OPS_DEPARTMENT") from exc
        for obj in discover_system(SYSTEM_NAME, by=SYSTEM):
            if sql_identifier(obj.name.split(".")[-1]) in ("cases", "dispatch_rules", "sla_policies"):
                configure_object(SYSTEM_NAME, obj.name, clear_cursor=True, by=SYSTEM)  # small, mutable: full refresh
    run = run_sync(SYSTEM_NAME)
    if run.status != "succeeded":
        from urbanbrain.core.errors import SyncError

        raise SyncError(f"publishing the case tables failed: {run.error}", hint="see `urbanbrain runs show`")
    return dataset_names()
