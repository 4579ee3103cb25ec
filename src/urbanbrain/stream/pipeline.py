"""One feed's pipeline: messages -> readings -> journal (then ack) -> live state, rules, history.

A bounded queue sits between the feed's thread and the worker: when the worker falls behind (a slow
lake, a flood), `deliver` blocks and the feed stops taking messages from its broker, so memory stays
bounded and the backlog stays at the broker, where it is reported as lag. The worker takes what is
queued (up to `batch_messages`), parses it, fsyncs the accepted readings to the journal and commits
dead letters, acknowledges the messages, then updates live state, runs the rules and publishes state
changes. History is committed from the buffer every `batch_seconds` or `batch_rows`.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from urbanbrain.core.bus import Bus, get_bus
from urbanbrain.core.clock import utcnow
from urbanbrain.meta.db import insert_many, session_scope
from urbanbrain.stream.feeds.base import Feed, Message, open_feed
from urbanbrain.stream.history import JOURNAL_PROPERTY, History
from urbanbrain.stream.journal import Journal, at_or_before, earlier
from urbanbrain.stream.payloads import Parser, PayloadSpec, Reading, Rejected, parse_time
from urbanbrain.stream.rollups import Rollups
from urbanbrain.stream.state import LiveState

log = logging.getLogger(__name__)
JOURNAL_ROTATE_BYTES = 64 * 1024 * 1024
STATE_SAVE_SECONDS = 10.0  # live state is saved with a commit at most this often (and at every flush)
BATCH_BYTES = 4 * 1024 * 1024  # a worker batch stops at this many payload bytes (or batch_messages)
LINGER_SECONDS = 0.004  # a batch under LINGER_BYTES waits up to this long for more messages
LINGER_BYTES = 256 * 1024
DEAD_LETTERS_PER_EVENT = 20  # a `deadletters.*` bus event lists at most this many (its count is the total)


@dataclass(frozen=True)
class FeedConfig:
    id: str
    name: str
    department: str
    system_id: str
    kind: str
    options: dict[str, Any]
    spec: PayloadSpec


@dataclass
class Stats:
    messages: int = 0
    readings: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    committed: int = 0
    started: float = field(default_factory=time.monotonic)
    last_message_at: datetime | None = None
    recent: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, messages) samples

    def rate(self) -> float:
        """Messages per second over the last ~10 s."""
        if len(self.recent) < 2:
            return 0.0
        (t0, m0), (t1, m1) = self.recent[0], self.recent[-1]
        return (m1 - m0) / (t1 - t0) if t1 > t0 else 0.0


class FloodGuard:
    """A token bucket per device: a device sending more than `rate` readings/s (after a `burst`) has
    the excess refused, as one counted dead letter per batch, so it cannot crowd out the others."""

    def __init__(self, rate: float = 50.0, burst: float = 500.0) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}

    def split(self, readings: list[Reading], now: float) -> tuple[list[Reading], list[Rejected]]:
        kept: list[Reading] = []
        refused: dict[str, list[Reading]] = {}
        for r in readings:
            tokens, last = self._buckets.get(r.device_id, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                kept.append(r)
                tokens -= 1.0
            else:
                refused.setdefault(r.device_id, []).append(r)
            self._buckets[r.device_id] = (tokens, now)
        rejects = [Rejected(f"flood: device {d!r} sent {len(rs)} readings over its limit of {self.rate:g}/s "
                            f"(burst {self.burst:g}); they were refused", d,
                            json.dumps(_record(rs[0]), default=str), count=len(rs)) for d, rs in refused.items()]
        return kept, rejects


def pa_empty() -> Any:
    """No new rows: lets a flush write the rollups' pending partials."""
    import pyarrow as pa

    return pa.table({"ingested_at": pa.array([], pa.timestamp("us", tz="UTC"))})


def _record(r: Reading) -> dict[str, Any]:
    return {"d": r.device_id, "t": r.type, "o": r.observed_at, "a": r.attributes, "x": r.lon, "y": r.lat}


