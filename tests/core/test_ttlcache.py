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
