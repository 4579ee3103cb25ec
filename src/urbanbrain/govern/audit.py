"""The audit log: append-only and hash-chained, so an edited, deleted or reordered entry is detected.

Every audited action calls `record(...)` (reads of data call `record_read(...)`). Each entry gets the next
sequence number and `hash = sha256(seq, time, principal, action, target, detail, previous hash)`;
`verify()` walks the chain and names the first entry that does not fit. The chain's head (last seq and
hash) lives in one row that every appender locks first — `UPDATE` then `SELECT ... FOR UPDATE` on
PostgreSQL, and on SQLite the `UPDATE` takes the database's write lock before anything is read — so
concurrent appenders from threads or processes queue up and the chain stays linear.

Two ways in, one chain:
- `record(..., session=s)` appends inside the caller's transaction: the change and its audit entry
  commit together or not at all (users, keys, grants). Without a session it commits on its own.
- `record(..., buffered=True)` queues the entry for a background thread that appends the queue, in
  order, in one transaction every 0.2 s (capability calls, data reads): one lock and one commit per
  batch rather than per call keeps the gateway fast, and small batches keep each GIL-holding flush
  short (see `urbanbrain.capability.metering`). A crash loses at most the last 0.2 s of queued
  entries; a clean stop (app shutdown, interpreter exit) flushes them.

What the chain proves: that nobody changed the log without also recomputing every later hash and the
head. Someone with write access to the database can do that, so `urbanbrain audit verify` prints the
head hash: copy it somewhere else now and then, and a rewritten history no longer matches it.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.core.settings import get_settings
from urbanbrain.govern.actor import acting_as as acting_as  # re-exported: callers use audit.acting_as
from urbanbrain.govern.actor import current_actor
from urbanbrain.govern.actor import reset_actor as reset_actor
from urbanbrain.govern.actor import set_actor as set_actor
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import driver_time, get_engine, insert_many
from urbanbrain.meta.models import AuditEntry, AuditHead
from urbanbrain.meta.schemas import UTCDateTime
from urbanbrain.meta.writer import write

GENESIS = "0" * 64
HEAD_ID = 1
BATCH_SIZE = 200
FLUSH_SECONDS = 0.2

# --- the chain -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """An entry waiting for its place (seq) in the chain."""

    at: datetime
    principal: str
    action: str
    target: str
    detail: str


def canonical(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same value always hashes the same on every backend."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def entry_hash(seq: int, at: datetime, principal: str, action: str, target: str, detail: str,
               prev_hash: str) -> str:
    """SHA-256 over the fields, each length-prefixed so no two different entries hash the same text."""
    moment = as_utc(at).isoformat(timespec="microseconds")
    text = (f"{seq};{moment};{len(principal)}:{principal};{len(action)}:{action};{len(target)}:{target};"
            f"{len(detail)}:{detail};{prev_hash}")
    return hashlib.sha256(text.encode()).hexdigest()


def _pending(principal: Principal | None, action: str, target: str, detail: Mapping[str, Any] | None) -> Pending:
    who = principal or current_actor()
    # microsecond precision is what both SQLite and PostgreSQL keep, so the hash survives the round trip
    return Pending(at=utcnow(), principal=who.label, action=action, target=target, detail=canonical(dict(detail or {})))


def append(conn: Connection, entries: Sequence[Pending]) -> int:
    """Chain `entries`, in order, after the current head, inside the caller's transaction."""
    if not entries:
        return 0
    # The UPDATE comes first: it takes the row lock (PostgreSQL) or the write lock (SQLite) before the head
    # is read, so no other appender can read the same head and fork the chain.
    conn.execute(update(AuditHead).where(AuditHead.id == HEAD_ID).values(seq=AuditHead.seq))
    head = conn.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ID).with_for_update()).one()
    seq, prev = int(head.seq), str(head.hash)
    rows = []
    for e in entries:
        seq += 1
        digest = entry_hash(seq, e.at, e.principal, e.action, e.target, e.detail, prev)
        rows.append((seq, driver_time(conn, e.at), e.principal, e.action, e.target, e.detail, prev, digest))
        prev = digest
    insert_many(conn, "audit_log", ("seq", "at", "principal", "action", "target", "detail", "prev_hash", "hash"), rows)
    conn.execute(update(AuditHead).where(AuditHead.id == HEAD_ID).values(seq=seq, hash=prev))
    return len(rows)


