"""Syncs started from the console ("sync now"): a small bounded thread pool owned by the app.

A sync can take minutes, so the request that starts one only submits it here and returns at once; the
system's row then polls until the job is done. The pool is bounded (two workers by default) so a row of
impatient clicks cannot start forty syncs on a two-core machine; a second click on a system whose job is
still queued or running returns that job instead of queueing another. The sync itself — locking,
recording the run, health — is `sync_system`'s business, exactly as for the API, CLI and scheduler.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from urbanbrain.core.clock import utcnow
from urbanbrain.core.errors import UrbanBrainError
from urbanbrain.govern.principals import SYSTEM, Principal
from urbanbrain.meta.schemas import SyncRunPublic
from urbanbrain.sync.service import sync_system

CONSOLE_SYNC_WORKERS = 2


@dataclass
class SyncJob:
    system: str
    future: Future[SyncRunPublic]
    submitted_at: datetime = field(default_factory=utcnow)

    @property
    def state(self) -> str:
        """queued, running or done."""
        if self.future.done():
            return "done"
        return "running" if self.future.running() else "queued"

    @property
    def active(self) -> bool:
        return not self.future.done()

    @property
    def run(self) -> SyncRunPublic | None:
        if not self.future.done() or self.future.exception() is not None:
            return None
        return self.future.result()

    @property
    def error(self) -> str | None:
        """Why the sync did not even start (lock held elsewhere, system removed); run failures are on `run`."""
        if not self.future.done():
            return None
        exc = self.future.exception()
        if exc is None:
            return None
        return exc.message if isinstance(exc, UrbanBrainError) else f"{type(exc).__name__}: {exc}"


class SyncJobs:
    """The app's sync-now pool; the latest job per system is remembered for its row to show."""

    def __init__(self, workers: int = CONSOLE_SYNC_WORKERS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="console-sync")
        self._jobs: dict[str, SyncJob] = {}
        self._lock = threading.Lock()

    def start(self, system: str, *, by: Principal = SYSTEM) -> SyncJob:
        with self._lock:
            job = self._jobs.get(system)
            if job is not None and job.active:
                return job
            job = SyncJob(system, self._pool.submit(sync_system, system, by=by, trigger="console"))
            self._jobs[system] = job
            return job

    def get(self, system: str) -> SyncJob | None:
        with self._lock:
            return self._jobs.get(system)

    def snapshot(self) -> dict[str, SyncJob]:
        with self._lock:
            return dict(self._jobs)

    def shutdown(self) -> None:
        """Stop taking jobs; queued ones are dropped, running ones finish (a sync is never cut mid-commit)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
