"""Group commit of intake on SQLite: reports arriving together share one transaction, one audit append, one fsync.

SQLite has one writer, and with `synchronous=full` each commit waits for an fsync (4-9 ms here), far
more than the pipeline's own work (~2 ms). Eight clients posting at once used to queue for eight
fsyncs in turn; now the intake writer (below) takes every report waiting at that moment (at most
`MAX_BATCH`) and commits them in one transaction: each report in its own savepoint, so a report that
fails (an unknown department, a refused permission) is rolled back alone and the others go on; the
audit entries of the whole group are chained with one lock of the chain's head, inside that
transaction; one commit. Each caller then gets its own answer or its own error, and
only after the commit returned: a case is never reported created before it is durable.

When the group's transaction fails as a whole (the database locked past its busy timeout by another
process, a full disk), nothing of it was written, and every report of the group is retried alone, so
each caller gets the answer or the error of its own transaction. A report whose savepoint hit a
uniqueness race with another process (the same channel id) is retried alone after the group: the
idempotency look-up then finds the first case.

One thread of this process, the intake writer, takes and commits the groups; callers hand it their
report and wait (`submit`) or await (`submit_async`, the Open311 front). Why one thread rather than the
caller's: with the GIL only one thread runs Python at a time anyway, and eight callers' threads taking
turns at a lock cost more CPU in switches than the work they queued for (bench/cases: 2.9-3.1 ms a
report at 8 clients against 2.3-2.8 at one). An async caller's whole report (key check, form, location)
is worked out by the writer too, so the event loop hands the request over once and is woken once.

A single caller pays nothing for grouping: with nobody waiting, the writer's group is its own report.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError

from urbanbrain.govern import audit
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import driver_cursor, session_scope
from urbanbrain.operate.cases import Report

MAX_BATCH = 64
log = logging.getLogger("urbanbrain.operate.intake")

Prepare = Callable[[], tuple[Report, Principal]]
"""An async caller's report worked out in the writer (key check, form, validation, location)."""
Answer = tuple[dict[str, Any], bool]


class _Job:
    """One caller's report and, once its group committed, its answer or its error."""

    __slots__ = ("authorise", "by", "context", "error", "finished", "notify", "now", "prepare", "report",
                 "result", "retry")

    def __init__(self, report: Report | None, by: Principal | None, authorise: bool, now: datetime | None,
                 notify: Callable[[], object], prepare: Prepare | None = None) -> None:
        self.report, self.by, self.authorise, self.now = report, by, authorise, now
        self.notify, self.prepare = notify, prepare
        self.context = contextvars.copy_context()  # the caller's context (its actor), for its own work
        self.result: Answer | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.retry = False

    def answer(self) -> Answer:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


_QUEUE: deque[_Job] = deque()
_QUEUE_LOCK = threading.Lock()
_WORK = threading.Condition(_QUEUE_LOCK)  # the writer sleeps on it while the queue is empty
_WRITER = threading.Lock()  # held by the writer while it takes and commits a group (tests hold it to queue reports)
_THREAD: list[threading.Thread] = []


def submit(report: Report, by: Principal, *, authorise: bool = True, now: datetime | None = None) -> Answer:
    """Create the case of an already validated and located report, committed with whatever else is waiting.

    Waiting for the writer costs the time of the group ahead; waiting in SQLite's busy handler instead
    sleeps in growing steps (p99 1.5 s with 8 concurrent Open311 POSTs), and a transaction that read before
    another committed could not write at all (SQLITE_BUSY_SNAPSHOT). Never call it holding a write
    transaction of the metadata store: the writer would wait for it."""
    done = threading.Event()
    job = _Job(report, by, authorise, now, done.set)
    if _THREAD and threading.current_thread() is _THREAD[0]:
        # from the writer's own work (an async caller's `prepare` filing a report): waiting for the writer
        # would wait for itself, and every later report of the process behind it; committed here, alone
        _commit_group([job])
        return job.answer()
    _enqueue(job)
    done.wait()
    return job.answer()


