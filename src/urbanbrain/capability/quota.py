"""Quota counters: calls per minute and per day for each grant, in fixed windows.

Counters live in memory by default (one process) and in Redis when `URBANBRAIN_REDIS_URL` is set, so
several gateway processes share one budget. Both stores implement `QuotaStore.consume`, which counts
a call in every window and says whether it fits, atomically: in Redis one Lua script increments the
minute counter, checks it, then the day counter, with an expiry per window, so two processes can
never both take the last call. A call refused by the minute window does not use up the day's budget.

Fixed windows (the minute starting at :00) are simpler and cheaper than sliding ones; their known
weakness, up to twice the rate across a window boundary, is acceptable for fairness quotas.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from urbanbrain.core.errors import DependencyUnavailableError, QuotaExceededError
from urbanbrain.core.settings import get_settings


@dataclass(frozen=True)
class Window:
    """One counter: `limit` calls per `seconds`, named by `key` (e.g. the grant id and the unit)."""

    key: str
    seconds: int
    limit: int


def retry_after(window: Window, now: float) -> float:
    """Seconds until this fixed window ends, i.e. when a refused call may try again."""
    return window.seconds - (now % window.seconds)


class QuotaStore(Protocol):
    def consume(self, windows: list[Window], now: float | None = None) -> Window | None:
        """Count one call in each window in order; return the first window it does not fit (and count
        it nowhere further), or None when the call is allowed."""
        ...


class MemoryQuotaStore:
    """Counters in this process: right for one gateway process, wrong for several (use Redis)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int, int], int] = {}
        self._lock = threading.Lock()
        self._calls = 0

    def consume(self, windows: list[Window], now: float | None = None) -> Window | None:
        now = time.time() if now is None else now
        with self._lock:
            self._calls += 1
            if self._calls % 10_000 == 0:
                self._prune(now)
            taken: list[tuple[str, int, int]] = []
            for window in windows:
                slot = (window.key, window.seconds, int(now // window.seconds))
                count = self._counts.get(slot, 0) + 1
                if count > window.limit:
                    for earlier in taken:  # refused: give back what earlier windows counted
                        self._counts[earlier] -= 1
                    return window
                self._counts[slot] = count
                taken.append(slot)
            return None

    def _prune(self, now: float) -> None:
        for slot in [s for s in self._counts if s[2] < int(now // s[1])]:
            del self._counts[slot]


# KEYS: one counter per window; ARGV: per window its limit and expiry. Returns 0 when allowed, else the
# 1-based index of the window that refused. Earlier windows are given back on refusal, as in memory.
_CONSUME = """
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('EXPIRE', key, ARGV[2 * i]) end
  if count > tonumber(ARGV[2 * i - 1]) then
    redis.call('DECR', key)
    for j = 1, i - 1 do redis.call('DECR', KEYS[j]) end
    return i
  end
end
return 0
"""


class RedisQuotaStore:
    """Counters in Redis shared by every gateway process; keys expire with their window."""

    def __init__(self, url: str, prefix: str = "ub") -> None:
        import redis

        self.prefix = prefix
        self.client: Any = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._script = self.client.register_script(_CONSUME)

    def consume(self, windows: list[Window], now: float | None = None) -> Window | None:
        import redis

        now = time.time() if now is None else now
        keys = [f"{self.prefix}:quota:{w.key}:{w.seconds}:{int(now // w.seconds)}" for w in windows]
        args: list[int] = []
        for w in windows:
            args += [w.limit, w.seconds + 60]
        try:
            refused = int(self._script(keys=keys, args=args))
        except redis.RedisError as exc:
            # the store being down says nothing about the call: a transient 503, never a 4xx blaming the caller
            raise DependencyUnavailableError(f"the quota store (Redis) is unavailable: {type(exc).__name__}",
                                             dependency="redis",
                                             hint="retry shortly; operators: check that Redis is running "
                                                  "and URBANBRAIN_REDIS_URL") from None
        return windows[refused - 1] if refused else None


@lru_cache(maxsize=4)
def _store_for(url: str | None, prefix: str) -> QuotaStore:
    return RedisQuotaStore(url, prefix) if url else MemoryQuotaStore()


def get_quota_store() -> QuotaStore:
    """Redis when `URBANBRAIN_REDIS_URL` is set, else this process's memory (one store per setting)."""
    settings = get_settings()
    return _store_for(settings.redis_url, settings.redis_prefix)


def reset_quota_stores() -> None:
    """Forget stores (tests switching settings)."""
    _store_for.cache_clear()


def enforce(grant_id: str, per_minute: int, per_day: int, store: QuotaStore | None = None) -> None:
    """Count one call against a grant, or raise 429 with the seconds until its window reopens."""
    now = time.time()
    windows = [Window(f"{grant_id}:minute", 60, per_minute), Window(f"{grant_id}:day", 86_400, per_day)]
    refused = (store or get_quota_store()).consume(windows, now)
    if refused is not None:
        unit = "minute" if refused.seconds == 60 else "day"
        wait = retry_after(refused, now)
        raise QuotaExceededError(f"quota exceeded: {refused.limit} calls per {unit}", grant=grant_id,
                                 retry_after=int(wait) + 1,
                                 hint=f"retry after {int(wait) + 1} s, or ask the owner for a larger quota")
