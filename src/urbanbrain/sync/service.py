"""`sync_system`: the sync entry point every caller goes through (API, console, CLI, scheduler, demo).

It checks that the acting principal may sync the system (`sync.run`, in the department owning it),
runs `runner.run_sync`, and puts the finished run in the audit chain with who started it. The
scheduler acts as SYSTEM; a console "sync now" runs in a pool thread, so the principal is passed in
rather than read from the request's context.
"""

from __future__ import annotations

from urbanbrain.connect.systems import authorize_on_system
from urbanbrain.core import metrics
from urbanbrain.govern.authz import acting, authorize, record
from urbanbrain.govern.principals import Principal
from urbanbrain.lake import datasets
from urbanbrain.meta.schemas import SyncRunPublic
from urbanbrain.sync.progress import SyncProgress
from urbanbrain.sync.runner import run_sync


def sync_system(name: str, *, by: Principal | None = None, objects: list[str] | None = None,
                trigger: str = "manual", full_refresh: bool = False, progress: SyncProgress | None = None,
                attempt: int = 1) -> SyncRunPublic:
    """Sync system `name` now as `by`; the run (failed or not) is returned and audited."""
    from urbanbrain.govern.audit import acting_as

    by = authorize_on_system("sync.run", name, by)
    with acting_as(by):  # what the sync does on the way (discovery) is done, and audited, as `by` too
        run = run_sync(name, objects=objects, trigger=trigger, full_refresh=full_refresh, progress=progress,
                       attempt=attempt)
    metrics.observe_sync(run)
    record(by, "sync.run", f"system:{name}", {"run": run.id, "trigger": trigger, "status": run.status,
                                              "rows_written": run.rows_written, "rows_rejected": run.rows_rejected,
                                              "full_refresh": full_refresh})
    return run


def drop_dataset(name: str, *, by: Principal | None = None) -> None:
    """Drop a lake table and its record (e.g. to re-ingest after an incompatible schema change); the
    owning department's admin decides (`dataset.drop`)."""
    by = acting(by)
    authorize("dataset.drop", by, datasets.dataset_owner(name))
    table = datasets.drop_dataset(name)
    record(by, "dataset.drop", f"dataset:{name}", {"table": table})
