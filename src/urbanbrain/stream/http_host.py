"""HTTP push feeds run inside the serving process: their pipeline starts on the first POST."""

from __future__ import annotations

import threading

from urbanbrain.stream.feeds.http import HttpFeed, push, running
from urbanbrain.stream.pipeline import FeedRunner

_RUNNERS: dict[str, FeedRunner] = {}
_LOCK = threading.Lock()


def accept(name: str, key: str | None, body: bytes) -> None:
    """Check the feed key, start the feed's pipeline if needed, and wait until the body is kept."""
    from urbanbrain.stream.runner import journal_dir
    from urbanbrain.stream.service import check_feed_key

    config = check_feed_key(name, key)
    with _LOCK:
        if not running(name):
            runner = FeedRunner(config, journal_dir(name), feed=HttpFeed(name, {}))
            runner.start()
            _RUNNERS[name] = runner
    push(name, body)


def stop_all() -> None:
    with _LOCK:
        for runner in _RUNNERS.values():
            runner.stop()
        _RUNNERS.clear()
