"""The audit log: append-only and chained under a key, so an edited, deleted or reordered entry is detected.

Every audited action calls `record(...)` (reads of data call `record_read(...)`, with the SQL statement).
Each entry gets the next sequence number and
`hash = HMAC-SHA256(audit key, seq, time, principal, action, target, detail, previous hash)`. The audit key
is derived from the installation's secret key (`URBANBRAIN_SECRET_KEY` or home/secret.key), which the
database does not hold: someone who can write the database but not read that key cannot recompute the
chain after editing it. `verify()` walks the chain and names the first entry that does not fit.
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

What the chain proves: that nobody without the key changed the log. Against someone who also holds the
key (or who deletes the newest entries and moves the head back), `anchor()` exports the head (seq and
hash) to a file kept elsewhere (`urbanbrain audit anchor`), and `verify(anchor=...)` (`urbanbrain audit
verify --anchor FILE`) checks that the anchored entry is still there with the same hash.

Logs written before the chain was keyed (unkeyed SHA-256) are re-keyed by migration 0007 after their
unkeyed chain verified; a log that did not verify is left as it was, and `verify` reports it.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.core.errors import UrbanBrainError
from urbanbrain.core.settings import get_settings
from urbanbrain.govern.actor import acting_as as acting_as  # re-exported: callers use audit.acting_as
from urbanbrain.govern.actor import current_actor
from urbanbrain.govern.actor import reset_actor as reset_actor
from urbanbrain.govern.actor import set_actor as set_actor
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import driver_cursor, driver_time, get_engine, insert_many
from urbanbrain.meta.models import AuditEntry, AuditHead
from urbanbrain.meta.schemas import UTCDateTime
from urbanbrain.meta.writer import write

GENESIS = "0" * 64
HEAD_ID = 1
BATCH_SIZE = 200
FLUSH_SECONDS = 0.2
STATEMENT_MAX = 20_000  # characters of a read's SQL kept in its audit entry

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


def audit_key() -> bytes:
    """The chain's key: derived from (never equal to) the installation's secret key, not in the database."""
    from urbanbrain.core.secrets import _key

    return hashlib.sha256(b"urbanbrain/audit-key/v1|" + _key()).digest()


def _entry_text(seq: int, at: datetime, principal: str, action: str, target: str, detail: str,
                prev_hash: str) -> bytes:
    """The fields, each length-prefixed so no two different entries give the same text."""
    moment = as_utc(at).isoformat(timespec="microseconds")
    return (f"{seq};{moment};{len(principal)}:{principal};{len(action)}:{action};{len(target)}:{target};"
            f"{len(detail)}:{detail};{prev_hash}").encode()


def entry_hash(seq: int, at: datetime, principal: str, action: str, target: str, detail: str,
               prev_hash: str, *, key: bytes | None = None) -> str:
    """HMAC-SHA256 of the entry under the audit key (`audit_key()` unless given)."""
    text = _entry_text(seq, at, principal, action, target, detail, prev_hash)
    return hmac.new(key if key is not None else audit_key(), text, hashlib.sha256).hexdigest()


def legacy_hash(seq: int, at: datetime, principal: str, action: str, target: str, detail: str,
                prev_hash: str) -> str:
    """The unkeyed SHA-256 of logs written before the chain was keyed (read by migration 0007 only)."""
    return hashlib.sha256(_entry_text(seq, at, principal, action, target, detail, prev_hash)).hexdigest()


def _pending(principal: Principal | None, action: str, target: str, detail: Mapping[str, Any] | None) -> Pending:
    who = principal or current_actor()
    # microsecond precision is what both SQLite and PostgreSQL keep, so the hash survives the round trip
    return Pending(at=utcnow(), principal=who.label, action=action, target=target, detail=canonical(dict(detail or {})))


def append(conn: Connection, entries: Sequence[Pending], *, key: bytes | None = None, locked: bool = False) -> int:
    """Chain `entries`, in order, after the current head, inside the caller's transaction (`locked`: the
    caller's transaction already wrote to the head row first, so it holds the lock)."""
    if not entries:
        return 0
    key = key if key is not None else audit_key()
    lock_head, read_head, move_head = _head_statements()
    # The UPDATE comes first: it takes the row lock (PostgreSQL) or the write lock (SQLite) before the head
    # is read, so no other appender can read the same head and fork the chain.
    if not locked:
        conn.execute(lock_head)
    raw = driver_cursor(conn)  # SQLite: the head read and moved through the driver's cursor (~80 us less)
    if raw is not None:
        seq, prev = raw.execute(f"SELECT seq, hash FROM audit_head WHERE id = {HEAD_ID}").fetchone()
        seq, prev = int(seq), str(prev)
    else:
        head = conn.execute(read_head).one()
        seq, prev = int(head.seq), str(head.hash)
    rows = []
    for e in entries:
        seq += 1
        digest = entry_hash(seq, e.at, e.principal, e.action, e.target, e.detail, prev, key=key)
        rows.append((seq, driver_time(conn, e.at), e.principal, e.action, e.target, e.detail, prev, digest))
        prev = digest
    insert_many(conn, "audit_log", ("seq", "at", "principal", "action", "target", "detail", "prev_hash", "hash"), rows)
    if raw is not None:
        raw.execute(f"UPDATE audit_head SET seq = ?, hash = ? WHERE id = {HEAD_ID}", (seq, prev))
    else:
        conn.execute(move_head, {"new_seq": seq, "new_hash": prev})
    return len(rows)


