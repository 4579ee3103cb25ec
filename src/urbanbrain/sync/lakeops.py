"""Service functions over the lake's tables: `lake stats`, `lake maintain` and partition specs.

Each checks the caller (platform admin, or the admin of the department owning the table; stewards
choose partition specs) and records what it changed in the audit chain. The worker and the stream
runner call `maintain_due` as SYSTEM on the `lake_maintain_every_hours` schedule.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

from sqlalchemy import select

from urbanbrain.core.errors import NotFoundError, ValidationError
from urbanbrain.core.jobs import Job
from urbanbrain.core.naming import sql_identifier
from urbanbrain.core.settings import get_settings
from urbanbrain.govern.authz import acting, allowed, authorize, record
from urbanbrain.govern.principals import SYSTEM, Principal
from urbanbrain.lake import maintain, partitioning
from urbanbrain.lake.catalog import get_catalog
from urbanbrain.lake.writer import _plain
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import Dataset, Department, SourceObjectRecord, System

log = logging.getLogger("urbanbrain.lake")
_LAST_RUN: dict[str, float] = {}


def _tables(dataset: str | None, action: str, by: Principal) -> list[tuple[str, str]]:
    """(dataset, owning department) pairs `by` may act on: one named dataset (refused if not allowed)
    or every dataset whose department `by` administers."""
    with session_scope() as s:
        query = select(Dataset.name, Department.code).join(System, Dataset.system_id == System.id) \
            .join(Department, System.department_id == Department.id).order_by(Dataset.name)
        if dataset is not None:
            query = query.where(Dataset.name == dataset.lower())
        rows = [(str(n), str(d)) for n, d in s.execute(query).all()]
    if dataset is not None:
        if not rows:
            from urbanbrain.lake.names import dataset_name_hint

            raise NotFoundError(f"no dataset named {dataset!r}", hint=dataset_name_hint(dataset.split(".")))
        authorize(action, by, rows[0][1])
        return rows
    return [(n, d) for n, d in rows if allowed(action, by, d)]


def lake_stats(dataset: str | None = None, *, by: Principal | None = None) -> list[maintain.Plan]:
    """Files, sizes, snapshots and partitions of each table, and what `maintain` would do to it."""
    by = acting(by)
    plans = []
    for name, _ in _tables(dataset, "lake.stats", by):
        ident = tuple(name.split("."))
        if get_catalog().table_exists(ident):
            plans.append(maintain.plan(ident))
    record(by, "lake.stats", f"dataset:{dataset}" if dataset else "lake", {"tables": len(plans)})
    return plans


def maintain_lake(dataset: str | None = None, *, dry_run: bool = False,
                  by: Principal | None = None) -> list[maintain.Result]:
    """Compact, expire snapshots and remove orphan files of one dataset or (None) of every dataset
    `by` administers. A table another writer changed meanwhile is skipped, never half done."""
    by = acting(by)
    results = []
    for name, _ in _tables(dataset, "lake.maintain", by):
        ident = tuple(name.split("."))
        if not get_catalog().table_exists(ident):
            continue
        result = maintain.run(ident, dry_run=dry_run)
        results.append(result)
        if not dry_run and not result.plan.idle:
            record(by, "lake.maintain", f"dataset:{name}", {
                "compacted_files": result.compacted_files, "written_files": result.written_files,
                "expired_snapshots": result.expired, "deleted_files": result.deleted_files,
                "deleted_bytes": result.deleted_bytes, "skipped": result.skipped})
    return results


def maintain_due(datasets: list[str] | None = None, *, now: float | None = None) -> list[maintain.Result]:
    """Run `maintain` as SYSTEM on the given datasets (None: every table) once
    `lake_maintain_every_hours` have passed since this process first saw them or last maintained them
    (a long-running worker or stream runner calls it every few seconds). Errors are logged, never
    raised."""
    every = get_settings().lake_maintain_every_hours
    now = time.monotonic() if now is None else now
    results: list[maintain.Result] = []
    if every <= 0:
        return results
    for name in datasets or [None]:  # type: ignore[list-item]
        key = name or "*"
        last = _LAST_RUN.setdefault(key, now)
        if now - last < every * 3600:
            continue
        _LAST_RUN[key] = now
        try:
            results.extend(maintain_lake(name, by=SYSTEM))
        except Exception:
            log.warning("lake maintenance of %s failed", name or "every table", exc_info=True)
    return results


def _object_row(session: object, name: str) -> SourceObjectRecord | None:
    """The source object whose table is (or will be) dataset `name` (`dept.system.object`)."""
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    parts = name.lower().split(".")
    ds = session.scalar(select(Dataset).where(Dataset.name == name.lower()))
    if ds is not None:
        return session.scalar(select(SourceObjectRecord).where(
            SourceObjectRecord.system_id == ds.system_id, SourceObjectRecord.name == ds.object_name))
    if len(parts) != 3:
        return None
    for system in session.scalars(select(System).join(Department).where(Department.code == parts[0])):
        if sql_identifier(system.name) == parts[1]:
            for obj in system.objects:
                if sql_identifier(obj.name) == parts[2]:
                    return obj
    return None


def set_partitioning(dataset: str, partition_by: list[str], *, by: Principal | None = None) -> list[str]:
    """A steward chooses the partition spec of a dataset's table (empty: unpartitioned). A table not
    created yet gets it at its first sync; an existing one takes it for new data at once (Iceberg
    partition evolution) and `lake maintain` rewrites its older files into it."""
    by = acting(by)
    with session_scope() as s:
        obj = _object_row(s, dataset)
        if obj is None:
            raise NotFoundError(f"no dataset or source object named {dataset!r}",
                                hint="name it department.system.object; discover the system first")
        authorize("lake.partition", by, obj.system.department.code)
        object_id = obj.id
        columns = [str(c.get("name")) for c in obj.columns]
    ident = tuple(dataset.lower().split("."))
    catalog = get_catalog()
    if catalog.table_exists(ident):
        table = catalog.load_table(ident)
        arrow = table.schema().as_arrow()
        import pyarrow as pa

        fields = partitioning.parse(partition_by, pa.schema([pa.field(f.name, _plain(f.type)) for f in arrow]))
        partitioning.apply(table, fields)
    else:
        fields = partitioning.parse(partition_by)
        if missing := [f.column for f in fields if columns and f.column not in columns]:
            raise ValidationError(f"partition column(s) {', '.join(missing)} not in the object",
                                  hint="columns: " + ", ".join(columns[:20]))
    texts = [f.text for f in fields]
    with session_scope() as s:
        row = s.get(SourceObjectRecord, object_id)
        assert row is not None
        row.partition_by = texts
    record(by, "lake.partition", f"dataset:{dataset.lower()}", {"partition_by": texts})
    return texts


def plan_dict(p: maintain.Plan) -> dict[str, object]:
    out = asdict(p)
    out["expire_snapshots"] = len(p.expire_snapshots)
    return out


def _maintain_round() -> object:
    done = maintain_due()
    return f"maintained {len(done)} table(s)" if done else None


# every minute it asks `maintain_due`, which itself waits `lake_maintain_every_hours` per table
MAINTAIN_JOB = Job("lake-maintain", lambda: 60.0 if get_settings().lake_maintain_every_hours > 0 else 0.0,
                   _maintain_round, "compaction, snapshot expiry and orphan removal (`urbanbrain lake maintain`)")
