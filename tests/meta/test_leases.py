"""Leases: one holder at a time, taken over only after expiry, renewed by the holder, lost when expired
and taken, released on exit; on SQLite here and on PostgreSQL in tests/sync/test_workers_share.py."""

from __future__ import annotations

import threading
from datetime import timedelta

from urbanbrain.core.clock import utcnow
from urbanbrain.meta import leases


def test_one_holder_at_a_time_and_takeover_after_expiry() -> None:
    a, b = leases.new_owner(), leases.new_owner()
    assert a != b
    assert leases.try_acquire("sync:x", a, ttl=30)
    assert not leases.try_acquire("sync:x", b, ttl=30)
    assert not leases.try_acquire("sync:x", a, ttl=30)  # no re-entry: a second acquisition is another owner
    later = utcnow() + timedelta(seconds=31)
    assert leases.try_acquire("sync:x", b, ttl=30, now=later)  # a's lease expired: b takes it
    assert not leases.renew("sync:x", a)  # a finds out it lost it
    assert leases.renew("sync:x", b)
    leases.release("sync:x", a)  # not a's to release
    assert [h.owner for h in leases.current("sync:")] == [b]
    leases.release("sync:x", b)
    assert leases.current() == []


def test_racing_threads_get_exactly_one_lease() -> None:
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def race() -> None:
        owner = leases.new_owner()
        barrier.wait()
        if leases.try_acquire("indicator:aqi", owner):
            winners.append(owner)

    threads = [threading.Thread(target=race) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_hold_renews_in_the_background_and_releases() -> None:
    held = leases.hold("maintain:t", ttl=0.6)
    assert held is not None
    with held:
        assert leases.hold("maintain:t", ttl=0.6) is None
        threading.Event().wait(1.0)  # past the first expiry: the heartbeat kept it
        assert leases.hold("maintain:t", ttl=0.6) is None
        assert not held.lost.is_set()
    again = leases.hold("maintain:t")
    assert again is not None
    with again:
        pass


def test_a_dead_process_of_this_machine_loses_its_lease_at_once() -> None:
    import socket
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = f"{socket.gethostname()}:{int(gone.stdout)}:abcd"
    assert leases.try_acquire("feed:air", dead, ttl=300)
    assert leases.try_acquire("feed:air", leases.new_owner(), ttl=300)  # no 300 s wait
    assert not leases.try_acquire("feed:air", leases.new_owner(), ttl=300)  # a live holder keeps it