@lru_cache(maxsize=1)
def _head_statements() -> tuple[Any, Any, Any]:
    """Lock, read and move the chain's head: built once, with bound parameters (building them on every
    append cost ~0.3 ms of each Open311 POST, bench/cases)."""
    here = AuditHead.id == HEAD_ID
    return (update(AuditHead).where(here).values(seq=AuditHead.seq),
            select(AuditHead.seq, AuditHead.hash).where(here).with_for_update(),
            update(AuditHead).where(here).values(seq=bindparam("new_seq"), hash=bindparam("new_hash")))


def record(principal: Principal | None, action: str, target: str = "", detail: Mapping[str, Any] | None = None,
           *, session: Session | None = None, buffered: bool = False) -> None:
    """Append one audit entry; the one function every audited action calls.

    `principal=None` means whoever is acting in this context (`current_actor()`).

    >>> record(user, "user.passwd", "user:li.na", session=s)          # commits with the caller's change
    >>> record(consumer, "capability.call", "echo v1", {"status": 200}, buffered=True)   # gateway
    """
    entry = _pending(principal, action, target, detail)
    held = _HELD.get() if buffered else None
    if held is not None and not held.closed:  # a run holding its reads (`reads_held`): appended with its results
        held.append(entry)
    elif buffered:
        get_buffer().add(entry)
    elif session is not None:
        append(session.connection(), [entry])
    else:
        with get_engine().begin() as conn:
            append(conn, [entry])


def record_all(records: Sequence[tuple[Principal | None, str, str, Mapping[str, Any] | None]], *,
               session: Session, locked: bool = False, held: Sequence[Pending] = ()) -> None:
    """Append several entries, in order, inside the caller's transaction with one lock of the chain's head
    (a case created and dispatched at once writes two entries: one append rather than two). `held`
    (entries of `reads_held`) come first; the caller empties its list once the transaction committed."""
    append(session.connection(), [*held, *(_pending(*r) for r in records)], locked=locked)


# the buffered entries (reads) of a run in this context, while `reads_held` is active
class Held(list[Pending]):
    """The entries `reads_held` holds; `closed` once its block ended (a late read goes to the buffer)."""

    closed = False


_HELD: ContextVar[Held | None] = ContextVar("urbanbrain_audit_held", default=None)


@contextlib.contextmanager
def reads_held() -> Iterator[Held]:
    """Hold the buffered entries (the reads) recorded in this context, in order, so that a run of many
    queries (every indicator refreshed) appends them in ONE append inside the transaction that keeps its
    results (`record_all(..., held=...)`): the reads and the values read are committed together, and no
    flush thread writes to the chain (taking the GIL and the store's write lock) while the run computes.

    Whatever the caller has not appended when the block ends (it failed before committing) goes to the
    buffer as usual: a read that happened is never left unaudited."""
    held = Held()
    token = _HELD.set(held)
    try:
        yield held
    finally:
        _HELD.reset(token)
        held.closed = True
        if held:
            buffer = get_buffer()
            for entry in held:
                buffer.add(entry)
            held.clear()


