"""A tiny in-process cache whose entries expire after a few seconds.

Hot paths (the gateway's keys and grants, the policy of a principal on a dataset) would otherwise read
the metadata store on every call. Services that change the underlying rows clear their cache at once;
a change made by another process is seen within `TTL_SECONDS`, a bound that is short on purpose.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

TTL_SECONDS = 2.0
V = TypeVar("V")


class TtlCache(Generic[V]):
    """A tiny thread-safe cache; loaders run outside the lock (two may race, both answers are fresh)."""

    def __init__(self, ttl: float = TTL_SECONDS, max_items: int = 50_000) -> None:
        self.ttl = ttl
        self.max_items = max_items
        self._items: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, loader: Callable[[], V]) -> V:
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = loader()
        with self._lock:
            if len(self._items) >= self.max_items:
                self._items.clear()
            self._items[key] = (now + self.ttl, value)
        return value

    def fresh(self, key: Hashable) -> bool:
        """Whether `get(key, ...)` would answer from memory now, without running its loader."""
        with self._lock:
            hit = self._items.get(key)
        return hit is not None and hit[0] > time.monotonic()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._items.pop(key, None)
