"""Data APIs over a real synced dataset: generated lookups, owner approval, bound parameters, paging."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.capability.gateway_helpers import caller
from tests.sync.helpers import register
from urbanbrain.capability import catalog
from urbanbrain.capability.catalog import CapabilitySpec
from urbanbrain.capability.lookups import generate_lookup_api
from urbanbrain.core.errors import PermissionDeniedError, QueryError, ReadOnlyViolationError, ValidationError
from urbanbrain.sync.runner import run_sync
from urbanbrain.web.app import create_app

DATASET = "market.enterprise_registry.enterprises"
PATH = "/capabilities/enterprise_by_credit_code/v1/invoke"


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    db = tmp_path / "registry.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE enterprises (id INTEGER PRIMARY KEY, credit_code TEXT, name TEXT, district TEXT)")
    rows = [(i, f"91430100MA4L{i:06d}", f"长沙企业{i}", "岳麓区" if i % 2 else "天心区") for i in range(1, 301)]
    conn.executemany("INSERT INTO enterprises VALUES (?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    register("enterprise-registry", "sqlite", {"url": f"sqlite:///{db}"}, dept="market")
    assert run_sync("enterprise-registry").status == "succeeded"
    return db


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


@pytest.fixture
def lookup(lake: Path) -> str:
    cap = generate_lookup_api(DATASET, "credit_code", name="enterprise_by_credit_code")
    assert cap.status == "draft" and cap.owner == "market"
    return cap.name


def test_a_generated_lookup_is_published_only_when_its_owner_approves(client: TestClient, lookup: str) -> None:
    with pytest.raises(ValidationError):  # no grants for drafts
        caller("early-app", "tax", lookup)
    with pytest.raises(PermissionDeniedError):
        catalog.approve_capability(lookup, department="tax")
    cap = catalog.approve_capability(lookup, approver="market steward", department="market")
    assert cap.status == "published" and cap.approved_by == "market steward"
    app = caller("tax-app", "tax", lookup)
    r = client.post(PATH, json={"credit_code": "91430100MA4L000007"}, headers={"X-API-Key": app.key})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rows"] == 1 and body["truncated"] is False
    assert body["data"] == [{"id": 7, "credit_code": "91430100MA4L000007", "name": "长沙企业7", "district": "岳麓区"}]


HOSTILE = ["x' OR 1=1 --", "1; DROP TABLE enterprises", "91430100MA4L000007' OR '1'='1", "$credit_code", "%",
           "' UNION SELECT * FROM market.enterprise_registry.enterprises --"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_parameters_are_values_and_return_nothing_extra(client: TestClient, lookup: str, value: str) -> None:
    catalog.approve_capability(lookup, department="market")
    app = caller("tax-app", "tax", lookup)
    r = client.post(PATH, json={"credit_code": value}, headers={"X-API-Key": app.key})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == [] and r.json()["rows"] == 0
    again = client.post(PATH, json={"credit_code": "91430100MA4L000300"}, headers={"X-API-Key": app.key})
    assert again.json()["rows"] == 1  # the table is still there


def _district_api(max_rows: int = 50) -> None:
    catalog.register_capability(CapabilitySpec(
        name="enterprises_in_district", owner="market", kind="data_api",
        input_schema={"type": "object", "properties": {"district": {"type": "string"}}, "required": ["district"]},
        output_schema={"type": "array"},
        implementation={"sql": f"SELECT id, name FROM {DATASET} WHERE district = $district ORDER BY id",
                        "max_rows": max_rows, "default_rows": 10}))
    catalog.approve_capability("enterprises_in_district", department="market")


def test_paging_with_limit_and_offset_clamped_to_the_maximum(client: TestClient, lake: Path) -> None:
    _district_api(max_rows=50)
    app = caller("stats-app", "stats", "enterprises_in_district")
    path = "/capabilities/enterprises_in_district/v1/invoke"

    def page(**params: Any) -> Any:
        r = client.post(path, json={"district": "天心区", **params}, headers={"X-API-Key": app.key})
        assert r.status_code == 200, r.text
        return r.json()

    first = page()
    assert first["rows"] == 10 and first["truncated"] is True
    assert [row["id"] for row in first["data"]] == list(range(2, 22, 2))
    second = page(limit=10, offset=10)
    assert [row["id"] for row in second["data"]] == list(range(22, 42, 2))
    big = page(limit=100_000)
    assert big["rows"] == 50 and big["truncated"] is True  # clamped to max_rows
    last = page(limit=50, offset=140)
    assert last["rows"] == 10 and last["truncated"] is False
    bad = client.post(path, json={"district": "天心区", "limit": 0}, headers={"X-API-Key": app.key})
    assert bad.status_code == 422 and bad.json()["parameter"] == "limit"


@pytest.mark.parametrize(("sql", "error"), [
    ("SELECT * FROM market.enterprise_registry.enterprises WHERE name = $name", ValidationError),  # undeclared
    ("SELECT * FROM market.enterprise_registry.enterprises WHERE district = ?", ValidationError),  # positional
    ("DELETE FROM market.enterprise_registry.enterprises WHERE district = $district", ReadOnlyViolationError),
    ("SELECT * FROM market.nothing.here WHERE district = $district", QueryError),
    ("SELECT no_such_column FROM market.enterprise_registry.enterprises WHERE district = $district", QueryError),
    ("SELECT * FROM read_csv('/etc/passwd') WHERE district = $district", QueryError),
    ("SELEC oops", QueryError),
    ("SELECT * FROM market.enterprise_registry.enterprises LIMIT $limit", ValidationError),  # reserved
])
def test_templates_are_checked_at_publish(lake: Path, sql: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        catalog.register_capability(CapabilitySpec(
            name="bad_api", owner="market", kind="data_api",
            input_schema={"type": "object", "properties": {"district": {"type": "string"}}},
            implementation={"sql": sql}))
    assert not [c for c in catalog.list_capabilities() if c.name == "bad_api"]
