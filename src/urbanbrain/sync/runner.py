"""`run_sync`: the one place a sync happens (CLI, API, worker and demo all call it).

Per object: read batches from the source beyond the table's committed cursor, conform them to the
lake table (quarantining what won't convert), write data files as they come, and commit data + new
cursor in one Iceberg commit. One object failing (schema change, missing table) does not stop the
others; a system-level failure (unreachable, bad password) stops the run and is classified transient
or terminal for the scheduler.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import pyarrow as pa
from sqlalchemy import select

from urbanbrain.connect.base import ReadRequest, Reject, Source, SourceObject
from urbanbrain.connect.systems import discover_system, get_system_row, named, opened_source, scrub
from urbanbrain.core.clock import utcnow
from urbanbrain.core.errors import (
    AuthenticationError,
    NotFoundError,
    SourceUnreachableError,
    SyncError,
    TransientError,
    UrbanBrainError,
    ValidationError,
)
from urbanbrain.core.naming import sql_identifier
from urbanbrain.core.settings import get_settings
from urbanbrain.lake import partitioning
from urbanbrain.lake.catalog import Identifier
from urbanbrain.lake.types import lake_schema
from urbanbrain.lake.writer import CURSOR_PROPERTY, TableWriter, equals
from urbanbrain.meta.dataset_rows import record_dataset
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import SourceObjectRecord, SyncRun, SyncRunObject, System
from urbanbrain.meta.schemas import SyncRunObjectPublic, SyncRunPublic
from urbanbrain.sync import cursors, locks, split
from urbanbrain.sync.convert import QUARANTINE_SCHEMA, conform, rejects_table
from urbanbrain.sync.prefetch import prefetch
from urbanbrain.sync.progress import NoProgress, SyncProgress
from urbanbrain.sync.runs import SUCCEEDED_WITH_REJECTS, get_run, succeeded

log = logging.getLogger("urbanbrain.sync")
REJECT_FLUSH = 10_000
SYSTEM_LEVEL = (SourceUnreachableError, AuthenticationError, TransientError)


@dataclass
class ObjectPlan:
    record_name: str
    cursor_column: str | None
    primary_key: list[str]
    discovered: SourceObject | None
    partition_by: list[str] | None = None  # the steward's spec; None: chosen from size at creation
    row_estimate: int | None = None


def identifier_for(dept_code: str, system_name: str, object_name: str) -> Identifier:
    return (sql_identifier(dept_code), sql_identifier(system_name), sql_identifier(object_name))


def _start_run(system_name: str, trigger: str, attempt: int) -> tuple[str, str, str]:
    with session_scope() as s:
        system = get_system_row(s, system_name)
        run = SyncRun(system_id=system.id, trigger=trigger, attempt=attempt, status="running")
        s.add(run)
        s.flush()
        return run.id, system.id, system.department.code


def _plans(system_name: str, source: Source, only: list[str] | None) -> list[ObjectPlan]:
    with session_scope() as s:
        system = get_system_row(s, system_name)
        known = bool(system.objects)
    if not known:
        discover_system(system_name)
    discovered = {o.name: o for o in source.discover()}
    with session_scope() as s:
        system = get_system_row(s, system_name)
        records = [o for o in system.objects if o.enabled]
        plans = [ObjectPlan(o.name, o.cursor_column, list(o.primary_key), discovered.get(o.name),
                            None if o.partition_by is None else list(o.partition_by), o.row_estimate)
                 for o in records]
    if only:
        missing = sorted(set(only) - {p.record_name for p in plans})
        if missing:
            raise NotFoundError(f"system {system_name!r} has no enabled object(s) {', '.join(missing)}",
                                hint="run `urbanbrain system discover` to refresh the object list")
        plans = [p for p in plans if p.record_name in only]
    return plans


def run_sync(
    system_name: str,
    *,
    objects: list[str] | None = None,
    trigger: str = "manual",
    full_refresh: bool = False,
    progress: SyncProgress | None = None,
    attempt: int = 1,
) -> SyncRunPublic:
    """Sync a system's enabled objects into the lake and return the finished run.

    Failures are recorded on the run (status `failed`/`partial`, `error`), never raised, except a
    lock held by another live sync (`SyncInProgressError`) and an unknown system (`NotFoundError`).
    """
    progress = progress or NoProgress()
    with session_scope() as s:
        system = get_system_row(s, system_name)
        system_id = system.id
        known = {o.name for o in system.objects if o.enabled}
    if objects and known and (missing := sorted(set(objects) - known)):
        raise NotFoundError(f"system {system_name!r} has no enabled object(s) {', '.join(missing)}",
                            hint="run `urbanbrain system discover` to refresh the object list")
    locks.acquire(system_id, system_name)
    run_id, system_id, dept_code = _start_run(system_name, trigger, attempt)
    error: UrbanBrainError | None = None
    outcomes: list[SyncRunObject] = []
    try:
        with opened_source(system_name) as source:
            plans = _plans(system_name, source, objects)
            for plan in plans:
                outcome, failure = _sync_object(source, plan, system_name, system_id, dept_code, run_id,
                                                full_refresh, progress)
                outcomes.append(outcome)
                if isinstance(failure, SYSTEM_LEVEL):
                    error = failure  # the system itself is down: the other objects would fail too
                    break
    except UrbanBrainError as exc:
        error = named(scrub(system_name, exc), system_name)
    except Exception as exc:  # a bug or an unmapped driver error: record it as failed, never as success
        log.exception("sync of %s crashed", system_name)
        error = scrub(system_name, SyncError(f"sync of {system_name!r} crashed: {type(exc).__name__}: {exc}",
                                             hint="this is a bug; please report it with the log"))
    finally:
        _finish(run_id, system_id, outcomes, error)
        locks.release(system_id)
    return get_run(run_id)


def _finish(run_id: str, system_id: str, outcomes: list[SyncRunObject], error: UrbanBrainError | None) -> None:
    now = utcnow()
    with session_scope() as s:
        run = s.get(SyncRun, run_id)
        system = s.get(System, system_id)
        assert run is not None and system is not None
        for o in outcomes:
            o.run_id = run_id
            s.merge(o)
        run.rows_read = sum(o.rows_read for o in outcomes)
        run.rows_written = sum(o.rows_written for o in outcomes)
        run.rows_rejected = sum(o.rows_rejected for o in outcomes)
        run.bytes_written = sum(o.bytes_written for o in outcomes)
        failed = [o for o in outcomes if o.status == "failed"]
        if error is not None:
            run.status = "failed"
            run.error = str(error)
            run.error_transient = error.transient
        elif failed:
            run.status = "partial" if len(failed) < len(outcomes) else "failed"
            run.error = "; ".join(f"{o.object_name}: {o.error}" for o in failed)
            run.error_transient = False
        elif run.rows_rejected:
            run.status = SUCCEEDED_WITH_REJECTS  # everything landed except the rows in quarantine
        else:
            run.status = "succeeded"
        run.finished_at = now
        system.last_sync_at = now
        system.health_checked_at = now
        if succeeded(run.status):
            system.health, system.health_reason = "healthy", None
        elif error is not None:
            system.health, system.health_reason = "unhealthy", str(error)
        else:
            system.health, system.health_reason = "degraded", run.error


def _sync_object(source: Source, plan: ObjectPlan, system_name: str, system_id: str, dept_code: str,
                 run_id: str, full_refresh: bool, progress: SyncProgress
                 ) -> tuple[SyncRunObject, UrbanBrainError | None]:
    ident = identifier_for(dept_code, system_name, plan.record_name)
    outcome = SyncRunObject(object_name=plan.record_name, dataset_name=".".join(ident), status="running",
                            mode="full", rows_read=0, rows_written=0, rows_rejected=0, bytes_written=0)
    progress.object_started(plan.record_name, plan.discovered.row_estimate if plan.discovered else None)
    failure: UrbanBrainError | None = None
    try:
        _copy_object(source, plan, ident, system_name, system_id, run_id, full_refresh, progress, outcome)
        outcome.status = "succeeded"
    except UrbanBrainError as exc:
        failure = named(scrub(system_name, exc), system_name)
        failure.context.setdefault("object", plan.record_name)
        outcome.status = "failed"
        outcome.error = str(failure)
        outcome.rows_written = outcome.bytes_written = 0  # nothing of this object was committed
    progress.object_finished(plan.record_name, SyncRunObjectPublic.model_validate(
        {c: getattr(outcome, c) for c in SyncRunObjectPublic.model_fields}))
    return outcome, failure


def _copy_object(source: Source, plan: ObjectPlan, ident: Identifier, system_name: str, system_id: str,
                 run_id: str, full_refresh: bool, progress: SyncProgress, outcome: SyncRunObject) -> None:
    settings = get_settings()
    lineage = {"_ub_system": system_name, "_ub_run_id": run_id, "_ub_synced_at": utcnow()}
    from urbanbrain.lake.catalog import get_catalog

    stored_raw = None
    if get_catalog().table_exists(ident):
        stored_raw = get_catalog().load_table(ident).properties.get(CURSOR_PROPERTY)
    in_place = getattr(source, "in_place_file", None)
    refused = None
    if in_place is not None and (path := in_place(plan.record_name)) is not None:
        from urbanbrain.sync import inplace

        rows, refused = inplace.register(ident, path)
        if rows is not None:
            outcome.mode = "in_place"
            _register_in_place(ident, system_id, plan, rows, run_id)
            return
    stored = None if full_refresh else cursors.parse(stored_raw, plan.cursor_column)
    if plan.cursor_column:
        _check_cursor_guarantee(source, plan)
    cursor = stored.as_cursor() if stored else None
    mode = "replace" if cursor is None else "merge" if plan.primary_key else "append"
    outcome.mode = mode
    # `>=` plus the remembered rows at the stored value: nothing lost, nothing doubled at a tie
    inclusive = stored is not None and (bool(plan.primary_key) or not stored.legacy)
    request = ReadRequest(object=plan.record_name, cursor_column=plan.cursor_column, cursor=cursor,
                          inclusive=inclusive, batch_rows=settings.batch_rows)
    parts = None
    if plan.discovered is not None:  # a large object: key ranges read at once (sync/split.py)
        parts = split.plan(source, request, split.split_column(plan.discovered.schema(), plan.cursor_column,
                                                               plan.primary_key),
                           plan.discovered.row_estimate or plan.row_estimate)
    batches = prefetch(iter(source.read(request))) if parts is None else iter(())
    first = next(batches, None)
    if first is not None and first.data is not None:
        source_schema = first.data.schema
    elif plan.discovered is not None:
        source_schema = plan.discovered.schema()
    else:
        source_schema = pa.schema([])
    # types inferred from values (files, APIs) widen when later values need it; declared ones stop
    evolve = plan.discovered is not None and plan.discovered.kind in ("file", "endpoint")
    schema = lake_schema(source_schema)
    estimate = (plan.discovered.row_estimate if plan.discovered else None) or plan.row_estimate
    partition_by = plan.partition_by if plan.partition_by is not None else \
        partitioning.choose(schema, estimate, plan.cursor_column)
    writer = TableWriter(ident, schema, mode=mode, primary_key=plan.primary_key, evolve=evolve,
                         partition_by=partition_by, sort_by=partitioning.sort_column(schema, plan.cursor_column))
    target = writer.open()
    _register_dataset(ident, system_id, plan, writer, None, None, run_id, "data")  # findable even if killed
    ties = None
    if plan.cursor_column and plan.cursor_column in target.names:
        ties = cursors.TieTracker(plan.cursor_column, stored if inclusive else None,
                                  target.field(plan.cursor_column).type, strict=not plan.primary_key)
    cursor_from = cursor.value if cursor else ""
    q_writer = TableWriter((*ident[:-1], ident[-1] + "__quarantine"),
                           pa.schema(list(QUARANTINE_SCHEMA) + list(lake_schema(pa.schema([])))),
                           mode="replace" if mode == "replace" else "replace_where",
                           replace_filter=equals("_ub_cursor_from", cursor_from))
    q_target: pa.Schema | None = None
    pending: list[Reject] = []
    last_refresh = time.monotonic()

    def flush() -> None:
        nonlocal q_target
        if q_target is None:
            q_target = q_writer.open()
        if pending:
            q_writer.write(rejects_table(pending, cursor_from, q_target, lineage))
            pending.clear()

    def handle(batch_data: pa.RecordBatch | None, rejects: list[Reject]) -> None:
        nonlocal last_refresh
        outcome.rows_read += len(rejects)
        pending.extend(rejects)
        outcome.rows_rejected += len(rejects)
        if batch_data is not None and batch_data.num_rows:
            table, bad = conform(batch_data, target, lineage)
            seen = table.num_rows
            if ties is not None:
                table = ties.filter(table)  # rows at the stored cursor value that landed before
                ties.observe(table)
            outcome.rows_read += batch_data.num_rows - (seen - table.num_rows)
            pending.extend(bad)
            outcome.rows_rejected += len(bad)
            outcome.bytes_written += writer.write(table)
            outcome.rows_written += table.num_rows
            progress.object_advanced(plan.record_name, batch_data.num_rows + len(rejects))
        if len(pending) >= REJECT_FLUSH:
            flush()
        if time.monotonic() - last_refresh > 60:
            locks.refresh(system_id)
            last_refresh = time.monotonic()

    if first is not None:
        handle(first.data, first.rejects)
    for batch in batches:
        handle(batch.data, batch.rejects)
    if parts is not None:
        split.run_into(parts, split.PartJob(
            system_name, request, ident, target, lineage, list(plan.primary_key), mode == "merge",
            writer.sort_column, ties.column if ties is not None else None, stored if inclusive else None,
            not plan.primary_key), writer, ties, system_id, outcome, pending)
        progress.object_advanced(plan.record_name, outcome.rows_read)

    if pending or get_catalog().table_exists(q_writer.identifier):
        flush()  # replace mode empties an old quarantine; replace_where clears this cursor's rejects
    properties: dict[str, str] = {}
    new_cursor = ties.result() if ties is not None else None
    if new_cursor is not None:
        properties[CURSOR_PROPERTY] = cursors.dumps(new_cursor)
    elif stored is None and stored_raw:
        properties[CURSOR_PROPERTY] = ""
    if refused:
        from urbanbrain.sync.inplace import REFUSED_PROPERTY

        properties[REFUSED_PROPERTY] = refused
    summary = {"urbanbrain.run-id": run_id}
    q_result = None
    if q_target is not None:
        q_result = q_writer.commit(summary=summary)  # quarantine first: re-runs replace it, never double it
    result = writer.commit(properties=properties or None, summary=summary)
    outcome.bytes_written += q_result.bytes_written if q_result else 0
    _register_dataset(ident, system_id, plan, writer, result.total_rows, result.snapshot_id, run_id, "data")
    _propose_pii(".".join(ident))
    if q_result is not None:
        _register_dataset(q_writer.identifier, system_id, plan, q_writer, q_result.total_rows,
                          q_result.snapshot_id, run_id, "quarantine")


def _check_cursor_guarantee(source: Source, plan: ObjectPlan) -> None:
    """A connector that cannot read `>=` its cursor (an API filtering strictly after it) would lose
    rows at a tie: refuse the cursor instead of syncing with a silent gap."""
    check = getattr(source, "cursor_problem", None)
    reason = check(plan.record_name, plan.cursor_column) if check is not None else None
    if reason:
        raise ValidationError(f"cursor {plan.cursor_column!r} cannot be used for {plan.record_name!r}: {reason}",
                              hint="clear it (`urbanbrain system set-cursor --clear`) to reload the object "
                                   "in full each sync, or fix the endpoint configuration")


def _propose_pii(name: str) -> None:
    """Sample new columns for PII proposals. A failure here never fails the sync: unclassified
    columns keep the dataset's default level (conditional unless a steward chose otherwise)."""
    from urbanbrain.govern.classification import propose_new_columns

    try:
        propose_new_columns(name)
    except Exception:
        log.warning("PII proposals for %s failed; its new columns keep the default level", name, exc_info=True)


