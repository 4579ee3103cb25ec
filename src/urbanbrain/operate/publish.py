"""Cases are data: the case tables written into the lake as governed datasets of the operations centre.

The platform reads its own rows through SQLAlchemy and writes them through the lake writer
(`operate.lake_publish`), one atomic Iceberg commit per table, as datasets of the system `cases`
(kind `platform`). It does NOT register the metadata store as a SQL source to sync any more: that read
the live SQLite database through DuckDB's own SQLite library while this process's threads committed
through Python's, and two SQLite libraries on one WAL database in one process lose each other's locks
(the IOC work saw a bus error doing exactly that). A system `cases` created that way by an earlier
version is converted on the next publish and its tables rewritten.

`cases` is replaced each time (rows change), with the SLA marks of `case_sla` as columns; `case_events`
is append-only, so each publish appends the history rows with an id above the lake's highest;
`dispatch_rules` and `sla_policies` are small and replaced. New columns are sampled for PII proposals
as after a sync (the reporter's name and contact). `urbanbrain case publish` refreshes them; then e.g.
`SELECT category, count(*) FROM hotline.cases.cases GROUP BY 1` works under governance.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from urbanbrain.govern.authz import authorize, record
from urbanbrain.govern.principals import Principal
from urbanbrain.operate.states import ops_department

SYSTEM_NAME = "cases"
TABLES = ["cases", "case_events", "dispatch_rules", "sla_policies"]
BATCH = 50_000


def dataset_names() -> list[str]:
    return [f"{ops_department()}.{SYSTEM_NAME}.{t}" for t in TABLES]


def publish(by: Principal) -> list[str]:
    """Write the case tables to the lake (see the module's docstring); returns the dataset names."""
    from sqlalchemy import Table, select

    from urbanbrain.meta.db import session_scope
    from urbanbrain.meta.models import SLA_MARKS, Case, CaseEvent, CaseSla, DispatchRule, SlaPolicy
    from urbanbrain.operate import lake_publish as lp

    authorize("case.publish", by, department=ops_department())
    record(by, "case.publish", f"system:{SYSTEM_NAME}", {"tables": TABLES})
    system = lp.PlatformSystem(SYSTEM_NAME, "urbanbrain case publish",
                               "the event closed loop's case tables (urbanbrain.operate)")
    rewrite = lp.ensure_system(system)
    if rewrite:
        lp.purge(system, TABLES)
    cases_t: Table = Case.__table__  # type: ignore[assignment]
    sla_t: Table = CaseSla.__table__  # type: ignore[assignment]
    events_t: Table = CaseEvent.__table__  # type: ignore[assignment]
    marks = [select(sla_t.c.raised_at).where(sla_t.c.case_id == cases_t.c.id, sla_t.c.kind == kind)
             .scalar_subquery().label(mark) for kind, mark in enumerate(SLA_MARKS)]  # as `Case` reads them
    case_cols = [*cases_t.columns, *marks]
    case_schema = lp.schema_of(case_cols)

    def case_batches() -> Iterator[Any]:
        """All cases in one read transaction (a consistent view), streamed in batches."""
        q = select(*case_cols).order_by(cases_t.c.id).execution_options(yield_per=BATCH)
        with session_scope() as s:
            for part in s.execute(q).mappings().partitions():
                yield lp.arrow_rows(part, case_schema)

    lp.write(system, "cases", case_batches(), case_schema, "replace", "id", propose_pii=True)
    after = 0 if rewrite else lp.lake_max(system, "case_events")
    event_schema = lp.schema_of(list(events_t.columns))

    def event_batches() -> Iterator[Any]:
        q = (select(*events_t.columns).where(events_t.c.id > after).order_by(events_t.c.id)
             .execution_options(yield_per=BATCH))
        with session_scope() as s:
            for part in s.execute(q).mappings().partitions():
                yield lp.arrow_rows(part, event_schema)

    lp.write(system, "case_events", event_batches(), event_schema, "replace" if rewrite else "append", "id",
             propose_pii=True)
    for table, model, key in (("dispatch_rules", DispatchRule, "id"), ("sla_policies", SlaPolicy, "id")):
        t: Table = model.__table__  # type: ignore[assignment]
        schema = lp.schema_of(list(t.columns))
        with session_scope() as s:
            rows = [dict(r) for r in s.execute(select(*t.columns)).mappings()]
        lp.write(system, table, [lp.arrow_rows(rows, schema)], schema, "replace", key)
    return dataset_names()
