"""Inline built-ins: answered on the event loop once their rules are cached, with every rule still applied."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.capability.gateway_helpers import caller, publish_echo
from urbanbrain.capability import catalog, consumers, gateway
from urbanbrain.capability.base import BUILTINS, BuiltinSpec
from urbanbrain.capability.metering import flush_all
from urbanbrain.capability.quota import reset_quota_stores
from urbanbrain.core.settings import get_settings
from urbanbrain.govern import audit
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import AuditEntry, UsageRecord
from urbanbrain.web.app import create_app

THREADS: list[str] = []


def _where(params: dict[str, Any]) -> dict[str, Any]:
    THREADS.append(threading.current_thread().name)
    return {"n": params.get("n", 0)}


def _publish(name: str, inline: bool) -> str:
    BUILTINS.add(name, BuiltinSpec(
        name=name, title_zh="线程", title_en="Thread", description_zh="", description_en="", category="utility",
        input_schema={"type": "object"}, output_schema={"type": "object"}, func=_where, inline=inline))
    assert catalog.publish_builtins([name])["published"] == [name]
    return f"/capabilities/{name}/v1/invoke"


@pytest.fixture
def client() -> Iterator[TestClient]:
    THREADS.clear()
    with TestClient(create_app()) as c:
        yield c


def test_a_cold_call_goes_to_the_pool_and_a_warm_inline_call_stays_on_the_loop(client: TestClient) -> None:
    path = _publish("test_inline_where", inline=True)
    app = caller("where-app", "urban", "test_inline_where")
    assert not gateway.runs_inline("test_inline_where", 1, app.key)
    for n in range(3):
        assert client.post(path, json={"n": n}, headers={"X-API-Key": app.key}).json()["data"] == {"n": n}
    assert THREADS[0].startswith("ub-gateway")  # nothing cached yet: the metadata store is read off the loop
    assert not any(t.startswith("ub-gateway") for t in THREADS[1:])
    assert gateway.runs_inline("test_inline_where", 1, app.key)


def test_a_builtin_not_marked_inline_always_runs_on_the_pool(client: TestClient) -> None:
    path = _publish("test_pool_where", inline=False)
    app = caller("pool-app", "urban", "test_pool_where")
    for n in range(3):
        assert client.post(path, json={"n": n}, headers={"X-API-Key": app.key}).status_code == 200
    assert len(THREADS) == 3 and all(t.startswith("ub-gateway") for t in THREADS)
    assert not gateway.runs_inline("test_pool_where", 1, app.key)


def test_inline_calls_are_still_checked_metered_and_audited(client: TestClient) -> None:
    publish_echo()
    app = caller("echo-app", "urban", per_minute=4)
    path = "/capabilities/echo/v1/invoke"
    statuses = [client.post(path, json={"i": i}, headers={"X-API-Key": app.key}).status_code for i in range(6)]
    assert statuses == [200, 200, 200, 200, 429, 429]  # the quota counts inline calls too
    assert client.post(path, json={}, headers={"X-API-Key": app.key + "x"}).status_code == 401
    consumers.revoke_key(consumers.list_keys("echo-app")[0].id)
    assert client.post(path, json={}, headers={"X-API-Key": app.key}).status_code == 401  # revocation is seen at once
    flush_all()
    audit.flush()
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(UsageRecord)) == 8
        assert s.scalar(select(func.count()).select_from(AuditEntry)
                        .where(AuditEntry.action == "capability.call")) == 8


def test_shared_redis_quotas_keep_every_call_off_the_loop(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URBANBRAIN_REDIS_URL", "redis://127.0.0.1:6379/15")
    monkeypatch.setenv("URBANBRAIN_REDIS_PREFIX", f"ubtest_{uuid.uuid4().hex[:10]}")
    get_settings.cache_clear()
    reset_quota_stores()
    try:
        path = _publish("test_redis_where", inline=True)
        app = caller("redis-app", "urban", "test_redis_where")
        for n in range(3):
            assert client.post(path, json={"n": n}, headers={"X-API-Key": app.key}).status_code == 200
        assert all(t.startswith("ub-gateway") for t in THREADS)  # a Redis round trip would block the loop
    finally:
        monkeypatch.delenv("URBANBRAIN_REDIS_URL")
        get_settings.cache_clear()
        reset_quota_stores()
