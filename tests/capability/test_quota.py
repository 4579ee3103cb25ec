"""Quota stores: one contract for memory and Redis, and one budget shared by two gateway processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.capability.gateway_helpers import caller, publish_echo
from urbanbrain.capability.metering import usage_stats
from urbanbrain.capability.quota import MemoryQuotaStore, QuotaStore, RedisQuotaStore, Window, enforce
from urbanbrain.core.errors import QuotaExceededError

REDIS_URL = "redis://127.0.0.1:6379/15"


class QuotaStoreContract:
    """Every quota store passes these; subclasses provide the `store` fixture."""

    @pytest.fixture
    def store(self) -> QuotaStore:
        raise NotImplementedError

    def test_counts_up_to_the_limit_per_window(self, store: QuotaStore) -> None:
        key = uuid.uuid4().hex
        now = 1_000_040.0  # 20 s into a minute
        windows = [Window(f"{key}:m", 60, 3), Window(f"{key}:d", 86_400, 5)]
        assert [store.consume(windows, now) for _ in range(4)] == [None, None, None, windows[0]]
        assert store.consume(windows, now + 45) is None  # the next minute opens a new window
        assert store.consume(windows, now + 46) is None
        assert store.consume(windows, now + 47) == windows[1]  # 5 per day: minute refusals did not count

    def test_windows_are_per_key(self, store: QuotaStore) -> None:
        a, b = Window(uuid.uuid4().hex, 60, 1), Window(uuid.uuid4().hex, 60, 1)
        assert store.consume([a], 120.0) is None
        assert store.consume([b], 120.0) is None
        assert store.consume([a], 121.0) == a


class TestMemoryQuotaStore(QuotaStoreContract):
    @pytest.fixture
    def store(self) -> QuotaStore:
        return MemoryQuotaStore()


class TestRedisQuotaStore(QuotaStoreContract):
    @pytest.fixture
    def store(self) -> QuotaStore:
        store = RedisQuotaStore(REDIS_URL, prefix=f"ubtest_{uuid.uuid4().hex[:8]}")
        try:
            store.client.ping()
        except Exception as exc:
            pytest.fail(f"Redis on 127.0.0.1:6379 is required: {exc}")
        return store


def test_enforce_raises_429_with_seconds_until_the_window_reopens() -> None:
    store = MemoryQuotaStore()
    grant = uuid.uuid4().hex
    for _ in range(2):
        enforce(grant, per_minute=2, per_day=100, store=store)
    with pytest.raises(QuotaExceededError) as info:
        enforce(grant, per_minute=2, per_day=100, store=store)
    assert 1 <= info.value.context["retry_after"] <= 61


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def two_gateways(ub_home: Path) -> Iterator[list[str]]:
    """Two uvicorn processes of the app on the same metadata and the same Redis, with a unique prefix."""
    env = {**os.environ, "URBANBRAIN_HOME": str(ub_home), "URBANBRAIN_REDIS_URL": REDIS_URL,
           "URBANBRAIN_REDIS_PREFIX": f"ubtest_{uuid.uuid4().hex[:10]}"}
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    for _ in range(2):
        port = _free_port()
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "urbanbrain.web.app:create_app", "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1", "--log-level", "warning"], env=env))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        for url in urls:
            while True:
                try:
                    if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"gateway at {url} did not start")
                time.sleep(0.2)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)


def test_two_gateway_processes_share_one_quota_in_redis(two_gateways: list[str]) -> None:
    publish_echo()
    app = caller("shared-app", "urban", per_minute=10)
    if time.time() % 60 > 45:  # all 15 calls must fall in one fixed minute
        time.sleep(61 - time.time() % 60)
    codes = []
    for i in range(15):
        r = httpx.post(f"{two_gateways[i % 2]}/capabilities/echo/v1/invoke", json={"i": i},
                       headers={"X-API-Key": app.key}, timeout=10)
        codes.append(r.status_code)
        if r.status_code == 429:
            assert int(r.headers["Retry-After"]) >= 1
    assert codes.count(200) == 10 and codes.count(429) == 5, codes
    assert codes[:10] == [200] * 10  # in order: the budget is one, not one per process


def test_the_shared_calls_are_metered_by_both_processes(two_gateways: list[str]) -> None:
    publish_echo()
    app = caller("metered-app", "urban", per_minute=1000)
    for i in range(6):
        httpx.post(f"{two_gateways[i % 2]}/capabilities/echo/v1/invoke", json={}, headers={"X-API-Key": app.key})
    deadline = time.monotonic() + 60
    while usage_stats().total_calls < 6 and time.monotonic() < deadline:
        time.sleep(0.2)  # each process flushes its buffer within a second
    assert usage_stats().total_calls == 6
