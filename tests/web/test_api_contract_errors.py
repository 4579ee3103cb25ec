"""The API's error contract, case by case: the one error shape, bounds refused before any service runs,
and outages answered 503 with Retry-After (Redis, the metadata database), with health and readiness
naming the dependency that is down. The fuzzing of every operation is in test_api_contract.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.capability.gateway_helpers import caller, publish_echo
from urbanbrain.capability.quota import reset_quota_stores
from urbanbrain.core.settings import get_settings
from urbanbrain.web.app import create_app
from urbanbrain.web.error_docs import document_errors
from urbanbrain.web.errors import ErrorFormat, use_own_error_format
from urbanbrain.web.open311 import ERROR_SCHEMA as OPEN311_ERROR_SCHEMA

ECHO = "/capabilities/echo/v1/invoke"
CLOSED_PORT = "127.0.0.1:9"  # discard: nothing listens there on this machine


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


def assert_error_shape(response: Any, status: int, error: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert {"error", "message", "hint", "transient"} <= set(body), body
    assert "detail" not in body
    if error is not None:
        assert body["error"] == error, body
    return body


def test_unknown_routes_methods_and_unreadable_bodies_answer_in_the_one_shape(client: TestClient) -> None:
    assert_error_shape(client.get("/api/no-such-thing"), 404, "NotFoundError")
    wrong_method = client.delete("/api/departments")
    assert_error_shape(wrong_method, 405, "MethodNotAllowed")
    assert set(wrong_method.headers["Allow"].split(", ")) >= {"GET", "POST"}  # both routes of the path
    headers = {"content-type": "application/json"}
    assert_error_shape(client.post("/api/departments", content=b"{not json", headers=headers), 400,
                       "MalformedRequestError")
    assert_error_shape(client.post("/api/departments", content=b"code=x", headers={"content-type": "text/plain"}),
                       400)
    assert_error_shape(client.post("/api/departments", json=[1, 2]), 400)
    deep = b"[" * 100_000 + b"]" * 100_000
    assert_error_shape(client.post("/api/departments", content=deep, headers=headers), 400)
    nested = {"name": "x", "department": "y", "kind": "sqlite", "options": json.loads('{"a":' * 400 + "1" + "}" * 400)}
    assert client.post("/api/systems", json=nested).status_code < 500
    huge = client.post("/api/sql", json={"sql": "SELECT '" + "x" * 1_100_000 + "'"})
    assert_error_shape(huge, 413, "PayloadTooLargeError")


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/consumers/grid-app/keys", {"expires_days": 3_000_000}, "expires_days"),
    ("/api/grants", {"consumer": "a", "capability": "b", "per_day": 9223372036854775808}, "per_day"),
    ("/api/grants", {"consumer": "a", "capability": "b", "per_minute": 9223372036854775808}, "per_minute"),
    ("/api/grants", {"consumer": "a", "capability": "b", "version": 9223372036854775808}, "version"),
    ("/api/grants/grant_x/approve", {"expires_days": 3_000_000}, "expires_days"),
    ("/api/departments", {"name": "x", "code": "a" * 64}, "code"),
    ("/api/departments", {"name": "x", "code": "ok\u0000"}, "code"),
    ("/api/sql", {"sql": "SELECT 1", "max_rows": 9223372036854775808}, "max_rows"),
])
def test_out_of_bounds_fields_are_422_naming_the_field(client: TestClient, path: str, body: dict[str, Any],
                                                       field: str) -> None:
    answer = assert_error_shape(client.post(path, json=body), 422, "ValidationError")
    assert answer["parameter"] == field and field in answer["message"]


@pytest.mark.parametrize(("path", "field"), [
    ("/api/capabilities/echo?version=9223372036854775808", "version"),
    ("/api/usage?since=0.5", "since"),
    ("/api/usage?since=0001-01-01T00:00:00%2B01:00", "since"),
    ("/api/datasets?search=" + "x" * 201, "search"),
    ("/api/systems/" + "s" * 300, "name"),
])
def test_out_of_bounds_parameters_are_422_naming_them(client: TestClient, path: str, field: str) -> None:
    answer = assert_error_shape(client.get(path), 422, "ValidationError")
    assert answer["parameter"] == field


def test_every_operation_documents_its_errors_with_the_one_schema(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            expected = {"422", "500", "503"} | ({"400", "413"} if "requestBody" in operation else set())
            if path not in ("/api/health", "/api/ready"):
                expected |= {"401", "403", "404"}
            assert expected <= set(responses), (method, path, sorted(responses))
            own = path.startswith("/open311/")  # Open311 keeps the spec's `[{"code", "description"}]`
            for status, response in responses.items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == (OPEN311_ERROR_SCHEMA if own else {"$ref": "#/components/schemas/Error"})
            assert "Retry-After" in responses["503"]["headers"]
    assert {"424", "502", "504"} <= set(doc["paths"]["/api/systems/{name}/test"]["post"]["responses"])
    grants = doc["components"]["schemas"]["GrantCreate"]["properties"]
    assert grants["per_day"]["maximum"] < 2**31 and grants["purpose"]["anyOf"][0]["maxLength"] == 4000


def test_a_prefix_can_keep_its_own_error_format() -> None:
    """Open311 prescribes `[{"code", "description"}]`: its routes opt out of the platform's shape."""
    from fastapi import APIRouter
    from fastapi.responses import JSONResponse

    app = create_app()
    schema = {"type": "array", "items": {"type": "object", "properties": {"code": {"type": "integer"}}}}
    use_own_error_format(app, ErrorFormat(
        "/own-format", lambda status, body, headers, path: JSONResponse(
            [{"code": status, "description": body["message"]}], status_code=status, headers=headers), schema))
    router = APIRouter()

    @router.get("/own-format/v2/{rid}.json")
    def one(rid: int) -> dict[str, int]:
        return {"id": rid}

    app.include_router(router)
    with TestClient(app) as c:
        assert c.get("/own-format/v2/abc.json").json()[0]["code"] == 422
        assert c.get("/api/runs/nope").json()["error"] == "NotFoundError"
        doc = c.get("/openapi.json").json()
    assert doc["paths"]["/own-format/v2/{rid}.json"]["get"]["responses"]["422"]["content"][
        "application/json"]["schema"] == schema
    plain = document_errors({"paths": {"/x": {"get": {"responses": {}}}}}, own_formats=[ErrorFormat("/x", print)])
    assert plain["paths"]["/x"]["get"]["responses"] == {}  # a format without a schema is left alone


