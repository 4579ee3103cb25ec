"""`urbanbrain worker`: runs due syncs on their schedules, a few at a time, until stopped.

Several workers may share one PostgreSQL metadata store: a due system is claimed by moving its
`next_run_at` forward with a compare-and-set, so exactly one worker starts each scheduled run, and
the run holds the lease `sync:<system>` (`meta/leases.py`) while it goes, so a run still going from an
earlier tick (on any machine) is never started twice; a worker that dies frees it within the lease's
lifetime. Where a run executes is the execution backend's choice (`core/execution.py`,
`URBANBRAIN_ENGINE`): threads of this process, or Ray tasks across a cluster; the lease is held by this
process either way, so a lost Ray node does not lose it (Ray re-runs the task elsewhere).
Transient failures (unreachable host, timeout, commit conflict) are retried with exponential
backoff; terminal ones (bad password, missing table) are not: the system is marked unhealthy.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.core.errors import SyncInProgressError, UrbanBrainError
from urbanbrain.core.execution import Backend, get_backend
from urbanbrain.core.schedule import parse_schedule
from urbanbrain.core.settings import get_settings
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.meta import leases
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import System
from urbanbrain.meta.schemas import SyncRunPublic
from urbanbrain.sync import locks
from urbanbrain.sync.service import sync_system

log = logging.getLogger("urbanbrain.worker")
LOCK_POLL_SECONDS = 5.0
REMOTE_LOCK_WAIT = locks.LOCK_SECONDS + 30.0


def claim_due(now: datetime | None = None, limit: int = 100, *, due_by: datetime | None = None) -> list[str]:
    """Names of systems whose scheduled time has come (by `due_by`, default now), each claimed by this
    worker alone; each next run is scheduled after `now`."""
    now = now or utcnow()
    claimed: list[str] = []
    with session_scope() as s:
        due = s.execute(
            select(System.id, System.name, System.schedule, System.next_run_at)
            .where(System.next_run_at.is_not(None), System.next_run_at <= (due_by or now))
            .order_by(System.next_run_at).limit(limit)
        ).all()
    for system_id, name, schedule, old in due:
        nxt = parse_schedule(schedule).next_after(now)
        with session_scope() as s:
            result = s.execute(update(System).where(System.id == system_id, System.next_run_at == old)
                               .values(next_run_at=nxt))
            if result.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(name)
    return claimed


def _start(name: str, trigger: str, attempt: int, stop: threading.Event, lock_wait: float) -> SyncRunPublic:
    """`sync_system`, waiting up to `lock_wait` seconds for a lock another process holds (see `scheduled_sync`)."""
    deadline = time.monotonic() + lock_wait
    while True:
        try:
            return sync_system(name, by=SYSTEM, trigger=trigger, attempt=attempt)
        except SyncInProgressError:
            if time.monotonic() >= deadline or stop.wait(LOCK_POLL_SECONDS):
                raise


def sync_with_retries(name: str, *, attempts: int | None = None, base_seconds: float | None = None,
                      stop: threading.Event | None = None, trigger: str = "schedule",
                      lock_wait: float = 0.0) -> SyncRunPublic | None:
    """Run one sync; retry transient failures with backoff (base, 2x base, 4x base, ...)."""
    settings = get_settings()
    attempts = settings.retry_attempts if attempts is None else attempts
    base = settings.retry_base_seconds if base_seconds is None else base_seconds
    stop = stop or threading.Event()
    run: SyncRunPublic | None = None
    for attempt in range(1, attempts + 2):
        try:
            run = _start(name, trigger, attempt, stop, lock_wait)
        except SyncInProgressError:
            log.info("skipping %s: another sync holds its lock", name)
            return None
        except UrbanBrainError as exc:
            log.error("sync of %s could not start: %s", name, exc)
            return None
        if run.status != "failed" or not run.error_transient or attempt > attempts:
            break
        delay = base * (2 ** (attempt - 1))
        log.warning("sync of %s failed transiently (%s); retry %d/%d in %.1fs",
                    name, run.error, attempt, attempts, delay)
        if stop.wait(delay):
            break
    if run is not None:
        log.info("sync of %s finished: %s (%d rows written, %d rejected)",
                 name, run.status, run.rows_written, run.rows_rejected)
    return run


def scheduled_sync(name: str, stop: threading.Event | None = None, lock_wait: float = 0.0) -> SyncRunPublic | None:
    """One scheduled run, as a backend runs it (a module-level function: Ray imports it on a node).

    On a remote backend the run waits for the system's lock up to its expiry (`lock_wait`): this worker
    holds the system's lease, so a lock still held is a manual sync finishing, or a run whose node was lost
    (Ray retries it elsewhere; its dead holder on another machine cannot be checked, only outlived)."""
    return sync_with_retries(name, stop=stop, lock_wait=lock_wait)


JOBS_STOP_SECONDS = 60.0


@dataclass
class Running:
    future: Future[SyncRunPublic | None]
    lease: leases.Held


def _finish(name: str, job: Running, backend: Backend) -> None:
    from urbanbrain.core import metrics

    job.lease.__exit__(None, None, None)
    try:
        run = job.future.result()
    except Exception as exc:  # a Ray task that failed on every node it was retried on, say
        log.error("sync of %s did not finish on %s: %s", name, backend.name, exc)
        return
    if run is not None and not backend.local:  # in-process runs were counted where they ran
        metrics.observe_sync(run)


def run_worker(*, concurrency: int | None = None, poll_seconds: float = 5.0, once: bool = False,
               stop: threading.Event | None = None, engine: str | None = None, jobs: bool = True) -> None:
    """Loop: claim due systems, run them on the backend; `once` runs what is due now (as many at a time as
    the backend takes) and returns when none is left. A looping worker also runs the periodic jobs
    (`core/jobs.py`; `jobs=False` leaves them to other workers)."""
    stop = stop or threading.Event()
    # `once`: what was due when it started. A system that comes due again while its run goes on (a short
    # schedule, a slow run) waits for the next worker instead of keeping this one going.
    started = utcnow() if once else None
    backend = get_backend(engine, concurrency=concurrency)
    running: dict[str, Running] = {}
    threads: list[threading.Thread] | None = None
    jobs_stop = threading.Event()  # the jobs stop with the loop, however it ends
    try:
        while not stop.is_set():
            for name in [n for n, job in running.items() if job.future.done()]:
                _finish(name, running.pop(name), backend)
            try:
                locks.sweep_abandoned()
            except Exception:  # bookkeeping only: never stop the worker over it
                log.warning("could not sweep abandoned runs", exc_info=True)
            free = backend.capacity() - len(running)
            if free > 0:
                for name in claim_due(limit=free, due_by=started):
                    if name in running:
                        continue
                    held = leases.hold(f"sync:{name}")
                    if held is None:
                        log.info("skipping %s: another worker is still running it", name)
                        continue
                    held.__enter__()
                    args: tuple[object, ...] = (name, stop) if backend.local else (name, None, REMOTE_LOCK_WAIT)
                    running[name] = Running(backend.submit(scheduled_sync, *args), held)
            if jobs and not once and threads is None:  # SLA sweep, due indicators, case tables, lake upkeep
                from urbanbrain.sync.jobs import start_jobs

                threads = start_jobs(jobs_stop)
            if once:  # what is due now, more of it as runs finish, until nothing is left
                if not running:
                    return
                wait([job.future for job in running.values()], return_when=FIRST_COMPLETED)
                continue
            stop.wait(poll_seconds)
        for name, job in list(running.items()):
            job.future.exception()
            _finish(name, running.pop(name), backend)
    finally:
        jobs_stop.set()
        for thread in threads or []:  # a round in progress finishes and releases its lease (bounded wait)
            thread.join(timeout=JOBS_STOP_SECONDS)
        for job in running.values():
            job.lease.__exit__(None, None, None)
        backend.close()


def next_runs() -> list[tuple[str, datetime | None]]:
    with session_scope() as s:
        return [(n, as_utc(t) if t else None) for n, t in
                s.execute(select(System.name, System.next_run_at).order_by(System.next_run_at)).all()]
