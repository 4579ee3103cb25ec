"""The grant lifecycle: request → approve fewer fields → use → expire; refuse with a reason; revoke."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.govern.city import ANALYST_POLICE, ANALYST_TRANSPORT, RESIDENTS, STEWARD_POLICE, City
from urbanbrain.core.clock import utcnow
from urbanbrain.core.errors import PermissionDeniedError, QueryError, ValidationError
from urbanbrain.govern import access, sharing
from urbanbrain.govern import classification as cls
from urbanbrain.govern.policy import policy_for
from urbanbrain.govern.principals import ANALYST, STEWARD, Principal
from urbanbrain.govern.query import run_query
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import DataGrant

Q = f"SELECT * FROM {RESIDENTS} ORDER BY id"


def _columns() -> list[str]:
    return run_query(Q, max_rows=1, principal=ANALYST_TRANSPORT).table.column_names


@pytest.fixture
def reads() -> Iterator[list[tuple[Any, ...]]]:
    seen: list[tuple[Any, ...]] = []

    def listen(*args: Any) -> None:
        seen.append(args)

    access.READ_LISTENERS.append(listen)
    yield seen
    access.READ_LISTENERS.remove(listen)


def test_request_approve_fewer_use_and_expire(in_city: City, reads: list[tuple[Any, ...]],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert "mobile" not in _columns() and "name" not in _columns()
    req = sharing.request_fields(RESIDENTS, ["name", "mobile"], "notify residents of road works", 30,
                                 by=ANALYST_TRANSPORT)
    assert req.status == "requested" and req.grantee_department == "transport" and req.owner == "police"
    assert "mobile" not in _columns()  # nothing is visible before a decision

    with pytest.raises(PermissionDeniedError):  # the requester cannot approve its own request
        sharing.approve(req.id, by=ANALYST_TRANSPORT)
    with pytest.raises(PermissionDeniedError):  # nor can a non-steward of the owner
        sharing.approve(req.id, by=ANALYST_POLICE)
    with pytest.raises(ValidationError):  # never more than was asked
        sharing.approve(req.id, by=STEWARD_POLICE, fields=["mobile", "age"])

    grant = sharing.approve(req.id, by=STEWARD_POLICE, fields=["mobile"], days=7)
    assert grant.status == "approved" and grant.approved_fields == ["mobile"]
    assert grant.expires_at is not None and timedelta(days=6) < grant.expires_at - utcnow() <= timedelta(days=7)

    rows = run_query(Q, principal=ANALYST_TRANSPORT).table
    assert "mobile" in rows.column_names and "name" not in rows.column_names
    # PII under a grant that did not ask for it in clear is still masked: 138****0001
    assert rows.column("mobile").to_pylist()[1] == "138****0001"
    assert reads[-1][1] == RESIDENTS and reads[-1][5] == grant.id and "mobile" in reads[-1][4]

    expires = grant.expires_at
    for module in ("policy", "sharing"):  # time passes: the cached decision must not outlive the grant
        monkeypatch.setattr(f"urbanbrain.govern.{module}.utcnow", lambda: expires + timedelta(seconds=1))
    assert "mobile" not in _columns()
    assert sharing.list_grants(dataset=RESIDENTS, department="transport")[0].status == "expired"
    assert policy_for(ANALYST_TRANSPORT, RESIDENTS).grant_ids == ()


def test_a_purpose_that_needs_values_in_clear_gets_them(in_city: City) -> None:
    req = sharing.request_fields(RESIDENTS, ["name"], "home visits to elderly residents", 10,
                                 by=ANALYST_TRANSPORT, unmasked=True)
    sharing.approve(req.id, by=STEWARD_POLICE)
    names = run_query(Q, principal=ANALYST_TRANSPORT).table.column("name").to_pylist()
    assert names == in_city.names
    sharing.revoke(req.id, "the visits are over", by=STEWARD_POLICE)
    assert "name" not in _columns()


def test_refuse_with_a_reason(in_city: City) -> None:
    req = sharing.request_fields(RESIDENTS, ["name"], "curiosity", 30, by=ANALYST_TRANSPORT)
    with pytest.raises(ValidationError):
        sharing.refuse(req.id, "  ", by=STEWARD_POLICE)
    refused = sharing.refuse(req.id, "the purpose does not need names", by=STEWARD_POLICE)
    assert refused.status == "refused" and refused.reason == "the purpose does not need names"
    assert refused.decided_by == STEWARD_POLICE.label
    with pytest.raises(ValidationError):  # a decision is final
        sharing.approve(req.id, by=STEWARD_POLICE)
    assert "name" not in _columns()
    both_sides = {g.id for g in sharing.list_grants(department="police")}
    assert req.id in both_sides and req.id in {g.id for g in sharing.list_grants(department="transport")}


@pytest.mark.parametrize(("fields", "message"), [(["id_number"], "closed"), (["nope"], "unknown"), ([], "unknown")])
def test_requests_that_cannot_be_granted_are_refused_up_front(in_city: City, fields: list[str], message: str
                                                              ) -> None:
    with pytest.raises(ValidationError, match=message):
        sharing.request_fields(RESIDENTS, fields, "x", 30, by=ANALYST_TRANSPORT)


def test_the_owner_does_not_request_its_own_data(in_city: City) -> None:
    with pytest.raises(ValidationError, match="owns"):
        sharing.request_fields(RESIDENTS, ["name"], "x", 30, by=ANALYST_POLICE)
    assert "id_number" in run_query(Q, max_rows=1, principal=ANALYST_POLICE).table.column_names


def test_a_grant_never_opens_a_closed_field(in_city: City) -> None:
    req = sharing.request_fields(RESIDENTS, ["mobile"], "x", 5, by=ANALYST_TRANSPORT)
    sharing.approve(req.id, by=STEWARD_POLICE)
    with session_scope() as s:  # even if the grant row were edited to name it
        s.get(DataGrant, req.id).approved_fields = ["mobile", "id_number"]
    with pytest.raises(QueryError, match="id_number"):
        run_query(f"SELECT id_number FROM {RESIDENTS}", principal=ANALYST_TRANSPORT)


def test_a_role_counts_only_in_its_own_department(in_city: City) -> None:
    """A steward of transport who is an analyst of police may not decide on police's data."""
    mixed = Principal("user", "mo", frozenset({"police", "transport"}), frozenset({STEWARD, ANALYST}),
                      frozenset({(STEWARD, "transport"), (ANALYST, "police")}))
    req = sharing.request_fields(RESIDENTS, ["mobile"], "route planning", 5, by=ANALYST_TRANSPORT)
    with pytest.raises(PermissionDeniedError):
        sharing.approve(req.id, by=mixed)
    with pytest.raises(PermissionDeniedError):
        cls.set_field(RESIDENTS, "mobile", level="open", by=mixed)
    assert sharing.approve(req.id, by=STEWARD_POLICE).status == "approved"
