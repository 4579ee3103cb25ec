"""Changes made by another process reach a running gateway within seconds, through the cache stamp."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.capability.gateway_helpers import caller, publish_echo
from urbanbrain.capability import cache, consumers
from urbanbrain.meta.db import get_engine, session_scope
from urbanbrain.meta.models import ApiKey, CacheStamp
from urbanbrain.web.app import create_app

ECHO = "/capabilities/echo/v1/invoke"


@pytest.fixture
def client() -> Iterator[TestClient]:
    publish_echo()
    with TestClient(create_app()) as c:
        yield c


def _stamp() -> int:
    with session_scope() as s:
        return int(s.scalar(select(CacheStamp.version).where(CacheStamp.name == cache.STAMP)) or 0)


def _status_within(client: TestClient, key: str, status: int, seconds: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if client.post(ECHO, json={}, headers={"X-API-Key": key}).status_code == status:
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"no {status} within {seconds} s")


def test_every_change_moves_the_stamp_with_its_transaction(client: TestClient) -> None:
    before = _stamp()
    caller("stamp-app", "urban")  # a grant requested and approved: two changes
    assert _stamp() == before + 2
    consumers.revoke_key(consumers.list_keys("stamp-app")[0].id)
    assert _stamp() == before + 3


def test_a_key_revoked_by_another_process_is_refused_within_seconds(client: TestClient, ub_home: Path) -> None:
    app = caller("stamp-app", "urban")
    assert client.post(ECHO, json={}, headers={"X-API-Key": app.key}).status_code == 200
    key_id = consumers.list_keys("stamp-app")[0].id
    env = {**os.environ, "URBANBRAIN_HOME": str(ub_home)}
    subprocess.run([str(Path(sys.executable).parent / "urbanbrain"), "key", "revoke", key_id], env=env, check=True,
                   capture_output=True)
    # seen through the stamp, long before an entry's 60 s lifetime would have ended it (generous for slow machines)
    waited = _status_within(client, app.key, 401, 45)
    assert waited < cache.TTL_SECONDS


def test_a_change_behind_the_services_back_waits_for_the_ttl(client: TestClient,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    app = caller("stamp-app", "urban")
    assert client.post(ECHO, json={}, headers={"X-API-Key": app.key}).status_code == 200
    with get_engine().begin() as conn:  # an operator's raw SQL: no stamp
        conn.execute(update(ApiKey).values(revoked_at=ApiKey.created_at))
    time.sleep(cache.STAMP_SECONDS + 0.5)
    assert client.post(ECHO, json={}, headers={"X-API-Key": app.key}).status_code == 200  # still cached
    cache.invalidate()  # what `urbanbrain` does after its own changes; any process may call it
    assert client.post(ECHO, json={}, headers={"X-API-Key": app.key}).status_code == 401
