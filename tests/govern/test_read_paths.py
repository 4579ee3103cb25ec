"""Every read path goes through the policy: HTTP needs a principal, data APIs read as their consumer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.capability.gateway_helpers import caller
from tests.govern.city import RESIDENTS, City
from urbanbrain.capability import catalog
from urbanbrain.capability.catalog import CapabilitySpec
from urbanbrain.core.errors import PermissionDeniedError
from urbanbrain.govern.context import current_caller
from urbanbrain.web.app import create_app


@pytest.fixture
def client(in_city: City) -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


def test_local_requests_read_as_the_platform(client: TestClient, in_city: City) -> None:
    r = client.post("/api/sql", json={"sql": f"SELECT id_number FROM {RESIDENTS} ORDER BY id LIMIT 1"})
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == [[in_city.ids[0]]]


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", "/api/sql", {"sql": f"SELECT * FROM {RESIDENTS}"}),
    ("post", "/api/sql", {"sql": f"SELECT * FROM {RESIDENTS}", "format": "csv"}),
    ("get", f"/api/datasets/{RESIDENTS}/preview", None),
    ("get", f"/datasets/{RESIDENTS}", None),
    ("get", f"/sql/download?q=SELECT%20*%20FROM%20{RESIDENTS}", None),
])
def test_remote_requests_without_credentials_are_refused(in_city: City, method: str, path: str,
                                                         body: dict[str, str] | None) -> None:
    with TestClient(create_app(), client=("203.0.113.9", 50000), follow_redirects=False) as remote:
        r = remote.request(method, path, json=body)
    if path.startswith("/api/"):
        assert r.status_code == 401, r.text
    else:  # a browser page sends the visitor to sign in, and nothing else
        assert r.status_code == 303, r.text
        assert r.headers["location"].startswith("/login?next=")
    assert in_city.ids[0] not in r.text and in_city.addresses[0] not in r.text


def test_a_data_api_reads_as_its_consumer(client: TestClient, in_city: City) -> None:
    catalog.register_capability(CapabilitySpec(
        name="residents_in_district", owner="police", kind="data_api",
        input_schema={"type": "object", "properties": {"district": {"type": "string"}}, "required": ["district"]},
        output_schema={"type": "array"},
        implementation={"sql": f"SELECT id, name, address FROM {RESIDENTS} WHERE district = $district ORDER BY id"}))
    catalog.approve_capability("residents_in_district", department="police")
    app = caller("bus-app", "transport", "residents_in_district")
    r = client.post("/capabilities/residents_in_district/v1/invoke", json={"district": "岳麓区", "limit": 2},
                    headers={"X-API-Key": app.key})
    assert r.status_code == 200, r.text
    # the capability grant counts as a grant of the conditional `name`; published fields come in clear
    assert r.json()["data"][0] == {"id": 0, "name": in_city.names[0], "address": in_city.addresses[0]}


def test_a_data_api_over_a_closed_field_fails_for_other_departments(client: TestClient, in_city: City) -> None:
    catalog.register_capability(CapabilitySpec(
        name="resident_ids", owner="police", kind="data_api",
        input_schema={"type": "object", "properties": {}}, output_schema={"type": "array"},
        implementation={"sql": f"SELECT id, id_number FROM {RESIDENTS} ORDER BY id"}))
    catalog.approve_capability("resident_ids", department="police")
    app = caller("tax-app", "tax", "resident_ids")
    r = client.post("/capabilities/resident_ids/v1/invoke", json={}, headers={"X-API-Key": app.key})
    assert r.status_code == 400 and in_city.ids[0] not in r.text
    own = caller("police-app", "police", "resident_ids")
    r = client.post("/capabilities/resident_ids/v1/invoke", json={"limit": 1}, headers={"X-API-Key": own.key})
    assert r.status_code == 200 and r.json()["data"][0]["id_number"] == in_city.ids[0]


def test_without_a_caller_a_data_read_is_refused() -> None:
    with pytest.raises(PermissionDeniedError):
        current_caller()