def test_redis_down_is_503_with_retry_after_and_health_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URBANBRAIN_REDIS_URL", f"redis://{CLOSED_PORT}/0")
    get_settings.cache_clear()
    reset_quota_stores()
    try:
        with TestClient(create_app(), raise_server_exceptions=False) as c:
            publish_echo()
            app = caller("grid-app", "urban")
            r = c.post(ECHO, json={"message": "hi"}, headers={"X-API-Key": app.key})
            body = assert_error_shape(r, 503, "DependencyUnavailableError")
            assert body["transient"] is True and body["dependency"] == "redis" and int(r.headers["Retry-After"]) > 0
            health = c.get("/api/health")
            assert health.status_code == 200 and health.json()["status"] == "degraded"
            states = {d["name"]: d["status"] for d in health.json()["dependencies"]}
            assert states == {"metadata": "ok", "redis": "down", "nats": "unused"}
            ready = c.get("/api/ready")
            assert_error_shape(ready, 503, "DependencyUnavailableError")
            assert "redis" in ready.json()["message"] and ready.headers["Retry-After"]
    finally:
        reset_quota_stores()


def test_redis_up_is_ready() -> None:
    with TestClient(create_app()) as c:
        assert c.get("/api/ready").json()["ready"] is True
        assert c.get("/api/health").json()["status"] == "ok"


@pytest.mark.postgres
def test_metadata_database_down_is_503_with_retry_after(pg_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URBANBRAIN_DATABASE_URL", pg_db)
    get_settings.cache_clear()
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        assert c.get("/api/departments").status_code == 200
        name = pg_db.rsplit("/", 1)[1]
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')  # the database goes away under the app
        r = c.get("/api/departments")
        body = assert_error_shape(r, 503, "DependencyUnavailableError")
        assert body["dependency"] == "metadata" and body["transient"] is True and r.headers["Retry-After"]
        health = c.get("/api/health")
        assert health.status_code == 200
        assert {d["name"]: d["status"] for d in health.json()["dependencies"]}["metadata"] == "down"
        assert_error_shape(c.get("/api/ready"), 503, "DependencyUnavailableError")


def test_sync_now_of_an_unreachable_system_is_503_naming_the_run(client: TestClient) -> None:
    assert client.post("/api/departments", json={"name": "Water", "code": "water"}).status_code == 201
    created = client.post("/api/systems", json={"name": "meters", "department": "water", "kind": "postgres",
                                                "options": {"url": f"postgresql://reader@{CLOSED_PORT}/meters"}})
    assert created.status_code == 201, created.text
    r = client.post("/api/systems/meters/sync")
    body = assert_error_shape(r, 503, "DependencyUnavailableError")
    assert body["transient"] is True and body["dependency"] == "system:meters" and r.headers["Retry-After"]
    run = client.get(f"/api/runs/{body['run']}").json()
    assert run["status"] == "failed" and run["error_transient"] is True  # the failed run is still recorded
