"""Every error path of the gateway, through the real FastAPI app: 401, 403, 404, 422, 429, 504."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.capability.gateway_helpers import caller, publish_echo
from urbanbrain.capability import catalog, consumers, grants
from urbanbrain.capability.base import BUILTINS, BuiltinSpec
from urbanbrain.capability.catalog import CapabilitySpec
from urbanbrain.capability.metering import flush_all
from urbanbrain.core.clock import utcnow
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import ApiKey, Grant, UsageRecord
from urbanbrain.web.app import create_app

ECHO = "/capabilities/echo/v1/invoke"


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


@pytest.fixture
def echo() -> None:
    publish_echo()


def call(client: TestClient, key: str | None, body: Any = None, path: str = ECHO) -> Any:
    headers = {"X-API-Key": key} if key is not None else {}
    return client.post(path, json=body if body is not None else {"message": "你好"}, headers=headers)


def test_an_approved_grant_calls_echo(client: TestClient, echo: None) -> None:
    app = caller("grid-app", "urban")
    r = call(client, app.key)
    assert r.status_code == 200
    assert r.json() == {"capability": "echo", "version": 1, "data": {"echo": {"message": "你好"}},
                        "rows": None, "truncated": False}


def test_missing_wrong_revoked_and_expired_keys_are_401(client: TestClient, echo: None) -> None:
    app = caller("grid-app", "urban")
    assert call(client, None).status_code == 401
    assert call(client, "").status_code == 401
    assert call(client, app.key + "x").status_code == 401
    assert call(client, "ubk_" + "A" * 43).status_code == 401
    assert call(client, app.key).status_code == 200

    expiring = consumers.create_key("grid-app", expires_days=1).key
    assert call(client, expiring).status_code == 200
    with session_scope() as s:
        past = utcnow() - timedelta(seconds=1)
        s.execute(update(ApiKey).where(ApiKey.prefix == expiring[:12]).values(expires_at=past))
    from urbanbrain.capability.cache import invalidate

    invalidate()  # another process changed the row; this one sees it within the cache TTL, the test now
    r = call(client, expiring)
    assert r.status_code == 401 and "expired" in r.json()["message"]

    key_id = consumers.list_keys("grid-app")[0].id
    consumers.revoke_key(key_id)
    r = call(client, app.key)
    assert r.status_code == 401 and "revoked" in r.json()["message"]
    assert r.headers["WWW-Authenticate"].startswith("ApiKey")


def test_no_requested_refused_or_expired_grant_is_403(client: TestClient, echo: None) -> None:
    nobody = caller("no-grant", "urban", capability=None)
    assert call(client, nobody.key).status_code == 403
    waiting = caller("waiting", "urban", approve=False)
    r = call(client, waiting.key)
    assert r.status_code == 403 and "requested" in r.json()["message"]
    assert waiting.grant_id
    grants.refuse_grant(waiting.grant_id, reason="no business need", department="bigdata")
    assert call(client, waiting.key).status_code == 403

    later = caller("expiring", "urban")
    assert call(client, later.key).status_code == 200
    with session_scope() as s:
        s.execute(update(Grant).where(Grant.id == later.grant_id).values(expires_at=utcnow() - timedelta(seconds=1)))
    from urbanbrain.capability.cache import invalidate

    invalidate()
    r = call(client, later.key)
    assert r.status_code == 403 and "expired" in r.json()["message"]


def test_only_the_owning_department_decides_a_grant(echo: None) -> None:
    app = caller("grid-app", "urban", approve=False)
    assert app.grant_id
    from urbanbrain.core.errors import PermissionDeniedError

    with pytest.raises(PermissionDeniedError):
        grants.approve_grant(app.grant_id, department="urban")
    assert grants.approve_grant(app.grant_id, department="bigdata").status == "approved"


def test_unknown_and_draft_capabilities_are_404(client: TestClient, echo: None) -> None:
    app = caller("grid-app", "urban")
    assert call(client, app.key, path="/capabilities/nope/v1/invoke").status_code == 404
    assert call(client, app.key, path="/capabilities/echo/v9/invoke").status_code == 404


def test_over_quota_is_429_with_retry_after(client: TestClient, echo: None) -> None:
    app = caller("grid-app", "urban", per_minute=3)
    codes = [call(client, app.key).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    r = call(client, app.key)
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 61
    assert r.json()["error"] == "QuotaExceededError"


@pytest.fixture
def square() -> None:
    spec = BuiltinSpec(
        name="test_square", title_zh="平方", title_en="Square", description_zh="", description_en="",
        category="utility",
        input_schema={"type": "object", "properties": {"x": {"type": "integer"}, "unit": {"enum": ["m", "km"]}},
                      "required": ["x"], "additionalProperties": False},
        output_schema={"type": "object"}, func=lambda p: {"square": p["x"] ** 2})
    BUILTINS.add("test_square", spec)
    assert catalog.publish_builtins(["test_square"])["published"] == ["test_square"]


@pytest.mark.parametrize(("body", "parameter"), [
    ({}, "x"),
    ({"x": "seven"}, "x"),
    ({"x": 7, "unit": "mile"}, "unit"),
    ({"x": 7, "colour": "red"}, "colour"),
    ([1, 2], "(body)"),
])
def test_parameters_failing_the_schema_are_422_naming_the_parameter(
        client: TestClient, square: None, body: Any, parameter: str) -> None:
    app = caller("calc-app", "urban", "test_square")
    r = call(client, app.key, body, path="/capabilities/test_square/v1/invoke")
    assert r.status_code == 422
    assert r.json()["parameter"] == parameter
    assert parameter in r.json()["message"] or parameter == "(body)"
    assert call(client, app.key, {"x": 7}, path="/capabilities/test_square/v1/invoke").json()["data"] == {"square": 49}


def test_a_body_that_is_not_json_is_422(client: TestClient, echo: None) -> None:
    app = caller("grid-app", "urban")
    r = client.post(ECHO, content=b"{not json", headers={"X-API-Key": app.key})
    assert r.status_code == 422


class _Service(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []  # noqa: RUF012 - shared with the test on purpose

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        _Service.seen.append(dict(self.headers))
        payload = json.dumps({"district": "岳麓区", "asked": body}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args: Any) -> None:
        pass


def _proxy(name: str, url: str, timeout: float, secrets: dict[str, Any] | None = None) -> None:
    catalog.register_capability(CapabilitySpec(
        name=name, owner="bigdata", kind="http_proxy", category="spatial",
        input_schema={"type": "object", "properties": {"address": {"type": "string"}}},
        implementation={"url": url, "method": "POST", "timeout": timeout, "retries": 2}, secrets=secrets))
    catalog.approve_capability(name, approver="test", department="bigdata")


def test_http_proxy_forwards_with_its_secret_token(client: TestClient, echo: None) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Service)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _proxy("geocode", f"http://127.0.0.1:{server.server_port}/geocode", 5, {"token": "s3cret-token"})
        shown = catalog.get_capability("geocode").model_dump_json()
        assert "s3cret-token" not in shown
        app = caller("map-app", "urban", "geocode")
        r = call(client, app.key, {"address": "麓山南路"}, path="/capabilities/geocode/v1/invoke")
        assert r.status_code == 200
        assert r.json()["data"] == {"district": "岳麓区", "asked": {"address": "麓山南路"}}
        assert _Service.seen[-1]["Authorization"] == "Bearer s3cret-token"
    finally:
        server.shutdown()


def test_a_hanging_proxy_target_is_504_not_a_hung_worker(client: TestClient, echo: None) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections (the kernel does), never answers
    try:
        _proxy("slow_service", f"http://127.0.0.1:{listener.getsockname()[1]}/x", 0.5)
        app = caller("slow-app", "urban", "slow_service")
        start = time.perf_counter()
        r = call(client, app.key, {"address": "x"}, path="/capabilities/slow_service/v1/invoke")
        assert r.status_code == 504
        assert time.perf_counter() - start < 60  # a hang guard: the target never answers
        assert r.json()["error"] == "UpstreamTimeoutError"
        listener.setblocking(False)
        connections = []
        with contextlib.suppress(BlockingIOError):
            while True:
                connections.append(listener.accept()[0])
        assert len(connections) == 1  # a timeout is not retried: one connection, not two
        for conn in connections:
            conn.close()
    finally:
        listener.close()


def test_keys_never_appear_in_logs_error_bodies_or_usage(client: TestClient, echo: None,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app = caller("grid-app", "urban", per_minute=2)
    bodies = [call(client, app.key).text for _ in range(3)]  # 200, 200, 429
    bodies.append(call(client, app.key[:-1] + "Z").text)  # wrong
    consumers.revoke_key(consumers.list_keys("grid-app")[0].id)
    bodies.append(call(client, app.key).text)  # revoked
    assert flush_all() >= 0
    with session_scope() as s:
        errors = [u.error or "" for u in s.query(UsageRecord).all()]
    for secret in (app.key, app.key[:-1] + "Z", app.key[4:20]):
        assert secret not in caplog.text
        assert all(secret not in b for b in bodies)
        assert all(secret not in e for e in errors)


def test_malformed_oversized_and_wrong_method_calls_get_the_error_shape(echo: None) -> None:
    app = caller("grid-app", "urban")
    with TestClient(create_app(max_body_bytes=2_000)) as small:
        bad = small.post(ECHO, content=b"{not json", headers={"X-API-Key": app.key})
        assert bad.status_code == 422 and bad.json()["error"] == "ValidationError"
        big = small.post(ECHO, json={"message": "x" * 5_000}, headers={"X-API-Key": app.key})
        assert big.status_code == 413 and big.json()["error"] == "PayloadTooLargeError"
        get = small.get(ECHO, headers={"X-API-Key": app.key})
        assert get.status_code == 405 and get.headers["allow"] == "POST"
        # the refused calls did no capability work; the next one still answers
        assert small.post(ECHO, json={"message": "ok"}, headers={"X-API-Key": app.key}).status_code == 200
