"""The console's sharing page and PII confirmation, as the local operator (SYSTEM until login exists)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.govern.city import ANALYST_TRANSPORT, BENEFITS, RESIDENTS, City
from urbanbrain.govern import classification as cls
from urbanbrain.govern import sharing
from urbanbrain.govern.pii import Proposal
from urbanbrain.govern.query import run_query
from urbanbrain.web.app import create_app


@pytest.fixture
def client(in_city: City) -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


def test_approve_fewer_fields_and_refuse_from_the_console(client: TestClient, in_city: City) -> None:
    one = sharing.request_fields(RESIDENTS, ["name", "mobile"], "bus stop survey", 14, by=ANALYST_TRANSPORT)
    two = sharing.request_fields(RESIDENTS, ["name"], "curiosity", 14, by=ANALYST_TRANSPORT)
    listing = client.get("/sharing")
    assert listing.status_code == 200 and f"share-{one.id}" in listing.text and "bus stop survey" in listing.text
    r = client.post(f"/sharing/{one.id}/approve", data={"field": ["mobile"], "days": "3"}, follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"/sharing/{two.id}/refuse", data={"reason": "names are not needed"}, follow_redirects=False)
    assert r.status_code == 303
    decided = {g.id: g for g in sharing.list_grants(department="transport")}
    assert decided[one.id].status == "approved" and decided[one.id].approved_fields == ["mobile"]
    assert decided[two.id].status == "refused" and decided[two.id].reason == "names are not needed"
    history = client.get("/sharing").text
    assert "names are not needed" in history and "bus stop survey" in history
    seen = run_query(f"SELECT * FROM {RESIDENTS}", max_rows=1, principal=ANALYST_TRANSPORT).table.column_names
    assert "mobile" in seen and "name" not in seen


def test_a_steward_confirms_a_proposed_pii_type(client: TestClient, in_city: City) -> None:
    cls.record_proposals(BENEFITS, [])  # nothing new: benefits' `benefit` column has no proposal
    page = client.get(f"/datasets/{BENEFITS}")
    assert page.status_code == 200 and "resident_id" in page.text
    assert cls.record_proposals(BENEFITS, [Proposal("benefit", "person_name", 0.8)]) == ["benefit"]
    page = client.get(f"/datasets/{BENEFITS}")
    assert f"/datasets/{BENEFITS}/fields/benefit/confirm" in page.text
    r = client.post(f"/datasets/{BENEFITS}/fields/benefit/confirm", follow_redirects=False)
    assert r.status_code == 303
    field = next(f for f in cls.get_classification(BENEFITS)[1] if f.column == "benefit")
    assert field.status == "confirmed" and field.pii_type == "person_name"