def _register_dataset(ident: Identifier, system_id: str, plan: ObjectPlan, writer: TableWriter, rows: int | None,
                      snapshot_id: int | None, run_id: str, role: str) -> None:
    """Record the dataset row. Called once as soon as the table exists (`rows` None: a sync killed
    between its Iceberg commit and its bookkeeping still leaves a table `sql` can find) and again
    after the commit with the counts."""
    with session_scope() as s:
        record_dataset(s, ".".join(ident), system_id=system_id, object_name=plan.record_name,
                       fields=writer.target_schema, primary_key=list(plan.primary_key) if role == "data" else [],
                       role=role, rows=rows, snapshot_id=snapshot_id, run_id=run_id)


def _register_in_place(ident: Identifier, system_id: str, plan: ObjectPlan, rows: int, run_id: str) -> None:
    from urbanbrain.lake.catalog import get_catalog

    table = get_catalog().load_table(ident)
    writer = TableWriter(ident, pa.schema([]))
    writer._table = table
    snap = table.current_snapshot()
    _register_dataset(ident, system_id, plan, writer, rows, snap.snapshot_id if snap else None, run_id, "data")
    _propose_pii(".".join(ident))


def enabled_objects(system_name: str) -> list[str]:
    with session_scope() as s:
        system = get_system_row(s, system_name)
        return [o.name for o in s.scalars(select(SourceObjectRecord).where(
            SourceObjectRecord.system_id == system.id, SourceObjectRecord.enabled.is_(True)))]
