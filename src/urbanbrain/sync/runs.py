"""Reading sync-run history (the writes happen in `runner`)."""

from __future__ import annotations

from sqlalchemy import select

from urbanbrain.connect.systems import get_system_row
from urbanbrain.core.errors import NotFoundError
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import SyncRun
from urbanbrain.meta.schemas import SyncRunObjectPublic, SyncRunPublic

# A run that landed everything it could and quarantined some rows is a success that says so.
SUCCEEDED_WITH_REJECTS = "succeeded_with_rejects"
SUCCESS_STATUSES = ("succeeded", SUCCEEDED_WITH_REJECTS)


def succeeded(status: str) -> bool:
    return status in SUCCESS_STATUSES


def run_public(run: SyncRun) -> SyncRunPublic:
    return SyncRunPublic(
        id=run.id, system=run.system.name, trigger=run.trigger, status=run.status, attempt=run.attempt,
        started_at=run.started_at, finished_at=run.finished_at, rows_read=run.rows_read,
        rows_written=run.rows_written, rows_rejected=run.rows_rejected, bytes_written=run.bytes_written,
        error=run.error, error_transient=run.error_transient,
        objects=[SyncRunObjectPublic.model_validate(o) for o in run.objects],
    )


def get_run(run_id: str) -> SyncRunPublic:
    with session_scope() as s:
        run = s.get(SyncRun, run_id)
        if run is None:
            raise NotFoundError(f"no sync run {run_id!r}", hint="list runs with `urbanbrain runs list`")
        return run_public(run)


def list_runs(system: str | None = None, status: str | None = None, limit: int = 50) -> list[SyncRunPublic]:
    with session_scope() as s:
        query = select(SyncRun).order_by(SyncRun.started_at.desc(), SyncRun.id.desc()).limit(limit)
        if system:
            query = query.where(SyncRun.system_id == get_system_row(s, system).id)
        if status:
            query = query.where(SyncRun.status == status)
        return [run_public(r) for r in s.scalars(query)]
