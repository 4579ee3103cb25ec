"""Usage figures (calls per capability and department, reuse) and the one OpenAPI document of the catalog."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.capability.gateway_helpers import caller, publish_echo
from urbanbrain.capability import catalog
from urbanbrain.capability.base import BUILTINS, BuiltinSpec
from urbanbrain.web.app import create_app


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


def _builtin(name: str, owner: str, category: str) -> None:
    BUILTINS.add(name, BuiltinSpec(
        name=name, title_zh=name, title_en=name, description_zh="", description_en="", category=category,
        input_schema={"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        output_schema={"type": "object", "properties": {"answer": {"type": "string"}}},
        func=lambda p: {"answer": p["q"]}, owner=owner))
    assert catalog.publish_builtins([name])["published"] == [name]


def test_usage_counts_calls_and_reuse_by_departments_other_than_the_owner(client: TestClient) -> None:
    publish_echo()  # owned by bigdata
    own = caller("bureau-app", "bigdata")
    urban = caller("grid-app", "urban")
    police = caller("patrol-app", "police")
    refused = caller("health-app", "health", approve=False)
    for key, times in ((own.key, 2), (urban.key, 3), (police.key, 1), (refused.key, 4)):
        for _ in range(times):
            client.post("/capabilities/echo/v1/invoke", json={}, headers={"X-API-Key": key})
    stats = client.get("/api/usage").json()
    echo = next(c for c in stats["by_capability"] if c["capability"] == "echo")
    assert echo["calls"] == 10 and echo["errors"] == 4
    assert echo["consumer_departments"] == 3  # bigdata, urban, police: health was refused
    assert echo["reuse"] == 2  # urban and police; the owner's own calls are not reuse
    by_dept = {d["department"]: d["calls"] for d in stats["by_department"]}
    assert by_dept == {"bigdata": 2, "urban": 3, "police": 1, "health": 4}
    assert stats["total_calls"] == 10


def test_openapi_lists_every_published_capability_callable_with_a_key(client: TestClient) -> None:
    publish_echo()
    _builtin("test_geo", "bigdata", "spatial")
    catalog.register_capability(catalog.CapabilitySpec(name="draft_thing", owner="bigdata", kind="builtin",
                                                       implementation={"builtin": "echo"}))
    doc = client.get("/capabilities/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["title"] and doc["info"]["version"]
    scheme = doc["components"]["securitySchemes"]["ApiKey"]
    assert scheme == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    published = [c for c in catalog.list_capabilities(status="published")]
    assert published and {c.path for c in published} == set(doc["paths"])
    assert "/capabilities/draft_thing/v1/invoke" not in doc["paths"]
    operation_ids = set()
    for cap in published:
        op = doc["paths"][cap.path]["post"]
        operation_ids.add(op["operationId"])
        assert op["security"] == [{"ApiKey": []}]
        assert op["requestBody"]["content"]["application/json"]["schema"] == cap.input_schema
        ok = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok["properties"]["data"] == cap.output_schema
        assert {"401", "403", "422", "429"} <= set(op["responses"])
        for response in op["responses"].values():
            ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
            if ref:
                assert ref.removeprefix("#/components/schemas/") in doc["components"]["schemas"]
    assert len(operation_ids) == len(published)  # unique, as OpenAPI requires
    # the documented path is the one that answers
    app = caller("geo-app", "urban", "test_geo")
    path = "/capabilities/test_geo/v1/invoke"
    assert client.post(path, json={"q": "岳麓"}, headers={"X-API-Key": app.key}).json()["data"] == {"answer": "岳麓"}


def test_catalog_api_filters_and_shows(client: TestClient) -> None:
    publish_echo()
    _builtin("test_geo", "bigdata", "spatial")
    names = [c["name"] for c in client.get("/api/capabilities", params={"category": "spatial"}).json()]
    assert names == ["test_geo"]
    assert [c["name"] for c in client.get("/api/capabilities", params={"search": "ECHO"}).json()] == ["echo"]
    assert client.get("/api/capabilities", params={"department": "police"}).json() == []
    shown = client.get("/api/capabilities/echo").json()
    assert shown["owner"] == "bigdata" and shown["status"] == "published" and shown["kind"] == "builtin"
    assert client.get("/api/capabilities/nope").status_code == 404
    deprecated = client.post("/api/capabilities/test_geo/deprecate", json={"department": "bigdata"}).json()
    assert deprecated["status"] == "deprecated"


def test_consumers_keys_and_grants_over_the_api(client: TestClient) -> None:
    publish_echo()
    client.post("/api/departments", json={"name": "Urban Management", "code": "urban"})
    assert client.post("/api/consumers", json={"name": "grid-app", "department": "urban"}).status_code == 201
    created = client.post("/api/consumers/grid-app/keys", json={"expires_days": 30}).json()
    key = created["key"]
    listed = client.get("/api/consumers/grid-app/keys").json()
    assert key not in str(listed) and listed[0]["prefix"] == key[:12]
    grant = client.post("/api/grants", json={"consumer": "grid-app", "capability": "echo", "per_minute": 5}).json()
    assert grant["status"] == "requested"
    wrong = client.post(f"/api/grants/{grant['id']}/approve", json={"department": "urban"})
    assert wrong.status_code == 403
    ok = client.post(f"/api/grants/{grant['id']}/approve", json={"department": "bigdata", "approver": "chen"})
    assert ok.json()["status"] == "approved" and ok.json()["decided_by"] == "chen"
    assert client.post("/capabilities/echo/v1/invoke", json={}, headers={"X-API-Key": key}).status_code == 200
    pending = client.get("/api/grants", params={"owner": "bigdata", "status": "approved"}).json()
    assert [g["id"] for g in pending] == [grant["id"]]
    refused = client.post(f"/api/grants/{grant['id']}/refuse", json={"reason": "ended"}).json()
    assert refused["status"] == "refused" and refused["reason"] == "ended"
    assert client.post("/capabilities/echo/v1/invoke", json={}, headers={"X-API-Key": key}).status_code == 403
    assert client.post(f"/api/keys/{listed[0]['id']}/revoke").json()["revoked_at"]