def record(principal: Principal | None, action: str, target: str = "", detail: Mapping[str, Any] | None = None,
           *, session: Session | None = None, buffered: bool = False) -> None:
    """Append one audit entry; the one function every audited action calls.

    `principal=None` means whoever is acting in this context (`current_actor()`).

    >>> record(user, "user.passwd", "user:li.na", session=s)          # commits with the caller's change
    >>> record(consumer, "capability.call", "echo v1", {"status": 200}, buffered=True)   # gateway
    """
    entry = _pending(principal, action, target, detail)
    if buffered:
        get_buffer().add(entry)
    elif session is not None:
        append(session.connection(), [entry])
    else:
        with get_engine().begin() as conn:
            append(conn, [entry])


def record_read(principal: Principal, dataset: str, columns: Sequence[str], rows: int,
                masked: bool | Sequence[str], grant_id: str | None, *, buffered: bool = True) -> None:
    """Audit a read of data: who read which dataset's fields, how many rows, masked or not, under which grant.

    The hook the read paths' policy check (`govern.access.on_read`) is connected to.
    """
    detail = {"columns": list(columns), "rows": int(rows),
              "masked": masked if isinstance(masked, bool) else list(masked), "grant": grant_id}
    record(principal, "data.read", dataset, detail, buffered=buffered)


def write_entries(url: str, entries: list[Pending]) -> int:
    """Chain and commit `entries` in one transaction on store `url` (a writer job)."""
    with get_engine(url).begin() as conn:
        return append(conn, entries)


# --- buffered appends ------------------------------------------------------------------------------