async def submit_async(prepare: Prepare, *, authorise: bool = True) -> Answer:
    """`submit` for the event loop: `prepare` (run by the writer, in the caller's context) gives the report
    and who sends it; the loop is woken once, when the answer is there. A caller that goes away does not
    undo its report: the case is created, and sending it again with its id finds it."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()

    def settle() -> None:
        if not future.done():
            future.set_result(None)

    job = _Job(None, None, authorise, None, lambda: loop.call_soon_threadsafe(settle), prepare)
    _enqueue(job)
    await future
    return job.answer()


def _enqueue(job: _Job) -> None:
    with _WORK:
        _QUEUE.append(job)
        if not _THREAD or not _THREAD[0].is_alive():
            _THREAD[:] = [threading.Thread(target=_write, name="ub-intake-writer", daemon=True)]
            _THREAD[0].start()
        _WORK.notify()


def _write() -> None:
    """The writer: take what is waiting (at most `MAX_BATCH`), work out the async callers' reports, commit
    the group, answer everyone; sleep while nothing waits."""
    while True:
        with _WORK:
            while not _QUEUE:
                _WORK.wait()
        group: list[_Job] = []
        try:
            with _WRITER:
                with _QUEUE_LOCK:
                    group = [_QUEUE.popleft() for _ in range(min(MAX_BATCH, len(_QUEUE)))]
                _commit_group([job for job in group if _prepared(job)])
        except BaseException:  # never leave the writer dead with callers waiting: their jobs end in error below
            log.exception("the intake writer failed on a group of %d reports", len(group))
        finally:
            for job in group:
                if not job.finished:
                    job.error = job.error or RuntimeError("the intake writer failed; send the report again")
                    job.finished = True
                with contextlib.suppress(RuntimeError):  # an async caller whose loop is closed: nobody waits
                    job.notify()


def _prepared(job: _Job) -> bool:
    """Run an async caller's `prepare`; a failure (a bad key, a malformed form) is its answer, alone."""
    if job.prepare is None:
        return True
    try:
        job.report, job.by = job.context.run(job.prepare)
    except BaseException as exc:
        job.error, job.finished = _own_error(exc), True
        return False
    return True


def _own_error(exc: BaseException) -> BaseException:
    """A report's failure as its caller's answer. A `SystemExit` or other BaseException raised by one
    report's work (a plugin giving up) fails that report only, as a `RuntimeError`: re-raised as it is in
    an Open311 caller's event loop it would stop the server, and in the writer it would end the thread."""
    if isinstance(exc, Exception):
        return exc
    error = RuntimeError(f"the report's processing stopped with {exc!r}; send the report again")
    error.__cause__ = exc
    return error


def _after_fork() -> None:
    """A forked child has no writer thread and may have copied a lock held by it: start afresh."""
    global _QUEUE_LOCK, _WORK, _WRITER
    _QUEUE.clear()
    _QUEUE_LOCK = threading.Lock()
    _WORK = threading.Condition(_QUEUE_LOCK)
    _WRITER = threading.Lock()
    _THREAD.clear()


os.register_at_fork(after_in_child=_after_fork)


# A no-op write to the chain's head, first: pysqlite opens the transaction (BEGIN) before it, so the
# savepoints nest inside one transaction (a SAVEPOINT opening it would commit on its RELEASE), and the
# database's write lock is held before anything is read.
_TAKE_WRITE_LOCK = f"UPDATE audit_head SET seq = seq WHERE id = {audit.HEAD_ID}"


def _commit_group(group: list[_Job]) -> None:
    """Commit `group` in one transaction; every job ends finished, with its result or its error (even when
    the commit is interrupted: a caller never waits for a group nobody is committing any more)."""
    if not group:  # every report of it failed before its transaction (a bad key, a malformed form)
        return
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
    done: list[tuple[_Job, Answer]] = []
    try:
        with session_scope() as s:
            lock = driver_cursor(s.connection())  # the driver's cursor, not Core's execution path
            assert lock is not None  # group commit is SQLite's
            lock.execute(_TAKE_WRITE_LOCK)
            entries: list[Any] = []
            for job in group:
                mine: list[Any] = []
                try:
                    with nullcontext() if alone else s.begin_nested():
                        assert job.report is not None and job.by is not None
                        result = job.context.run(write_in, s, job.report, job.by, authorise=job.authorise,
                                                 now=job.now, audit_into=mine)
                except IntegrityError:
                    if alone:
                        raise
                    job.retry = True
                    continue
                except DBAPIError:
                    raise  # the store itself failed: the whole group is retried report by report
                except BaseException as exc:  # this report's own failure: its savepoint is gone, the group goes on
                    if alone:
                        raise
                    job.error = _own_error(exc)
                    continue
                entries.extend(mine)
                done.append((job, result))
            audit.record_all(entries, session=s, locked=True)  # one append, one lock of the head, for the whole group
    except BaseException as exc:
        if len(group) == 1:
            job = group[0]
            job.result, job.error, job.finished = None, _own_error(exc), True
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

