"""TtlCache: expiry, single-flight reloads with a bounded stale answer, and clears that win over loads."""

from __future__ import annotations

import threading
import time

from urbanbrain.core.ttlcache import TtlCache


def test_an_expired_entry_is_reloaded_once_while_others_get_the_old_value() -> None:
    cache: TtlCache[int] = TtlCache(ttl=0.05, grace=5.0)
    assert cache.get("k", lambda: 1) == 1
    time.sleep(0.06)
    started, release = threading.Event(), threading.Event()
    loads: list[int] = []

    def slow() -> int:
        loads.append(2)
        started.set()
        release.wait(5)
        return 2

    result: list[int] = []
    reloader = threading.Thread(target=lambda: result.append(cache.get("k", slow)))
    reloader.start()
    assert started.wait(5)
    assert cache.fresh("k")  # someone is reloading: callers may be served from memory
    assert [cache.get("k", lambda: 99) for _ in range(5)] == [1] * 5  # the old value, no second load
    release.set()
    reloader.join(5)
    assert result == [2] and loads == [2]
    assert cache.get("k", lambda: 99) == 2


def test_past_the_grace_period_the_caller_waits_for_a_fresh_value() -> None:
    cache: TtlCache[int] = TtlCache(ttl=0.02, grace=0.02)
    cache.get("k", lambda: 1)
    time.sleep(0.05)
    assert not cache.fresh("k")
    assert cache.get("k", lambda: 2) == 2


def test_a_clear_during_a_load_keeps_the_loaded_value_out() -> None:
    cache: TtlCache[str] = TtlCache(ttl=60)

    def load_then_clear() -> str:
        cache.clear()  # e.g. a key is revoked while its old row is being read
        return "stale"

    assert cache.get("k", load_then_clear) == "stale"
    assert not cache.fresh("k")
    assert cache.get("k", lambda: "new") == "new"
    assert cache.fresh("k")


def test_a_cold_key_is_loaded_once_however_many_ask_at_once() -> None:
    cache: TtlCache[int] = TtlCache(ttl=60)
    release = threading.Event()
    loads: list[int] = []

    def slow() -> int:
        loads.append(1)
        release.wait(5)
        return 7

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", slow))) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    release.set()
    for t in threads:
        t.join(5)
    assert results == [7] * 8 and loads == [1]


def test_a_failed_load_lets_the_waiters_load_for_themselves() -> None:
    cache: TtlCache[int] = TtlCache(ttl=60)
    started = threading.Event()

    def failing() -> int:
        started.set()
        time.sleep(0.1)
        raise RuntimeError("store unreachable")

    errors: list[Exception] = []

    def first() -> None:
        try:
            cache.get("k", failing)
        except RuntimeError as exc:
            errors.append(exc)

    t = threading.Thread(target=first)
    t.start()
    assert started.wait(5)
    assert cache.get("k", lambda: 3) == 3  # waited for the failed load, then loaded itself
    t.join(5)
    assert len(errors) == 1


def test_a_value_computed_before_an_invalidation_is_not_put_after_it() -> None:
    """`generation()` + `put()`: values decided outside `get` (many at once) are stored only when no
    clear or forget happened since the caller read the generation."""
    cache: TtlCache[str] = TtlCache(ttl=60)
    before = cache.generation()
    cache.forget("other")  # any invalidation, even of another key, while the value was being decided
    assert not cache.put("k", "stale", before)
    assert cache.peek("k") is None
    now = cache.generation()
    assert cache.put("k", "new", now) and cache.peek("k") == "new"
    cache.clear()
    assert cache.peek("k") is None and cache.generation() != now