class AuditBuffer:
    """Entries of one metadata store, appended in batches, in order, by a daemon thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._queue: list[Pending] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, entry: Pending) -> None:
        with self._lock:
            self._queue.append(entry)
            full = len(self._queue) >= BATCH_SIZE
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ub-audit", daemon=True)
                self._thread.start()
        if full:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            with contextlib.suppress(Exception):  # a locked store must not kill the thread; the next tick retries
                self.flush()

    def flush(self) -> int:
        """Append everything queued now, in one transaction; on failure the entries stay queued, in order."""
        with self._flush_lock:
            with self._lock:
                entries, self._queue = self._queue, []
            if not entries:
                return 0
            try:
                return write("audit", self.url, entries, in_process=write_entries)
            except Exception:
                with self._lock:
                    self._queue[:0] = entries
                raise

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            self._wake.set()
            thread.join(timeout=5)
            self._stop.clear()
        self.flush()


_BUFFERS: dict[str, AuditBuffer] = {}
_BUFFERS_LOCK = threading.Lock()
_CURRENT: tuple[object, AuditBuffer] | None = None


def get_buffer() -> AuditBuffer:
    """The buffer of the current metadata store, remembered per settings object (the gateway's hot path)."""
    global _CURRENT
    settings = get_settings()
    current = _CURRENT
    if current is not None and current[0] is settings:
        return current[1]
    url = settings.metadata_url
    with _BUFFERS_LOCK:
        buffer = _BUFFERS.get(url)
        if buffer is None:
            buffer = _BUFFERS[url] = AuditBuffer(url)
    _CURRENT = (settings, buffer)
    return buffer


def flush() -> int:
    """Append the current store's queued entries now (before verifying, listing or exporting); other
    stores' buffers are left to their threads, so one unreachable store cannot fail another's reads."""
    return get_buffer().flush()


@atexit.register
def close_all() -> None:
    with _BUFFERS_LOCK:
        buffers = list(_BUFFERS.values())
    for buffer in buffers:
        with contextlib.suppress(Exception):  # at exit there is no one left to tell
            buffer.close()


# --- verifying -------------------------------------------------------------------------------------


class Verification(BaseModel):
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    bad_seq: int | None = None
    problem: str | None = None


def verify() -> Verification:
    """Walk the whole chain; the first entry that was edited, deleted or moved is named in `problem`."""
    flush()
    with get_engine().connect() as conn:
        head = conn.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ID)).one()
        expected, prev, count = 1, GENESIS, 0

        def bad(seq: int, problem: str) -> Verification:
            return Verification(ok=False, entries=count, head_seq=head.seq, head_hash=head.hash, bad_seq=seq,
                                problem=problem)

        rows = conn.execution_options(yield_per=2000).execute(select(AuditEntry).order_by(AuditEntry.seq))
        for row in rows:
            if entry_hash(row.seq, row.at, row.principal, row.action, row.target, row.detail, row.prev_hash) \
                    != row.hash:
                return bad(row.seq, f"entry {row.seq} ({row.action} by {row.principal}) does not match its hash: "
                                    "it was edited or moved")
            if row.seq != expected:
                missing = f"entry {expected}" if row.seq == expected + 1 else f"entries {expected}–{row.seq - 1}"
                return bad(expected, f"{missing} missing before entry {row.seq}: deleted")
            if row.prev_hash != prev:
                return bad(row.seq, f"entry {row.seq} does not follow entry {row.seq - 1}: "
                                    "the entry before it was replaced")
            prev, expected, count = row.hash, expected + 1, count + 1
        if head.seq != expected - 1 or head.hash != prev:
            return bad(expected, f"the log ends at entry {expected - 1} but its head says {head.seq}: "
                                 "entries at the end were deleted")
    return Verification(ok=True, entries=count, head_seq=head.seq, head_hash=head.hash)


# --- reading ---------------------------------------------------------------------------------------


class AuditEntryPublic(BaseModel):
    seq: int
    at: UTCDateTime
    principal: str
    action: str
    target: str
    detail: dict[str, Any]
    hash: str


def _public(row: AuditEntry) -> AuditEntryPublic:
    return AuditEntryPublic(seq=row.seq, at=row.at, principal=row.principal, action=row.action, target=row.target,
                            detail=json.loads(row.detail or "{}"), hash=row.hash)


def _query(principal: str | None, action: str | None, since: datetime | None, until: datetime | None) -> Any:
    query = select(AuditEntry)
    if principal:
        # `li.na` finds `user:li.na`; a full label (`consumer:grid-app`) matches exactly
        query = query.where(AuditEntry.principal == principal if ":" in principal
                            else AuditEntry.principal.like(f"%:{principal}"))
    if action:
        # `grant` finds grant.request, grant.approve, ...; `grant.approve` only that one
        query = query.where((AuditEntry.action == action) | AuditEntry.action.like(f"{action}.%"))
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    return query


def list_entries(*, principal: str | None = None, action: str | None = None, since: datetime | None = None,
                 until: datetime | None = None, limit: int | None = 200) -> list[AuditEntryPublic]:
    """The newest entries first, filtered by principal, action (or action family) and time."""
    flush()
    query = _query(principal, action, since, until).order_by(AuditEntry.seq.desc())
    if limit is not None:
        query = query.limit(limit)
    with Session(get_engine()) as s:
        return [_public(r) for r in s.scalars(query)]


def iter_entries(*, principal: str | None = None, action: str | None = None, since: datetime | None = None,
                 until: datetime | None = None) -> Iterator[AuditEntryPublic]:
    """Every matching entry in chain order, streamed (exports of a long log)."""
    flush()
    with Session(get_engine()) as s:
        query = _query(principal, action, since, until).order_by(AuditEntry.seq)
        for row in s.scalars(query.execution_options(yield_per=2000)):
            yield _public(row)
