"""`/metrics`: Prometheus figures of syncs, queries, gateway calls, cases and feeds; open to this machine,
to other machines only with a platform admin's token; the worker serves them on `--metrics-port`; JSON
logs with URBANBRAIN_LOG_FORMAT=json."""

from __future__ import annotations

import io
import json
import logging
import socket
import sqlite3
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.sync.helpers import register
from urbanbrain.capability import gateway
from urbanbrain.core.errors import UrbanBrainError
from urbanbrain.core.logs import configure_logging
from urbanbrain.govern import users
from urbanbrain.govern.principals import ANALYST, PLATFORM_ADMIN, SYSTEM
from urbanbrain.govern.query import run_query
from urbanbrain.meta.departments import add_department
from urbanbrain.sync.service import sync_system
from urbanbrain.web import metrics as web_metrics
from urbanbrain.web.app import create_app

PASSWORD = "a long enough passphrase 42"


def _value(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture
def synced(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, str(i)) for i in range(5)])
    conn.commit()
    conn.close()
    register("probe", "sqlite", {"url": f"sqlite:///{db}"}, dept="market")
    web_metrics._platform = (0.0, [])


def test_figures_move_with_syncs_queries_and_gateway_calls(synced: None) -> None:
    client = TestClient(create_app())  # Starlette's test client counts as this machine
    before = client.get("/metrics")
    assert before.status_code == 200 and before.headers["content-type"].startswith("text/plain")
    sync_system("probe", by=SYSTEM)
    run_query("SELECT count(*) FROM market.probe.t", principal=SYSTEM)
    with pytest.raises(UrbanBrainError):
        gateway.invoke("nothing", 1, {}, "not-a-key", status_of=lambda _e: 401)
    after = client.get("/metrics").text
    for sample, grew in [('urbanbrain_sync_runs_total{status="succeeded"}', 1),
                         ('urbanbrain_sync_rows_total{outcome="written"}', 5),
                         ('urbanbrain_queries_total{engine="duckdb",outcome="ok"}', 1),
                         ('urbanbrain_gateway_calls_total{status="401"}', 1)]:
        assert _value(after, sample) - _value(before.text, sample) == grew, sample
    assert "urbanbrain_query_seconds_count" in after and "urbanbrain_cases" in after


def test_other_machines_need_a_platform_admins_token(synced: None) -> None:
    add_department("Transport", "transport")
    users.add_user("root.admin", PASSWORD, roles=[(PLATFORM_ADMIN, None)])
    users.add_user("ana", PASSWORD, roles=[(ANALYST, "transport")])
    admin = users.create_token("root.admin", by=SYSTEM).token
    analyst = users.create_token("ana", by=SYSTEM).token
    remote = TestClient(create_app(), client=("203.0.113.7", 40000))
    assert remote.get("/metrics").status_code == 401
    assert remote.get("/metrics", headers={"Authorization": f"Bearer {analyst}"}).status_code == 403
    ok = remote.get("/metrics", headers={"Authorization": f"Bearer {admin}"})
    assert ok.status_code == 200 and "urbanbrain_sync_runs" in ok.text
    assert TestClient(create_app(), client=("127.0.0.1", 40000)).get("/metrics").status_code == 200


def test_the_worker_serves_metrics_on_loopback(synced: None) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server, thread = web_metrics.serve_metrics(port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            assert response.status == 200 and b"urbanbrain_sync_runs" in response.read()
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_json_logs_one_object_a_line() -> None:
    stream = io.StringIO()
    handler = configure_logging(fmt="json")
    handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        logging.getLogger("urbanbrain.worker").info("sync of %s finished", "probe", extra={"rows": 5})
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("urbanbrain.sync").exception("crashed")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["msg"] == "sync of probe finished" and lines[0]["rows"] == 5
    assert lines[0]["level"] == "info" and lines[0]["logger"] == "urbanbrain.worker" and "ts" in lines[0]
    assert lines[1]["level"] == "error" and "ValueError: boom" in lines[1]["exc"]