def _reading(rec: dict[str, Any]) -> Reading:
    """A journal record: a Reading as orjson writes it, or the older short form."""
    if "device_id" in rec:
        return Reading(rec["device_id"], rec["type"], parse_time(rec["observed_at"]), rec["attributes"],
                       rec.get("lon"), rec.get("lat"), rec.get("units") or {})
    return Reading(rec["d"], rec["t"], parse_time(rec["o"]), rec["a"], rec.get("x"), rec.get("y"))


class FeedRunner:
    def __init__(self, config: FeedConfig, journal_dir: Any, *, now: Callable[[], datetime] = utcnow,
                 bus: Bus | None = None, batch_rows: int = 200_000, batch_seconds: float = 2.0,
                 batch_messages: int = 5_000, queue_size: int = 20_000, feed: Feed | None = None,
                 on_readings: Callable[[list[Reading]], None] | None = None) -> None:
        self.config = config
        self.now = now
        self.bus = bus or get_bus()
        self.parser = Parser(config.spec, now)
        self.state = LiveState(config.id, config.department)
        self.history = History(config.department, config.name, config.system_id)
        self.rollups = Rollups(config.department, config.name, config.system_id)
        self.journal = Journal(journal_dir)
        self.batch_rows, self.batch_seconds, self.batch_messages = batch_rows, batch_seconds, batch_messages
        self.queue: queue.Queue[Message] = queue.Queue(maxsize=queue_size)
        self.feed = feed or open_feed(config.kind, config.name, config.options)
        self.stats = Stats()
        self.flood = FloodGuard()
        self.on_readings = on_readings
        self.alerts: Any = None
        self._last_tick = 0.0
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._last_commit = time.monotonic()
        self._messages_saved = 0
        self._committer: threading.Thread | None = None
        self._state_saved = 0.0
        self.error: str | None = None  # the worker's: cleared by the next good batch
        # the committer's (history, rollups, live state): kept, and shown on the feed, until a commit succeeds
        self.commit_error: str | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Recover (state, recent keys, journal replay), then connect the feed and start the worker."""
        from urbanbrain.stream.alerts import AlertEngine

        properties = self.history.open()
        self.rollups.open()
        self._roll(None)  # catch up with history committed by a process that stopped before its rollups
        self.state.load()
        self.alerts = AlertEngine(self.config.id, self.config.name, self.config.department, now=self.now,
                                  bus=self.bus)
        self._reload_rules()
        self.history.load_recent_keys(properties)
        committed = properties.get(JOURNAL_PROPERTY)
        replayed = [(_reading(rec), pos) for rec, pos in
                    self.journal.replay(earlier(committed, self.journal.state_position))]
        if replayed:
            received = self.now()
            # the first ones are in history already, not yet in the saved state (a crash between the two
            # saves); positions only grow, so they are a prefix
            split = sum(1 for _, pos in replayed if at_or_before(pos, committed))
            if split:
                self.state.apply_many([r for r, _ in replayed[:split]], received, replayed[split - 1][1])
            if split < len(replayed):
                self._accept([r for r, _ in replayed[split:]], received, position=replayed[-1][1])
            self.flush()
            log.info("feed %s: replayed %d journaled readings (%d into live state only)", self.config.name,
                     len(replayed), split)
        self._worker = threading.Thread(target=self._run, name=f"ub-stream-{self.config.name}", daemon=True)
        self._worker.start()
        self.feed.start(self.deliver)

    def stop(self) -> None:
        self.feed.stop()
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout=30)
        self.flush()
        self.journal.close()

    def deliver(self, message: Message) -> None:
        """The feed's callback: blocks while the queue is full (backpressure)."""
        try:
            self.queue.put_nowait(message)  # the common case, without a timed wait's overhead
            return
        except queue.Full:
            pass
        while not self._stop.is_set():
            try:
                self.queue.put(message, timeout=0.5)
                return
            except queue.Full:
                continue

    @property
    def lag(self) -> int:
        """Messages waiting: in our queue plus at the broker when the feed can tell."""
        return self.queue.qsize() + (self.feed.lag() or 0)

    # --- the worker --------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            batch: list[Message] = []
            size = 0
            try:
                batch.append(self.queue.get(timeout=0.1))
                size = len(batch[0].payload)
                until = time.monotonic() + LINGER_SECONDS
                while len(batch) < self.batch_messages and size < BATCH_BYTES:
                    try:
                        batch.append(self.queue.get_nowait())
                        size += len(batch[-1].payload)
                    except queue.Empty:
                        # a small batch waits a moment for more: the fixed cost of a batch (fsync,
                        # bus event, schema pass) is then shared by many messages, not paid per message
                        if size >= LINGER_BYTES or time.monotonic() >= until:
                            break
                        time.sleep(LINGER_SECONDS / 4)
            except queue.Empty:
                pass
            try:
                if batch:
                    self.process(batch)
                if self.history.pending and (self.history.pending >= self.batch_rows
                                             or time.monotonic() - self._last_commit >= self.batch_seconds):
                    self._commit_in_background()
                if time.monotonic() - self._last_tick >= 1.0:
                    self._last_tick = time.monotonic()
                    self._reload_rules()
                    self.alerts.tick()
                self.error = None
            except Exception as exc:  # keep running: the messages stay unacknowledged and come back
                self.error = str(exc)
                log.exception("feed %s: batch failed", self.config.name)
                time.sleep(1.0)

    def process(self, batch: list[Message]) -> None:
        received = self.now()
        readings, rejects = self.parser.parse_many([m.payload for m in batch])
        readings, flooded = self.flood.split(readings, time.monotonic())
        rejects.extend(flooded)
        position = self.journal.append(readings)
        if rejects:
            self._dead_letters(rejects, received)
        ack_many = getattr(self.feed, "ack_many", None)
        if ack_many is not None:
            ack_many([m for m in batch if m.ack is not None])
        else:
            for msg in batch:
                if msg.ack is not None:
                    msg.ack()
        self.stats.messages += len(batch)
        self.stats.last_message_at = received
        now = time.monotonic()
        self.stats.recent = [s for s in self.stats.recent if now - s[0] <= 10.0] + [(now, self.stats.messages)]
        self._accept(readings, received, messages=len(batch), position=position)

    def _accept(self, readings: list[Reading], received: datetime, messages: int = 0,
                position: str | None = None) -> None:
        fresh = self.history.add_many(readings, received)
        self.stats.readings += len(fresh)
        self.stats.duplicates = self.history.duplicates
        changes = self.state.apply_many(fresh, received, position)
        if self.alerts is not None and fresh:
            self.alerts.observe(fresh)
        if self.on_readings is not None and fresh:
            self.on_readings(fresh)
        if changes or fresh:  # also without changes: pages count messages/s and readings/s from these
            self.bus.publish(f"state.{self.config.department}.{self.config.name}",
                             {"feed": self.config.name, "department": self.config.department, "changes": changes,
                              "messages": messages, "readings": len(fresh)})

    def _reload_rules(self) -> None:
        self.alerts.reload({d.device_id: d.observed_at for d in self.state.snapshot() if d.observed_at})

    def _dead_letters(self, rejects: list[Rejected], received: datetime) -> None:
        from sqlalchemy import update

        from urbanbrain.meta.db import driver_time
        from urbanbrain.meta.models import Feed as FeedRow

        with session_scope() as s:
            conn = s.connection()
            insert_many(conn, "stream_dead_letters", ("feed_id", "received_at", "device_id", "reason", "raw",
                                                      "raw_bytes"),
                        [(self.config.id, driver_time(conn, received), r.device_id, r.reason, r.raw[:65536],
                          len(r.raw.encode())) for r in rejects])
            s.execute(update(FeedRow).where(FeedRow.id == self.config.id)
                      .values(dead_letters_total=FeedRow.dead_letters_total + sum(r.count for r in rejects)))
        count = sum(r.count for r in rejects)
        self.stats.dead_letters += count
        # pushed to the feed's live page (reasons only: the raw payload stays behind `feed dead-letters`)
        self.bus.publish(f"deadletters.{self.config.department}.{self.config.name}", {
            "feed": self.config.name, "department": self.config.department, "count": count,
            "letters": [{"at": received.isoformat(), "device_id": r.device_id, "reason": r.reason[:500],
                         "count": r.count} for r in rejects[:DEAD_LETTERS_PER_EVENT]]})

    def _commit_in_background(self) -> None:
        """Hand the buffer to a committer thread, so live state keeps flowing while Iceberg commits.
        One commit at a time; a buffer that reaches twice `batch_rows` meanwhile waits for it (the
        queue then fills and the feed is held back)."""
        busy = self._committer is not None and self._committer.is_alive()
        if busy and self.history.pending < 2 * self.batch_rows:
            return
        if busy and self._committer is not None:
            self._committer.join()
        if self.journal.size > JOURNAL_ROTATE_BYTES:
            self.journal.rotate()
        self._last_commit = time.monotonic()
        rows, ingested = self.history.take()
        position = self.journal.position
        self._committer = threading.Thread(target=self._commit, args=(rows, ingested, position),
                                           name=f"ub-commit-{self.config.name}", daemon=True)
        self._committer.start()

    def _commit(self, rows: list[Reading], ingested: list[datetime], position: str) -> int:
        try:
            written = self.history.commit_rows(rows, ingested, position)
        except Exception as exc:
            self.history.restore(rows, ingested)  # retried with the next commit; still in the journal anyway
            self.commit_error = f"history commit: {exc}"
            log.exception("feed %s: history commit failed", self.config.name)
            self._show_error()
            return 0
        try:
            return self._committed(written, position)
        except Exception as exc:  # history holds the rows now: not put back, they would be written twice
            self.commit_error = str(exc)
            log.exception("feed %s: bookkeeping after a history commit failed", self.config.name)
            self._show_error()
            return written

    def _show_error(self) -> None:
        """The committer's failure on the feed (`last_error`) at once, not at the next good commit."""
        from sqlalchemy import update

        from urbanbrain.meta.models import Feed as FeedRow

        try:
            with session_scope() as s:
                s.execute(update(FeedRow).where(FeedRow.id == self.config.id).values(last_error=self.commit_error))
        except Exception:  # the metadata store may be what failed: the log has it
            log.debug("feed %s: could not record the error on the feed", self.config.name, exc_info=True)

    def flush(self) -> int:
        """Commit buffered history with the journal position now, then save live state and counters."""
        if self._committer is not None:
            self._committer.join()
        self._last_commit = time.monotonic()
        if not self.history.pending:
            self._save_state()
            self._roll(pa_empty(), force=True)
            return 0
        position = self.journal.position
        return self._committed(self.history.commit(position), position, force_state=True)

    def _save_state(self) -> None:
        """Save live state and record the journal position it covers. A failure is the feed's error, not
        the caller's: the devices stay dirty for the next save and the recorded position does not move,
        so a crash before that save still replays their readings into state."""
        try:
            self.state.save()
            if self.state.saved_position is not None:
                self.journal.state_saved(self.state.saved_position)
        except Exception as exc:
            self.commit_error = f"live state: {exc}"
            log.exception("feed %s: saving live state failed", self.config.name)

    def _roll(self, data: Any, force: bool = False) -> None:
        """Fold the rows just committed into the rollups (None: catch up from history). A failure
        leaves history as it is and the rollups catching up at the next commit."""
        try:
            if data is None:
                self.rollups.catch_up()
            else:
                self.rollups.add(data, force=force)
        except Exception as exc:
            self.rollups.behind = True
            self.commit_error = f"rollups: {exc}"
            log.exception("feed %s: rollup update failed", self.config.name)

    def _committed(self, rows: int, position: str, force_state: bool = False) -> int:
        from sqlalchemy import update

        from urbanbrain.meta.models import Feed as FeedRow

        self.commit_error = None  # history took the rows; what follows may set it again
        self.journal.committed(position)
        self.stats.committed += rows
        if rows and self.history.committed_data is not None:
            self._roll(self.history.committed_data, force=force_state)
            self.history.committed_data = None
        elif force_state:
            self._roll(pa_empty(), force=True)
        if (force_state or time.monotonic() - self._state_saved >= STATE_SAVE_SECONDS
                or self.state.has_unsaved_devices()):
            self._state_saved = time.monotonic()
            self._save_state()
        messages, self._messages_saved = self.stats.messages - self._messages_saved, self.stats.messages
        with session_scope() as s:
            s.execute(update(FeedRow).where(FeedRow.id == self.config.id).values(
                readings_total=FeedRow.readings_total + rows, messages_total=FeedRow.messages_total + messages,
                last_message_at=self.stats.last_message_at, last_error=self.commit_error or self.error))
        return rows
