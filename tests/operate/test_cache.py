"""The catalogue/SLA snapshot: edits through the services are seen at once here and, through the
`operate` cache stamp, within seconds in another process; intake audit entries follow the case."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.operate.helpers import DISPATCHER, OPS_HEAD, T0, make_departments
from urbanbrain.govern import audit
from urbanbrain.meta.db import get_engine
from urbanbrain.operate import cache, catalogue, sla
from urbanbrain.operate.intake.base import channel, submit


def test_an_edit_in_another_process_is_seen_after_the_stamp_moves(monkeypatch: pytest.MonkeyPatch) -> None:
    make_departments()
    catalogue.set_rule(OPS_HEAD, "路灯", "urban")
    assert catalogue.lookup("路灯", "芙蓉区").department == "urban"  # type: ignore[union-attr]
    catalogue.set_rule(OPS_HEAD, "路灯", "housing")  # this process: seen at once
    assert catalogue.lookup("路灯", "芙蓉区").department == "housing"  # type: ignore[union-attr]
    monkeypatch.setattr(cache, "STAMP_SECONDS", 0.0)  # "within seconds" without sleeping in a test
    with get_engine().begin() as conn:  # another process's edit: the row and the stamp, not this cache
        conn.execute(text("UPDATE dispatch_rules SET department = 'urban' WHERE category = '路灯'"))
    assert catalogue.lookup("路灯", "芙蓉区").department == "housing"  # type: ignore[union-attr]  # cached
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE cache_stamps SET version = version + 1 WHERE name = 'operate'"))
    assert catalogue.lookup("路灯", "芙蓉区").department == "urban"  # type: ignore[union-attr]
    sla.set_policy(OPS_HEAD, "路灯", respond="1h", resolve="1d")
    assert sla.policy_for("路灯", "normal").respond_minutes == 60  # type: ignore[union-attr]


def test_intake_audit_entries_follow_the_committed_case() -> None:
    make_departments()
    catalogue.set_rule(OPS_HEAD, "路灯", "urban")
    case = submit(channel("form").to_report({"description": "路灯不亮", "category": "路灯",
                                             "lon": 112.98, "lat": 28.2}), DISPATCHER, now=T0)[0]
    assert case["status"] == "dispatched" and case["version"] == 2
    audit.flush()
    actions = [e.action for e in audit.list_entries(limit=50) if e.target == f"case:{case['id']}"]
    assert sorted(actions) == ["case.create", "case.dispatch"]
    assert audit.verify().ok
