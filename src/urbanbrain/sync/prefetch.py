"""Overlap reading with writing: a source's batches are pulled on a background thread.

DuckDB scans and Parquet writes both release the GIL, so on two cores a read-ahead of a couple of
batches nearly doubles throughput while keeping memory bounded (at most `depth` batches in flight).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def prefetch(source: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Yield the items of `source`, produced up to `depth` items ahead on another thread.

    Errors raised by the producer are re-raised in the consumer; if the consumer stops early, the
    producer stops at its next item.
    """
    items: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(_DONE)
        except BaseException as exc:  # handed to the consumer, who decides
            items.put(_Failure(exc))

    thread = threading.Thread(target=produce, name="ub-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():
            try:
                items.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.1)
