"""The writer process: metering and audit batches written by a child, nothing lost when it dies."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.capability.gateway_helpers import caller, publish_echo
from urbanbrain.capability.metering import flush_all
from urbanbrain.core.settings import get_settings
from urbanbrain.govern import audit
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import AuditEntry, UsageRecord
from urbanbrain.meta.writer import WriterError, writer
from urbanbrain.web.app import create_app

ECHO = "/capabilities/echo/v1/invoke"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("URBANBRAIN_WRITER_PROCESS", "true")
    get_settings.cache_clear()
    publish_echo()
    with TestClient(create_app()) as c:
        yield c
    writer().close()
    get_settings.cache_clear()


def _counts() -> tuple[int, int]:
    flush_all()
    audit.flush()
    with session_scope() as s:
        usage = s.scalar(select(func.count()).select_from(UsageRecord)) or 0
        calls = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "capability.call"))
    return int(usage), int(calls or 0)


def _call(client: TestClient, key: str, n: int) -> None:
    for i in range(n):
        assert client.post(ECHO, json={"i": i}, headers={"X-API-Key": key}).status_code == 200


def test_batches_are_written_by_a_child_process(client: TestClient) -> None:
    app = caller("echo-app", "urban")
    _call(client, app.key, 25)
    assert _counts() == (25, 25)
    child = writer()._proc
    assert child is not None and child.poll() is None and child.pid != os.getpid()
    assert audit.verify().ok


def test_a_killed_writer_loses_nothing(client: TestClient) -> None:
    app = caller("echo-app", "urban")
    _call(client, app.key, 10)
    assert _counts() == (10, 10)
    first = writer()._proc
    first.kill()
    first.wait(5)
    _call(client, app.key, 10)
    assert _counts() == (20, 20)  # written in process or by a new child, never dropped
    assert audit.verify().ok


def test_a_batch_the_store_refuses_is_an_error_naming_the_job(client: TestClient, tmp_path) -> None:
    bad = f"sqlite:///{tmp_path}/missing/dir/metadata.db"
    with pytest.raises(WriterError, match="usage batch"):
        writer().run("usage", bad, [])
