"""Group commit of intake on SQLite: reports arriving together share one transaction, one audit append, one fsync.

SQLite has one writer, and with `synchronous=full` each commit waits for an fsync (4-9 ms here), far
more than the pipeline's own work (~2 ms). Eight clients posting at once used to queue for eight
fsyncs in turn; now the first caller to reach the writer lock (the leader) takes every report waiting
at that moment (at most `MAX_BATCH`) and commits them in one transaction: each report in its own
savepoint, so a report that fails (an unknown department, a refused permission) is rolled back alone
and the others go on; the audit entries of the whole group are chained with one lock of the chain's
head, inside that transaction; one commit. Each caller then gets its own answer or its own error, and
only after the commit returned: a case is never reported created before it is durable.

When the group's transaction fails as a whole (the database locked past its busy timeout by another
process, a full disk), nothing of it was written, and every report of the group is retried alone, so
each caller gets the answer or the error of its own transaction. A report whose savepoint hit a
uniqueness race with another process (the same channel id) is retried alone after the group: the
idempotency look-up then finds the first case.

A single caller pays nothing for this: with nobody waiting, the leader's group is its own report.
"""

from __future__ import annotations

import threading
from collections import deque
from contextlib import nullcontext
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from urbanbrain.govern import audit
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import session_scope
from urbanbrain.operate.cases import Report

MAX_BATCH = 64


class _Job:
    """One caller's report and, once its group committed, its answer or its error."""

    __slots__ = ("authorise", "by", "error", "finished", "now", "report", "result", "retry")

    def __init__(self, report: Report, by: Principal, authorise: bool, now: datetime | None) -> None:
        self.report, self.by, self.authorise, self.now = report, by, authorise, now
        self.result: tuple[dict[str, Any], bool] | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.retry = False


_QUEUE: deque[_Job] = deque()
_QUEUE_LOCK = threading.Lock()
_WRITER = threading.Lock()  # one intake transaction at a time in this process: SQLite has one writer anyway


def submit(report: Report, by: Principal, *, authorise: bool = True, now: datetime | None = None
           ) -> tuple[dict[str, Any], bool]:
    """Create the case of an already validated and located report, committed with whatever else is waiting.

    Waiting on `_WRITER` costs the time of the group ahead; waiting in SQLite's busy handler instead sleeps
    in growing steps (p99 1.5 s with 8 concurrent Open311 POSTs), and a transaction that read before
    another committed could not write at all (SQLITE_BUSY_SNAPSHOT)."""
    job = _Job(report, by, authorise, now)
    with _QUEUE_LOCK:
        _QUEUE.append(job)
    with _WRITER:
        while not job.finished:  # not answered by the leader before us: lead the next group (ours is in it)
            with _QUEUE_LOCK:
                group = [_QUEUE.popleft() for _ in range(min(MAX_BATCH, len(_QUEUE)))]
            _commit_group(group)
    if job.error is not None:
        raise job.error
    assert job.result is not None
    return job.result


@lru_cache(maxsize=1)
def _take_write_lock() -> TextClause:
    """A no-op write to the chain's head, first: pysqlite opens the transaction (BEGIN) before it, so the
    savepoints nest inside one transaction (a SAVEPOINT opening it would commit on its RELEASE), and the
    database's write lock is held before anything is read."""
    return text(f"UPDATE audit_head SET seq = seq WHERE id = {audit.HEAD_ID}")


def _commit_group(group: list[_Job]) -> None:
    """Commit `group` in one transaction; every job ends finished, with its result or its error (even when
    the leader is interrupted: a caller never waits for a group nobody is committing any more)."""
    try:
        _commit(group)
    finally:
        for job in group:
            if not job.finished:
                job.error = job.error or RuntimeError("the intake commit was interrupted; send the report again")
                job.finished = True


def _commit(group: list[_Job]) -> None:
    from urbanbrain.operate.intake.base import write_in

    alone = len(group) == 1  # no savepoint: its failure is the transaction's, as before group commit
    done: list[tuple[_Job, tuple[dict[str, Any], bool]]] = []
    try:
        with session_scope() as s:
            s.connection().execute(_take_write_lock())  # Core, not the ORM's execution path (~0.1 ms)
            entries: list[Any] = []
            for job in group:
                mine: list[Any] = []
                try:
                    with nullcontext() if alone else s.begin_nested():
                        result = write_in(s, job.report, job.by, authorise=job.authorise, now=job.now,
                                          audit_into=mine)
                except IntegrityError:
                    if alone:
                        raise
                    job.retry = True
                    continue
                except DBAPIError:
                    raise  # the store itself failed: the whole group is retried report by report
                except Exception as exc:  # this report's own failure: its savepoint is gone, the group goes on
                    if alone:
                        raise
                    job.error = exc
                    continue
                entries.extend(mine)
                done.append((job, result))
            audit.record_all(entries, session=s, locked=True)  # one append, one lock of the head, for the whole group
    except Exception as exc:
        if len(group) == 1:
            job = group[0]
            job.result, job.error, job.finished = None, exc, True
            return
        for job in group:  # nothing of the group was written: each report alone, its own answer
            job.error = job.result = None
            job.retry = False
            _commit_group([job])
        return
    for job, result in done:
        job.result, job.finished = result, True
    for job in group:
        if job.retry:  # a uniqueness race with another process: alone, the look-up finds the first case
            job.retry = False
            _commit_group([job])
        job.finished = True

