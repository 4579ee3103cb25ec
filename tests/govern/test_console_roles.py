"""Governance in the console as each role meets it (issue 13): a button shows only to whom the server
allows it, another department asks for fields from the dataset page, a steward changes sharing levels
there, and the audit page reads as fields, not Python lists. Signed in as real users over HTTPS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.govern.city import BENEFITS, City
from urbanbrain.govern import classification as cls
from urbanbrain.govern import sharing, users
from urbanbrain.govern.pii import Proposal
from urbanbrain.govern.principals import ANALYST, STEWARD
from urbanbrain.web.app import create_app

PASSWORD = "correct horse battery"
CONFIRM = f"/datasets/{BENEFITS}/fields/benefit/confirm"
LEVEL = f"/datasets/{BENEFITS}/fields/amount/level"
REQUEST = f"/datasets/{BENEFITS}/sharing-request"


@pytest.fixture
def people(in_city: City) -> Iterator[City]:
    for name, role, dept in (("soc.steward", STEWARD, "social"), ("pol.analyst", ANALYST, "police")):
        users.add_user(name, PASSWORD, roles=[(role, dept)])
    cls.record_proposals(BENEFITS, [Proposal("benefit", "person_name", 0.8)])  # conditional, awaiting a steward
    yield in_city


def signed_in(name: str) -> TestClient:
    client = TestClient(create_app(), base_url="https://testserver", follow_redirects=False)
    client.__enter__()
    assert client.post("/login", data={"name": name, "password": PASSWORD, "next": "/"}).status_code == 303
    return client


def test_each_role_sees_only_the_actions_it_may_take(people: City) -> None:
    analyst, steward = signed_in("pol.analyst"), signed_in("soc.steward")
    try:
        page = analyst.get(f"/datasets/{BENEFITS}").text
        assert CONFIRM not in page and LEVEL not in page  # another department's proposals are not its to confirm
        assert REQUEST in page and 'value="benefit"' in page  # ... but it may ask for the conditional field
        assert analyst.post(CONFIRM).status_code == 403  # and the server agrees with the page

        own = steward.get(f"/datasets/{BENEFITS}").text
        assert CONFIRM in own and LEVEL in own and REQUEST not in own

        asked = analyst.post(REQUEST, data={"field": "benefit", "purpose": "家访核对 / home visits", "days": "7",
                                            "department": "police"})
        assert asked.status_code == 303 and asked.headers["location"] == "/sharing"
        grant = next(g for g in sharing.list_grants() if g.grantee_department == "police")
        assert grant.status == "requested" and grant.requested_fields == ["benefit"] and grant.duration_days == 7

        assert f"/sharing/{grant.id}/approve" not in analyst.get("/sharing").text  # the requester cannot decide
        assert f"/sharing/{grant.id}/approve" in steward.get("/sharing").text

        assert steward.post(LEVEL, data={"level": "closed"}).status_code == 303
        assert next(f for f in cls.get_classification(BENEFITS)[1] if f.column == "amount").level == "closed"
        assert analyst.post(LEVEL, data={"level": "open"}).status_code == 403

        audit = steward.get("/audit").text
        assert "['" not in audit and "benefit" in audit  # list details read as text, not Python reprs
    finally:
        analyst.__exit__(None, None, None)
        steward.__exit__(None, None, None)