def record_read(principal: Principal, dataset: str, columns: Sequence[str], rows: int,
                masked: bool | Sequence[str], grant_id: str | None, *, buffered: bool = True,
                statement: str | None = None) -> None:
    """Audit a read of data: who read which dataset's fields, how many rows, masked or not, under which grant,
    and with which SQL statement (so an auditor sees what was asked, not only what was touched).

    The hook the read paths' policy check (`govern.access.on_read`) is connected to.
    """
    detail: dict[str, Any] = {"columns": list(columns), "rows": int(rows),
                              "masked": masked if isinstance(masked, bool) else list(masked), "grant": grant_id}
    if statement is not None:
        detail["sql"] = statement[:STATEMENT_MAX]
    record(principal, "data.read", dataset, detail, buffered=buffered)


@dataclass(frozen=True)
class KeyedBatch:
    """Entries with the key to chain them under: the writer child may not share the parent's home."""

    key: bytes
    entries: list[Pending]


def write_entries(url: str, batch: Sequence[Pending | KeyedBatch]) -> int:
    """Chain and commit `batch` in one transaction on store `url` (a writer job)."""
    key: bytes | None = None
    entries: list[Pending] = []
    for item in batch:
        if isinstance(item, KeyedBatch):
            key = item.key
            entries.extend(item.entries)
        else:
            entries.append(item)
    with get_engine(url).begin() as conn:
        return append(conn, entries, key=key)


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
                batch: list[Any] = [KeyedBatch(audit_key(), entries)]
                return write("audit", self.url, batch, in_process=write_entries)
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


class Anchor(BaseModel):
    """A head of the chain, exported to be checked later (`urbanbrain audit anchor`)."""

    seq: int
    hash: str
    at: UTCDateTime | None = None


def anchor() -> Anchor:
    """The current head, after verifying the chain up to it (an anchor of a broken chain proves nothing)."""
    result = verify()
    if not result.ok:
        raise UrbanBrainError(f"the audit log does not verify: {result.problem}",
                             hint="investigate before anchoring; `urbanbrain audit verify` names the entry")
    return Anchor(seq=result.head_seq, hash=result.head_hash, at=utcnow())


def verify(anchor: Anchor | Mapping[str, Any] | None = None) -> Verification:
    """Walk the whole chain; the first entry that was edited, deleted or moved is named in `problem`.

    With `anchor` (an earlier head), the anchored entry must still be in the chain with the same hash:
    a log rewritten or cut back since, even by someone holding the key, no longer matches it."""
    flush()
    pin = anchor if isinstance(anchor, Anchor) or anchor is None else Anchor.model_validate(dict(anchor))
    with get_engine().connect() as conn:
        head = conn.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ID)).one()
        expected, prev, count = 1, GENESIS, 0

        def bad(seq: int, problem: str) -> Verification:
            return Verification(ok=False, entries=count, head_seq=head.seq, head_hash=head.hash, bad_seq=seq,
                                problem=problem)

        key = audit_key()
        rows = conn.execution_options(yield_per=2000).execute(select(AuditEntry).order_by(AuditEntry.seq))
        for row in rows:
            if entry_hash(row.seq, row.at, row.principal, row.action, row.target, row.detail, row.prev_hash,
                          key=key) != row.hash:
                return bad(row.seq, f"entry {row.seq} ({row.action} by {row.principal}) does not match its hash: "
                                    "it was edited or moved")
            if row.seq != expected:
                missing = f"entry {expected}" if row.seq == expected + 1 else f"entries {expected}–{row.seq - 1}"
                return bad(expected, f"{missing} missing before entry {row.seq}: deleted")
            if row.prev_hash != prev:
                return bad(row.seq, f"entry {row.seq} does not follow entry {row.seq - 1}: "
                                    "the entry before it was replaced")
            if pin is not None and row.seq == pin.seq and row.hash != pin.hash:
                return bad(row.seq, f"entry {row.seq} is not the entry anchored at {pin.at}: "
                                    "the log was rewritten since the anchor")
            prev, expected, count = row.hash, expected + 1, count + 1
        if head.seq != expected - 1 or head.hash != prev:
            return bad(expected, f"the log ends at entry {expected - 1} but its head says {head.seq}: "
                                 "entries at the end were deleted")
        if pin is not None and pin.seq > head.seq:
            return bad(head.seq + 1, f"the anchor names entry {pin.seq} but the log ends at {head.seq}: "
                                     "entries were deleted since the anchor")
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
