"""`urbanbrain stream`: run every enabled feed of this installation in one process.

Each feed has its own pipeline and journal (under `<home>/stream/<feed>/`); a feed whose broker is
down or refuses us is retried every `retry_seconds` and never holds up the others. HTTP push feeds
run inside `urbanbrain serve`, where their route is, not here.

Several `serve`/`stream` processes (on several machines) may share one metadata store: each MQTT/NATS feed
runs in the one process holding its lease `feed:<name>` (`meta/leases.py`), so a reading is never taken
in twice; when that process dies, another takes the feed over within the lease's 30 s.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update

from urbanbrain.core.clock import utcnow
from urbanbrain.core.settings import get_settings
from urbanbrain.meta import leases
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import Feed
from urbanbrain.stream.pipeline import FeedRunner
from urbanbrain.stream.service import feed_config

log = logging.getLogger(__name__)


def journal_dir(feed: str) -> Path:
    return get_settings().home_dir / "stream" / feed


def feed_names(kinds: tuple[str, ...] | None = None) -> list[str]:
    with session_scope() as s:
        q = select(Feed.name).where(Feed.enabled.is_(True)).order_by(Feed.name)
        if kinds:
            q = q.where(Feed.kind.in_(kinds))
        return list(s.scalars(q))


def _record_error(name: str, error: str | None) -> None:
    with session_scope() as s:
        s.execute(update(Feed).where(Feed.name == name).values(last_error=error))


def start_runner(name: str, **kwargs: object) -> FeedRunner:
    runner = FeedRunner(feed_config(name), journal_dir(name), **kwargs)  # type: ignore[arg-type]
    runner.start()
    return runner


class StreamProcess:
    """All feeds of the installation (or the named ones); `run` blocks until `stop`."""

    def __init__(self, names: list[str] | None = None, *, kinds: tuple[str, ...] = ("mqtt", "nats"),
                 retry_seconds: float = 10.0, now: Callable[[], datetime] = utcnow,
                 batch_seconds: float = 2.0) -> None:
        self.names, self.kinds = names, kinds
        self.retry_seconds = retry_seconds
        self.now, self.batch_seconds = now, batch_seconds
        self.runners: dict[str, FeedRunner] = {}
        self.leases: dict[str, leases.Held] = {}
        self._failed_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._maintaining: threading.Thread | None = None

    def _wanted(self) -> list[str]:
        return self.names if self.names is not None else feed_names(self.kinds)

    def poll(self) -> None:
        """Start feeds not yet running (new, or failed long enough ago)."""
        for name, mine in list(self.leases.items()):
            if mine.lost.is_set():  # another process took the feed over (we stalled past the expiry): stop ours
                log.warning("feed %s: lease lost, stopping here", name)
                self._release(name)
        for name in self._wanted():
            if name in self.runners or time.monotonic() - self._failed_at.get(name, -1e9) < self.retry_seconds:
                continue
            held = leases.hold(f"feed:{name}")
            if held is None:
                continue  # another process runs this feed
            try:
                self.leases[name] = held.__enter__()
                self.runners[name] = start_runner(name, now=self.now, batch_seconds=self.batch_seconds)
                _record_error(name, None)
                log.info("feed %s: running", name)
            except Exception as exc:
                self._release(name)
                self._failed_at[name] = time.monotonic()
                _record_error(name, str(exc))
                log.warning("feed %s: cannot start (%s); retrying in %gs", name, exc, self.retry_seconds)

    def maintain(self) -> None:
        """Compact and expire the feeds' history tables on the `lake_maintain_every_hours` schedule
        (micro-batches leave many small files), in a thread so that no reading waits for it."""
        if self._maintaining is not None and self._maintaining.is_alive():
            return
        names = sorted(r.history.name for r in self.runners.values())
        if names:
            from urbanbrain.sync.lakeops import maintain_due

            self._maintaining = threading.Thread(target=maintain_due, args=(names,), name="ub-stream-maintain",
                                                 daemon=True)
            self._maintaining.start()

    def run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self.maintain()
            self._stop.wait(2.0)
        for name in list(self.runners):
            self._release(name)

    def _release(self, name: str) -> None:
        runner = self.runners.pop(name, None)
        if runner is not None:
            runner.stop()
        held = self.leases.pop(name, None)
        if held is not None:
            held.__exit__(None, None, None)

    def stop(self) -> None:
        self._stop.set()


def start_background() -> StreamProcess:
    """Run the feeds in a daemon thread of a serving process (`urbanbrain serve`). Whatever was
    acknowledged is in the journals when the process ends, and replayed by the next start."""
    proc = StreamProcess()
    threading.Thread(target=proc.run, name="ub-stream", daemon=True).start()
    return proc
