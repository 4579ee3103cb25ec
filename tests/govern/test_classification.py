"""Classification: proposals on sync, never lowering a level, steward-only changes, row filters, CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.govern.city import ANALYST_POLICE, ANALYST_TRANSPORT, BENEFITS, RESIDENTS, STEWARD_POLICE, City
from urbanbrain.cli.main import app
from urbanbrain.core.errors import PermissionDeniedError, UrbanBrainError, ValidationError
from urbanbrain.govern import classification as cls
from urbanbrain.govern.pii import Proposal
from urbanbrain.govern.policy import policy_for
from urbanbrain.govern.query import run_query

runner = CliRunner()


def _fields(name: str) -> dict[str, cls.FieldInfo]:
    return {f.column: f for f in cls.get_classification(name)[1]}


def test_sync_proposed_pii_types_for_new_columns(in_city: City) -> None:
    fields = _fields(RESIDENTS)
    assert fields["id_number"].proposed_pii_type == "resident_id" and fields["id_number"].proposed_confidence == 1.0
    assert fields["mobile"].proposed_pii_type == "mobile"
    assert fields["name"].proposed_pii_type == "person_name"
    assert fields["address"].proposed_pii_type == "address"
    assert fields["age"].proposed_pii_type is None and fields["district"].proposed_pii_type is None
    assert _fields(BENEFITS)["id_number"].proposed_pii_type == "resident_id"


def test_a_proposal_raises_an_open_default_but_never_lowers(in_city: City) -> None:
    cls.set_default_level(RESIDENTS, "closed")
    try:
        # `district` is unclassified: a (wrong) proposal for it keeps the stricter default
        assert cls.record_proposals(RESIDENTS, [Proposal("district", "address", 0.9)]) == ["district"]
        assert _fields(RESIDENTS)["district"].level == "closed"
        # a steward's confirmed field is left alone by later proposals
        assert cls.record_proposals(RESIDENTS, [Proposal("address", "person_name", 0.9)]) == []
        assert _fields(RESIDENTS)["address"].pii_type == "address"
    finally:
        cls.set_default_level(RESIDENTS, "open")
        cls.set_field(RESIDENTS, "district", level="open", clear_pii=True)
    assert "district" in run_query(f"SELECT * FROM {RESIDENTS}", max_rows=1,
                                   principal=ANALYST_TRANSPORT).table.column_names


def test_only_the_owners_stewards_classify(in_city: City) -> None:
    with pytest.raises(PermissionDeniedError):
        cls.set_field(RESIDENTS, "age", level="closed", by=ANALYST_TRANSPORT)
    with pytest.raises(PermissionDeniedError):
        cls.set_field(RESIDENTS, "age", level="closed", by=ANALYST_POLICE)
    with pytest.raises(ValidationError):
        cls.set_field(RESIDENTS, "age", level="secret", by=STEWARD_POLICE)
    info = cls.set_field(RESIDENTS, "age", level="conditional", by=STEWARD_POLICE)
    assert info.level == "conditional" and info.status == "confirmed"
    assert "age" in policy_for(ANALYST_TRANSPORT, RESIDENTS).hidden
    cls.set_field(RESIDENTS, "age", level="open", by=STEWARD_POLICE)


def test_a_row_filter_limits_another_departments_rows(in_city: City) -> None:
    cls.set_row_filter(RESIDENTS, "transport", "district = '岳麓区'", by=STEWARD_POLICE)
    try:
        rows = run_query(f"SELECT district, count(*) AS n FROM {RESIDENTS} GROUP BY 1",
                         principal=ANALYST_TRANSPORT).table.to_pylist()
        assert rows == [{"district": "岳麓区", "n": 50}]
        # the owner is not filtered
        assert run_query(f"SELECT count(*) AS n FROM {RESIDENTS}", principal=ANALYST_POLICE).table.to_pylist() \
            == [{"n": 200}]
        # an error oracle cannot see rows outside the filter: their columns are NULL even before the filter
        oracle = (f"SELECT id FROM {RESIDENTS} WHERE CASE WHEN district = '天心区' "
                  f"THEN error('leak ' || age) END IS NULL")
        assert len(run_query(oracle, principal=ANALYST_TRANSPORT).table) == 50
    finally:
        cls.set_row_filter(RESIDENTS, "transport", None, by=STEWARD_POLICE)


@pytest.mark.parametrize("predicate", ["1=1) UNION SELECT * FROM x --", "id IN (SELECT 1)", "a; DROP TABLE x"])
def test_row_filters_are_one_condition(in_city: City, predicate: str) -> None:
    with pytest.raises(UrbanBrainError, match=r"row filter|parse"):
        cls.set_row_filter(RESIDENTS, "transport", predicate, by=STEWARD_POLICE)


def test_cli_classify_and_share_round_trip(in_city: City) -> None:
    shown = runner.invoke(app, ["classify", "show", RESIDENTS, "-f", "json"])
    assert shown.exit_code == 0, shown.output
    levels = {r["column"]: r["level"] for r in json.loads(shown.stdout)}
    assert levels["id_number"] == "closed" and levels["mobile"] == "conditional"

    asked = runner.invoke(app, ["share", "request", RESIDENTS, "--fields", "mobile,name", "--purpose", "road works",
                                "--days", "3", "--as", "analyst@transport"])
    assert asked.exit_code == 0, asked.output
    grant_id = asked.stdout.split("requested ")[1].split(";")[0].strip()
    denied = runner.invoke(app, ["share", "approve", grant_id, "--as", "analyst@transport"])
    assert denied.exit_code == 1
    ok = runner.invoke(app, ["share", "approve", grant_id, "--fields", "mobile", "--as", "steward@police"])
    assert ok.exit_code == 0, ok.output
    seen = runner.invoke(app, ["sql", f"SELECT mobile FROM {RESIDENTS} ORDER BY id LIMIT 2", "-f", "json",
                               "--as", "analyst@transport"])
    assert json.loads(seen.stdout) == [{"mobile": "138****0000"}, {"mobile": "138****0001"}]
    listed = runner.invoke(app, ["share", "list", "--dept", "police", "-f", "json"])
    assert any(r["id"] == grant_id and r["status"] == "approved" for r in json.loads(listed.stdout))
    assert runner.invoke(app, ["share", "revoke", grant_id, "--reason", "done"]).exit_code == 0
    preview = runner.invoke(app, ["dataset", "preview", RESIDENTS, "-f", "json", "--as", "analyst@transport"])
    assert "mobile" not in json.loads(preview.stdout)[0]
    assert "138" in runner.invoke(app, ["dataset", "preview", RESIDENTS, "-f", "json"]).stdout  # local: SYSTEM
